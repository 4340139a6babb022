/**
 * OSM's own kinds: policy.openservicemesh.io/v1alpha1 Egress, IngressBackend, Retry, UpstreamTrafficSetting
 * and config.openservicemesh.io/v1alpha2 MeshConfig. Field names (and their quirks) are OSM v1.2's.
 */
import { DEFAULT_TRUST_DOMAIN } from './types.js';
import type {
  Egress,
  IdentityRef,
  IngressBackend,
  IngressBackendTarget,
  IngressSource,
  LocalHttpRateLimit,
  LocalTcpRateLimit,
  MeshConfig,
  Meta,
  PortSpec,
  Retry,
  UpstreamTrafficSetting,
} from './types.js';
import {
  child,
  describe,
  eachOf,
  Issues,
  Obj,
  readBool,
  readCidr,
  readDuration,
  readInt,
  readList,
  readObj,
  readOneOf,
  readPort,
  readStr,
  readUint32,
} from './fields.js';
import { readIdentityRef, readStringList } from './kinds-smi.js';

const lower = (s: string): string => s.toLowerCase();

export const EGRESS_PROTOCOLS: readonly string[] = ['http', 'https', 'tcp', 'tcp-server-first'];
export const INGRESS_PROTOCOLS: readonly string[] = ['http', 'https'];
export const SMI_SPECS_GROUP = 'specs.smi-spec.io/v1alpha4';
export const OSM_POLICY_GROUP = 'policy.openservicemesh.io/v1alpha1';

/** Envoy's retry_on conditions (HTTP and gRPC); a typo here would silently disable retries. */
export const RETRY_ON_CONDITIONS: readonly string[] = [
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'envoy-ratelimited',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
];

export const ENVOY_LOG_LEVELS: readonly string[] = [
  'trace',
  'debug',
  'info',
  'warn',
  'warning',
  'error',
  'critical',
  'off',
];

function readPortSpec(is: Issues, value: unknown, path: string, protocols: readonly string[]): PortSpec | undefined {
  const p = readObj(is, value, path, { required: true });
  if (p === undefined) return undefined;
  const number = readPort(is, p.number, child(path, 'number'), { required: true });
  const protocol = readOneOf(is, p.protocol, child(path, 'protocol'), protocols, { required: true, normalize: lower });
  if (number === undefined || protocol === undefined) return undefined;
  return { number, protocol };
}

export function normalizeEgress(is: Issues, doc: Obj, meta: Meta): Egress | undefined {
  const spec = readObj(is, doc.spec, 'spec', { required: true });
  if (spec === undefined) return undefined;
  const sources: IdentityRef[] = [];
  for (const [raw, path] of eachOf(readList(is, spec.sources, 'spec.sources', { nonEmpty: true }), 'spec.sources')) {
    const ref = readIdentityRef(is, raw, path, meta.namespace);
    if (ref !== undefined) sources.push(ref);
  }
  const hosts = readStringList(is, spec.hosts, 'spec.hosts');
  const ipAddresses: string[] = [];
  for (const [raw, path] of eachOf(readList(is, spec.ipAddresses, 'spec.ipAddresses'), 'spec.ipAddresses')) {
    const cidr = readCidr(is, raw, path, { required: true });
    if (cidr !== undefined) ipAddresses.push(cidr);
  }
  const ports: PortSpec[] = [];
  for (const [raw, path] of eachOf(readList(is, spec.ports, 'spec.ports', { nonEmpty: true }), 'spec.ports')) {
    const port = readPortSpec(is, raw, path, EGRESS_PROTOCOLS);
    if (port !== undefined) ports.push(port);
  }
  const matches: string[] = [];
  let upstreamTrafficSetting: string | null = null;
  for (const [raw, path] of eachOf(readList(is, spec.matches, 'spec.matches'), 'spec.matches')) {
    const m = readObj(is, raw, path, { required: true });
    if (m === undefined) continue;
    const group = readOneOf(is, m.apiGroup, child(path, 'apiGroup'), [SMI_SPECS_GROUP, OSM_POLICY_GROUP], {
      required: true,
    });
    const name = readStr(is, m.name, child(path, 'name'), { required: true });
    if (group === SMI_SPECS_GROUP) {
      const kind = readOneOf(is, m.kind, child(path, 'kind'), ['HTTPRouteGroup'], { required: true });
      if (kind !== undefined && name !== undefined) matches.push(name);
    } else if (group === OSM_POLICY_GROUP) {
      const kind = readOneOf(is, m.kind, child(path, 'kind'), ['UpstreamTrafficSetting'], { required: true });
      if (kind !== undefined && name !== undefined) {
        if (upstreamTrafficSetting !== null) {
          is.add(path, 'must not be a second UpstreamTrafficSetting match (an Egress takes at most one)');
        }
        upstreamTrafficSetting = name;
      }
    }
  }
  return { meta, sources, hosts, ipAddresses, ports, matches, upstreamTrafficSetting };
}

export function normalizeIngressBackend(is: Issues, doc: Obj, meta: Meta): IngressBackend | undefined {
  const spec = readObj(is, doc.spec, 'spec', { required: true });
  if (spec === undefined) return undefined;
  const backends: IngressBackendTarget[] = [];
  const seen = new Set<string>();
  for (const [raw, path] of eachOf(readList(is, spec.backends, 'spec.backends', { nonEmpty: true }), 'spec.backends')) {
    const b = readObj(is, raw, path, { required: true });
    if (b === undefined) continue;
    const name = readStr(is, b.name, child(path, 'name'), { required: true });
    const port = readPortSpec(is, b.port, child(path, 'port'), INGRESS_PROTOCOLS);
    const tlsObj = readObj(is, b.tls, child(path, 'tls'));
    const tls =
      tlsObj === undefined
        ? null
        : {
            skipClientCertValidation:
              readBool(is, tlsObj.skipClientCertValidation, child(path, 'tls.skipClientCertValidation')) ?? false,
            sniHosts: readStringList(is, tlsObj.sniHosts, child(path, 'tls.sniHosts')),
          };
    if (name === undefined || port === undefined) continue;
    const id = `${name}:${port.number}`;
    if (seen.has(id)) is.add(path, `must not repeat backend ${name} port ${port.number}`);
    seen.add(id);
    backends.push({ name, port, tls });
  }
  const sources: IngressSource[] = [];
  const kinds = ['Service', 'IPRange', 'AuthenticatedPrincipal'] as const;
  for (const [raw, path] of eachOf(readList(is, spec.sources, 'spec.sources', { nonEmpty: true }), 'spec.sources')) {
    const s = readObj(is, raw, path, { required: true });
    if (s === undefined) continue;
    const kind = readOneOf(is, s.kind, child(path, 'kind'), kinds, { required: true });
    if (kind === 'IPRange') {
      const cidr = readCidr(is, s.name, child(path, 'name'), { required: true });
      if (cidr !== undefined) sources.push({ kind, name: cidr, namespace: null });
    } else if (kind === 'Service') {
      const name = readStr(is, s.name, child(path, 'name'), { required: true });
      const namespace = readStr(is, s.namespace, child(path, 'namespace'), { required: true });
      if (name !== undefined && namespace !== undefined) sources.push({ kind, name, namespace });
    } else if (kind === 'AuthenticatedPrincipal') {
      const name = readStr(is, s.name, child(path, 'name'), { required: true });
      if (name !== undefined) sources.push({ kind, name, namespace: null });
    }
  }
  return { meta, backends, sources };
}

export function normalizeRetry(is: Issues, doc: Obj, meta: Meta): Retry | undefined {
  const spec = readObj(is, doc.spec, 'spec', { required: true });
  if (spec === undefined) return undefined;
  const source = readIdentityRef(is, spec.source, 'spec.source', meta.namespace);
  const destinations: { kind: 'Service'; name: string; namespace: string }[] = [];
  const dPath = 'spec.destinations';
  for (const [raw, path] of eachOf(readList(is, spec.destinations, dPath, { nonEmpty: true }), dPath)) {
    const d = readObj(is, raw, path, { required: true });
    if (d === undefined) continue;
    const kind = readOneOf(is, d.kind, child(path, 'kind'), ['Service'] as const, { required: true });
    const name = readStr(is, d.name, child(path, 'name'), { required: true });
    const namespace = readStr(is, d.namespace, child(path, 'namespace')) || meta.namespace;
    if (kind !== undefined && name !== undefined) destinations.push({ kind, name, namespace });
  }
  const rp = readObj(is, spec.retryPolicy, 'spec.retryPolicy', { required: true });
  let retryOn = '';
  if (rp !== undefined) {
    retryOn = readStr(is, rp.retryOn, 'spec.retryPolicy.retryOn', { required: true }) ?? '';
    const conditions = retryOn
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const unknown = conditions.filter((c) => !RETRY_ON_CONDITIONS.includes(c));
    if (unknown.length > 0) {
      is.add(
        'spec.retryPolicy.retryOn',
        `must be comma-separated Envoy retry conditions (${RETRY_ON_CONDITIONS.join(', ')}), got ${describe(unknown.join(','))}`,
      );
    }
    retryOn = conditions.join(',');
  }
  // The CRD names the field retryBackoffBaseInterval; OSM's Go type reads retryBackoffInterval. Take either.
  const backoffField = rp?.retryBackoffBaseInterval !== undefined ? 'retryBackoffBaseInterval' : 'retryBackoffInterval';
  const retryPolicy = {
    retryOn,
    perTryTimeoutMs: readDuration(is, rp?.perTryTimeout, 'spec.retryPolicy.perTryTimeout') ?? null,
    numRetries: readUint32(is, rp?.numRetries, 'spec.retryPolicy.numRetries') ?? null,
    retryBackoffBaseIntervalMs: readDuration(is, rp?.[backoffField], `spec.retryPolicy.${backoffField}`) ?? null,
  };
  if (source === undefined || rp === undefined) return undefined;
  return { meta, source, destinations, retryPolicy };
}

const RATE_UNITS = ['second', 'minute', 'hour'] as const;

function readLocalTcp(is: Issues, value: unknown, path: string): LocalTcpRateLimit | null {
  const o = readObj(is, value, path);
  if (o === undefined) return null;
  const connections = readUint32(is, o.connections, child(path, 'connections'), { required: true });
  const unit = readOneOf(is, o.unit, child(path, 'unit'), RATE_UNITS, { required: true });
  const burst = readUint32(is, o.burst, child(path, 'burst')) ?? 0;
  if (connections === undefined || unit === undefined) return null;
  return { connections, unit, burst };
}

function readLocalHttp(is: Issues, value: unknown, path: string): LocalHttpRateLimit | null {
  const o = readObj(is, value, path);
  if (o === undefined) return null;
  const requests = readUint32(is, o.requests, child(path, 'requests'), { required: true });
  const unit = readOneOf(is, o.unit, child(path, 'unit'), RATE_UNITS, { required: true });
  const burst = readUint32(is, o.burst, child(path, 'burst')) ?? 0;
  // 0 is what the Go type holds when the field is omitted, so it means the default too.
  const code = readInt(is, o.responseStatusCode, child(path, 'responseStatusCode'), { min: 0, max: 599 }) ?? 0;
  if (code !== 0 && code < 400) {
    is.add(child(path, 'responseStatusCode'), `must be an HTTP error status between 400 and 599, got ${code}`);
  }
  const responseHeadersToAdd: { name: string; value: string }[] = [];
  const hPath = child(path, 'responseHeadersToAdd');
  for (const [raw, p] of eachOf(readList(is, o.responseHeadersToAdd, hPath), hPath)) {
    const h = readObj(is, raw, p, { required: true });
    if (h === undefined) continue;
    const name = readStr(is, h.name, child(p, 'name'), { required: true });
    const v = readStr(is, h.value, child(p, 'value'), { required: true });
    if (name !== undefined && v !== undefined) responseHeadersToAdd.push({ name, value: v });
  }
  if (requests === undefined || unit === undefined) return null;
  return { requests, unit, burst, responseStatusCode: code === 0 ? 429 : code, responseHeadersToAdd };
}

export function normalizeUpstreamTrafficSetting(
  is: Issues,
  doc: Obj,
  meta: Meta,
  trustDomain = DEFAULT_TRUST_DOMAIN,
): UpstreamTrafficSetting | undefined {
  const spec = readObj(is, doc.spec, 'spec', { required: true });
  if (spec === undefined) return undefined;
  const rawHost = readStr(is, spec.host, 'spec.host', { required: true });
  // OSM's type: a bare service name means that service in the setting's own namespace.
  const host =
    rawHost === undefined ? undefined : rawHost.includes('.') ? rawHost : `${rawHost}.${meta.namespace}.svc.${trustDomain}`;

  const cs = readObj(is, spec.connectionSettings, 'spec.connectionSettings');
  let connectionSettings: UpstreamTrafficSetting['connectionSettings'] = null;
  if (cs !== undefined) {
    const tcp = readObj(is, cs.tcp, 'spec.connectionSettings.tcp');
    const http = readObj(is, cs.http, 'spec.connectionSettings.http');
    const h = 'spec.connectionSettings.http';
    connectionSettings = {
      tcp:
        tcp === undefined
          ? null
          : {
              maxConnections: readUint32(is, tcp.maxConnections, 'spec.connectionSettings.tcp.maxConnections') ?? null,
              connectTimeoutMs: readDuration(is, tcp.connectTimeout, 'spec.connectionSettings.tcp.connectTimeout') ?? null,
            },
      http:
        http === undefined
          ? null
          : {
              maxRequests: readUint32(is, http.maxRequests, `${h}.maxRequests`) ?? null,
              maxPendingRequests: readUint32(is, http.maxPendingRequests, `${h}.maxPendingRequests`) ?? null,
              maxRetries: readUint32(is, http.maxRetries, `${h}.maxRetries`) ?? null,
              maxRequestsPerConnection:
                readUint32(is, http.maxRequestsPerConnection, `${h}.maxRequestsPerConnection`) ?? null,
            },
    };
  }

  // Only local rate limits are read; `rateLimit.global` (an external rate limit service) is not supported.
  const rl = readObj(is, spec.rateLimit, 'spec.rateLimit');
  let rateLimit: UpstreamTrafficSetting['rateLimit'] = null;
  if (rl !== undefined) {
    const local = readObj(is, rl.local, 'spec.rateLimit.local');
    rateLimit = {
      tcp: readLocalTcp(is, local?.tcp, 'spec.rateLimit.local.tcp'),
      http: readLocalHttp(is, local?.http, 'spec.rateLimit.local.http'),
    };
  }

  const httpRoutes: { path: string; rateLimit: LocalHttpRateLimit | null }[] = [];
  for (const [raw, p] of eachOf(readList(is, spec.httpRoutes, 'spec.httpRoutes'), 'spec.httpRoutes')) {
    const r = readObj(is, raw, p, { required: true });
    if (r === undefined) continue;
    const path = readStr(is, r.path, child(p, 'path'), { required: true });
    const routeRl = readObj(is, r.rateLimit, child(p, 'rateLimit'));
    const limit = readLocalHttp(is, routeRl?.local, child(p, 'rateLimit.local'));
    if (path !== undefined) httpRoutes.push({ path, rateLimit: limit });
  }
  if (host === undefined) return undefined;
  return { meta, host, connectionSettings, rateLimit, httpRoutes };
}

/** OSM's MeshConfig defaults for the fields Weft reads (the Helm chart's values). */
export const MESH_CONFIG_DEFAULTS = {
  serviceCertValidity: '24h',
  sidecarLogLevel: 'error',
} as const;

export function normalizeMeshConfig(is: Issues, doc: Obj, meta: Meta): MeshConfig {
  const spec = readObj(is, doc.spec, 'spec') ?? {};
  const traffic = readObj(is, spec.traffic, 'spec.traffic') ?? {};
  const certificate = readObj(is, spec.certificate, 'spec.certificate') ?? {};
  const sidecar = readObj(is, spec.sidecar, 'spec.sidecar') ?? {};
  const t = 'spec.traffic';
  const portList = (value: unknown, path: string): number[] => {
    const out: number[] = [];
    for (const [raw, p] of eachOf(readList(is, value, path), path)) {
      const port = readPort(is, raw, p, { required: true });
      if (port !== undefined) out.push(port);
    }
    return out;
  };
  const outboundIPRangeExclusionList: string[] = [];
  const ipPath = `${t}.outboundIPRangeExclusionList`;
  for (const [raw, p] of eachOf(readList(is, traffic.outboundIPRangeExclusionList, ipPath), ipPath)) {
    const cidr = readCidr(is, raw, p, { required: true });
    if (cidr !== undefined) outboundIPRangeExclusionList.push(cidr);
  }
  const validityPath = 'spec.certificate.serviceCertValidityDuration';
  const validity =
    readDuration(is, certificate.serviceCertValidityDuration, validityPath) ??
    (readDuration(is, MESH_CONFIG_DEFAULTS.serviceCertValidity, validityPath) as number);
  if (validity === 0) is.add(validityPath, 'must be longer than 0s');
  const logLevel =
    readOneOf(is, sidecar.logLevel, 'spec.sidecar.logLevel', ENVOY_LOG_LEVELS, { normalize: lower }) ??
    MESH_CONFIG_DEFAULTS.sidecarLogLevel;
  // Not an OSM v1.2 MeshConfig field (OSM fixed the trust domain); Weft reads it when given.
  const trustDomain = readStr(is, certificate.trustDomain, 'spec.certificate.trustDomain') || DEFAULT_TRUST_DOMAIN;
  return {
    meta,
    traffic: {
      enablePermissiveTrafficPolicyMode:
        readBool(is, traffic.enablePermissiveTrafficPolicyMode, `${t}.enablePermissiveTrafficPolicyMode`) ?? false,
      enableEgress: readBool(is, traffic.enableEgress, `${t}.enableEgress`) ?? false,
      outboundPortExclusionList: portList(traffic.outboundPortExclusionList, `${t}.outboundPortExclusionList`),
      inboundPortExclusionList: portList(traffic.inboundPortExclusionList, `${t}.inboundPortExclusionList`),
      outboundIPRangeExclusionList,
    },
    certificate: { serviceCertValidityMs: validity },
    sidecar: { logLevel },
    trustDomain,
  };
}
