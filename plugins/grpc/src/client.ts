/**
 * Client side: what an xDS-enabled gRPC channel (`xds:///<svc>.<ns>[:<port>]`) resolves. An API listener per
 * target with an HttpConnectionManager that fetches its routes over ADS (router filter last), a route
 * configuration per service port (TrafficSplit -> weighted clusters, limited to HTTPRouteGroup matches when
 * the split names some; Retry -> retry policy in gRPC status codes), an EDS cluster per service port
 * (circuit breaking from UpstreamTrafficSetting, mTLS through certificate provider instances) and its load
 * assignment with weighted localities.
 *
 * Every client gets the names of every mesh service: authorization is the server's job (RBAC from
 * TrafficTargets), so a call the policy forbids ends with PERMISSION_DENIED rather than an unresolvable
 * name. Only the route configuration can depend on the caller (its Retry policy), so callers without a
 * Retry share every resource.
 */
import { TypeUrl, apexSplit, identitiesBehind, meshSettings, upstreamSetting, type DerivationSpec, type EncodedResource, type HTTPMatch, type Reader, type Retry, type envoy } from '@weft/core';
import { grpcPorts } from './mesh.js';
import { clientListenerNames, clientRouteName, clusterName, ROUTER_FILTER_NAME, spiffeIdOf } from './names.js';
import { ADS, T, anyOf, durationMs, encode, filter, hashResource, u32 } from './proto.js';

type RouteAction = envoy.config.route.v3.RouteAction;

export interface ClientOptions {
  /** Add UpstreamTlsContext (certificate provider instances) to clusters. */
  readonly mtls: boolean;
  readonly certProvider: string;
}

/** Status codes a gRPC client retries on; anything else in a Retry's retryOn cannot be expressed. */
export const GRPC_RETRY_CODES: readonly string[] = ['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable'];

export function splitRetryOn(retryOn: string): { codes: string[]; unsupported: string[] } {
  const codes: string[] = [];
  const unsupported: string[] = [];
  for (const token of retryOn.split(',').map((t) => t.trim()).filter((t) => t !== '')) {
    (GRPC_RETRY_CODES.includes(token) ? codes : unsupported).push(token);
  }
  return { codes, unsupported };
}

export function apiListener(name: string, routeName: string): envoy.config.listener.v3.Listener {
  const hcm: envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager = {
    statPrefix: name,
    rds: { configSource: ADS, routeConfigName: routeName },
    httpFilters: [filter(ROUTER_FILTER_NAME, T.Router, {})],
  };
  return { name, apiListener: { apiListener: anyOf(T.HCM, hcm) } };
}

/** The listeners of one service: one per gRPC port, plus the bare name for the first port. */
export function clientListeners(svcKey: string): DerivationSpec<readonly EncodedResource[]> {
  return {
    id: `grpc/lds/client/${svcKey}`,
    hash: (list) => list.map(hashResource).join(','),
    compute(r) {
      const out: EncodedResource[] = [];
      r.derive(grpcPorts(svcKey)).forEach((p, i) => {
        for (const name of clientListenerNames(svcKey, p.port, i === 0)) {
          out.push(encode(TypeUrl.Listener, name, apiListener(name, clientRouteName(svcKey, p.port))));
        }
      });
      return out;
    },
  };
}

/** The backend port a split sends an apex port's traffic to: same number, or the backend's only port. */
export function backendPort(r: Reader, backend: string, port: number): number | null {
  const ports = r.derive(grpcPorts(backend));
  const same = ports.find((p) => p.port === port);
  if (same !== undefined) return same.port;
  return ports.length === 1 ? (ports[0]?.port ?? null) : null;
}

function retryPolicy(retry: Retry | null): envoy.config.route.v3.RetryPolicy | undefined {
  if (retry === null) return undefined;
  const { codes } = splitRetryOn(retry.retryPolicy.retryOn);
  if (codes.length === 0) return undefined;
  const p = retry.retryPolicy;
  const policy: envoy.config.route.v3.RetryPolicy = { retryOn: codes.join(',') };
  if (p.numRetries !== null && p.numRetries > 0) policy.numRetries = u32(p.numRetries);
  if (p.retryBackoffBaseIntervalMs !== null && p.retryBackoffBaseIntervalMs > 0) policy.retryBackOff = { baseInterval: durationMs(p.retryBackoffBaseIntervalMs) };
  return policy;
}

export function routeMatch(m: Pick<HTTPMatch, 'pathRegex' | 'headers'>): envoy.config.route.v3.RouteMatch {
  const match: envoy.config.route.v3.RouteMatch = m.pathRegex === null ? { prefix: '' } : { safeRegex: { regex: m.pathRegex } };
  const headers = Object.entries(m.headers)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, regex]): envoy.config.route.v3.HeaderMatcher => ({ name, stringMatch: { safeRegex: { regex } } }));
  if (headers.length > 0) match.headers = headers;
  return match;
}

function acceptsPost(m: HTTPMatch): boolean {
  return m.methods.length === 0 || m.methods.includes('*') || m.methods.includes('POST');
}

/**
 * The route configuration of a service port. `retry` is the key of the Retry that applies to the caller
 * (null: none), so the derivation is shared by every caller with the same Retry.
 */
export function clientRoutes(svcKey: string, port: number, retryKey: string | null): DerivationSpec<EncodedResource | null> {
  return {
    id: `grpc/rds/client/${svcKey}|${port}@${retryKey ?? '-'}`,
    hash: hashResource,
    compute(r) {
      if (!r.derive(grpcPorts(svcKey)).some((p) => p.port === port)) return null;
      const retry = retryKey === null ? null : (r.get('Retry', retryKey) ?? null);
      const own: RouteAction = { cluster: clusterName(svcKey, port) };
      const plan = r.derive(apexSplit(svcKey));
      let split: RouteAction | null = null;
      if (plan !== null) {
        const clusters: envoy.config.route.v3.WeightedCluster.ClusterWeight[] = [];
        for (const b of plan.backends) {
          const bp = backendPort(r, b.service, port);
          if (bp === null || b.weight <= 0) continue;
          clusters.push({ name: clusterName(b.service, bp), weight: u32(b.weight) });
        }
        if (clusters.length > 0) split = { weightedClusters: { clusters } };
      }
      const policy = retryPolicy(retry);
      const action = (target: RouteAction): RouteAction => (policy === undefined ? { ...target } : { ...target, retryPolicy: policy });
      const routes: envoy.config.route.v3.Route[] = [];
      if (split !== null && plan !== null && plan.matches.length > 0) {
        for (const groupKey of plan.matches) {
          const group = r.get('HTTPRouteGroup', groupKey);
          for (const m of group?.matches ?? []) {
            if (!acceptsPost(m)) continue;
            routes.push({ name: `split:${groupKey}/${m.name}`, match: routeMatch(m), route: action(split) });
          }
        }
        routes.push({ name: 'default', match: { prefix: '' }, route: action(own) });
      } else {
        routes.push({ name: 'default', match: { prefix: '' }, route: action(split ?? own) });
      }
      const name = clientRouteName(svcKey, port);
      return encode(TypeUrl.RouteConfiguration, name, { name, virtualHosts: [{ name: svcKey, domains: ['*'], routes }] });
    },
  };
}

export function upstreamTls(certProvider: string, sans: readonly string[]): envoy.config.core.v3.TransportSocket {
  const validationContext: envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext = { caCertificateProviderInstance: { instanceName: certProvider } };
  if (sans.length > 0) validationContext.matchSubjectAltNames = sans.map((exact): envoy.type.matcher.v3.StringMatcher => ({ exact }));
  return {
    name: 'envoy.transport_sockets.tls',
    typedConfig: anyOf(T.UpstreamTls, { commonTlsContext: { tlsCertificateProviderInstance: { instanceName: certProvider }, validationContext } }),
  };
}

export function clientCluster(svcKey: string, port: number, options: ClientOptions): DerivationSpec<EncodedResource | null> {
  return {
    id: `grpc/cds/${svcKey}|${port}${options.mtls ? `#mtls:${options.certProvider}` : ''}`,
    hash: hashResource,
    compute(r) {
      if (!r.derive(grpcPorts(svcKey)).some((p) => p.port === port)) return null;
      const name = clusterName(svcKey, port);
      const cluster: envoy.config.cluster.v3.Cluster = { name, type: 'EDS', edsClusterConfig: { edsConfig: ADS, serviceName: name }, lbPolicy: 'ROUND_ROBIN' };
      const maxRequests = r.derive(upstreamSetting(svcKey))?.connectionSettings?.http?.maxRequests ?? null;
      if (maxRequests !== null) cluster.circuitBreakers = { thresholds: [{ priority: 'DEFAULT', maxRequests: u32(maxRequests) }] };
      if (options.mtls) {
        const { trustDomain } = r.derive(meshSettings);
        cluster.transportSocket = upstreamTls(options.certProvider, r.derive(identitiesBehind(svcKey)).map((id) => spiffeIdOf(id, trustDomain)));
      }
      return encode(TypeUrl.Cluster, name, cluster);
    },
  };
}

const ZONE_LABEL = 'topology.kubernetes.io/zone';
const REGION_LABEL = 'topology.kubernetes.io/region';

/**
 * Endpoints of a service port, grouped by locality (the workloads' topology labels). gRPC drops a locality
 * without load_balancing_weight, so each gets one: its number of endpoints, which keeps traffic per endpoint
 * even across localities of different sizes.
 */
export function loadAssignment(svcKey: string, port: number): DerivationSpec<EncodedResource | null> {
  return {
    id: `grpc/eds/${svcKey}|${port}`,
    hash: hashResource,
    compute(r) {
      const ports = r.derive(grpcPorts(svcKey));
      const sp = ports.find((p) => p.port === port);
      if (sp === undefined) return null;
      const byLocality = new Map<string, { region: string; zone: string; addrs: Map<string, { ip: string; port: number }> }>();
      for (const subset of r.get('Endpoints', svcKey)?.subsets ?? []) {
        const ep = subset.ports.find((p) => p.name === sp.name) ?? (subset.ports.length === 1 && ports.length === 1 ? subset.ports[0] : undefined);
        if (ep === undefined || ep.protocol !== 'TCP') continue;
        for (const a of subset.addresses) {
          const w = a.workload === null ? undefined : r.get('Workload', a.workload);
          const region = w?.meta.labels[REGION_LABEL] ?? '';
          const zone = w?.meta.labels[ZONE_LABEL] ?? '';
          const lk = `${region}/${zone}`;
          const loc = byLocality.get(lk) ?? { region, zone, addrs: new Map() };
          loc.addrs.set(`${a.ip}|${ep.port}`, { ip: a.ip, port: ep.port });
          byLocality.set(lk, loc);
        }
      }
      const endpoints = [...byLocality.keys()].sort().map((lk): envoy.config.endpoint.v3.LocalityLbEndpoints => {
        const loc = byLocality.get(lk) as { region: string; zone: string; addrs: Map<string, { ip: string; port: number }> };
        const lbEndpoints = [...loc.addrs.keys()].sort().map((k): envoy.config.endpoint.v3.LbEndpoint => {
          const a = loc.addrs.get(k) as { ip: string; port: number };
          return { endpoint: { address: { socketAddress: { address: a.ip, portValue: a.port } } }, loadBalancingWeight: u32(1) };
        });
        return { locality: { region: loc.region, zone: loc.zone }, lbEndpoints, loadBalancingWeight: u32(lbEndpoints.length) };
      });
      const name = clusterName(svcKey, port);
      return encode(TypeUrl.ClusterLoadAssignment, name, { clusterName: name, endpoints });
    },
  };
}
