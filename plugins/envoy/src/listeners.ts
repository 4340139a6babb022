/**
 * LDS: `outbound-listener` (15001), `inbound-listener` (15003) and `inbound-prometheus-listener` (15010).
 */
import { TypeUrl, apexSplit, meshSettings, upstreamSetting, type DerivationSpec, type EncodedResource, type Reader, type UpstreamTrafficSetting, type envoy } from '@weft/core';
import { normalizeCidrText } from './cidr.js';
import { TLS_PARAMS } from './clusters.js';
import { inboundPorts } from './mesh.js';
import {
  INBOUND_LISTENER,
  INBOUND_PORT,
  MESH_ALPN,
  METRICS_CLUSTER,
  NETWORK_RBAC_STAT_PREFIX,
  OUTBOUND_LISTENER,
  OUTBOUND_PORT,
  PASSTHROUGH_CLUSTER,
  PROMETHEUS_LISTENER,
  PROMETHEUS_PORT,
  ROOT_CERT_INBOUND,
  egressClusterName,
  localClusterName,
  rdsEgress,
  rdsInbound,
  rdsIngress,
  rdsOutbound,
  serviceCertName,
  serviceFqdn,
  splitKey,
  upstreamClusterName,
} from './names.js';
import { authenticated, egressPlan, inboundTargets, ingressRules, isHttp, outboundPlan, type OutboundEntry } from './plan.js';
import { ADS_SOURCE, T, durationMs, encode, filter, hashResource, u32 } from './proto.js';

type Listener = envoy.config.listener.v3.Listener;
type FilterChain = envoy.config.listener.v3.FilterChain;
type Filter = envoy.config.listener.v3.Filter;
type HttpFilter = envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
type TcpProxy = envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
type CidrRange = envoy.config.core.v3.CidrRange;
type TransportSocket = envoy.config.core.v3.TransportSocket;
import { RATE_LIMIT_FILTER, RBAC_FILTER } from './routes.js';

const HCM = 'envoy.filters.network.http_connection_manager';
const TCP_PROXY = 'envoy.filters.network.tcp_proxy';

function router(): HttpFilter {
  return filter('envoy.filters.http.router', T.Router, {});
}

function hcm(statPrefix: string, rds: string, httpFilters: HttpFilter[]): Filter {
  return filter(HCM, T.HCM, {
    statPrefix,
    codecType: 'AUTO',
    rds: { configSource: ADS_SOURCE, routeConfigName: rds },
    httpFilters: [...httpFilters, router()],
  });
}

function tcpProxy(statPrefix: string, target: TcpProxy): Filter {
  return filter(TCP_PROXY, T.TcpProxy, { statPrefix, ...target });
}

function prefix(ip: string): CidrRange {
  return { addressPrefix: ip, prefixLen: u32(ip.includes(':') ? 128 : 32) };
}

function cidrRange(value: string): CidrRange {
  const [ip = value, len] = value.split('/');
  return { addressPrefix: ip, prefixLen: u32(len === undefined ? (ip.includes(':') ? 128 : 32) : Number(len)) };
}

/**
 * Addresses a client dials for a service: its ClusterIP, or for a headless service its endpoints. Keeping
 * endpoints out when there is a ClusterIP means an endpoint change does not touch listeners.
 */
export function serviceAddresses(svcKey: string): DerivationSpec<readonly string[]> {
  return {
    id: `envoy/service-addresses/${svcKey}`,
    compute(r) {
      const svc = r.get('Service', svcKey);
      if (svc === undefined) return [];
      if (svc.clusterIP !== null && svc.clusterIP !== '' && svc.clusterIP !== 'None') return [svc.clusterIP];
      const ips = new Set<string>();
      for (const subset of r.get('Endpoints', svcKey)?.subsets ?? []) for (const a of subset.addresses) ips.add(a.ip);
      return [...ips].sort();
    },
  };
}

const addressKey = (port: number, cidr: string): string => `${port} ${cidr}`;

/** An outbound plan entry with the destination addresses its filter chain matches. */
export interface OutboundChain {
  readonly entry: OutboundEntry;
  readonly ips: readonly string[];
}

/**
 * Envoy tells outbound destinations apart by destination port and address, never by service name, and
 * refuses a listener in which two chains match the same port and address. Services with a ClusterIP never
 * share one; headless services do whenever they select the same pods (a TrafficSplit's apex and its
 * backends, two services over one deployment). So every port + address is given to one entry, its owner,
 * and an entry left with no address gets no chain:
 *
 * - TCP before HTTP: two services declaring different protocols for one pod port cannot both be honoured,
 *   and tcp_proxy carries HTTP too where an HTTP parser would break any other protocol;
 * - then a split apex before other services: a TCP chain cannot see which name the client dialled, so the
 *   split (weighted clusters) applies to every connection to its pods;
 * - then the first service by namespace/name.
 *
 * For HTTP the owner only names the chain: every HTTP chain on a port runs the same `rds-outbound.<port>`,
 * whose virtual hosts pick the service by Host, so a client dialling a split backend by name still reaches
 * it. Chains keep the plan's order.
 */
export function outboundChains(r: Reader, plan: readonly OutboundEntry[]): OutboundChain[] {
  const rank = (e: OutboundEntry): number => (isHttp(e.protocol) ? 2 : 0) + (e.backends.length > 0 ? 0 : 1);
  const precedes = (a: OutboundEntry, b: OutboundEntry): boolean => rank(a) < rank(b) || (rank(a) === rank(b) && a.svc < b.svc);
  const owners = new Map<string, OutboundEntry>();
  const claims = plan.map((entry) => ({ entry, ips: r.derive(serviceAddresses(entry.svc)) }));
  for (const { entry, ips } of claims) {
    for (const ip of ips) {
      const key = addressKey(entry.port, normalizeCidrText(ip));
      const owner = owners.get(key);
      if (owner === undefined || precedes(entry, owner)) owners.set(key, entry);
    }
  }
  return claims
    .map(({ entry, ips }) => ({ entry, ips: ips.filter((ip) => owners.get(addressKey(entry.port, normalizeCidrText(ip))) === entry) }))
    // No address to match: a chain without prefix ranges would capture every connection to the port.
    .filter((c) => c.ips.length > 0);
}

function tcpTarget(r: Reader, e: OutboundEntry): TcpProxy {
  const own = upstreamClusterName(...splitKey(e.svc), e.targetPort);
  if (e.backends.length === 0) return { cluster: own };
  const weights = new Map((r.derive(apexSplit(e.svc))?.backends ?? []).map((b) => [b.service, b.weight]));
  const clusters = e.backends
    .filter((b) => (weights.get(b.svc) ?? 0) > 0)
    // TcpProxy's ClusterWeight.weight is a plain uint32 (not a wrapper, unlike the route's weighted clusters).
    .map((b): envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight => ({ name: upstreamClusterName(...splitKey(b.svc), b.targetPort), weight: weights.get(b.svc) ?? 0 }));
  return clusters.length === 0 ? { cluster: own } : { weightedClusters: { clusters } };
}

const originalDst = (): envoy.config.listener.v3.ListenerFilter => filter('envoy.filters.listener.original_dst', T.OriginalDst, {});
const tlsInspector = (): envoy.config.listener.v3.ListenerFilter => filter('envoy.filters.listener.tls_inspector', T.TlsInspector, {});

function listener(name: string, port: number, direction: envoy.config.core.v3.TrafficDirection, extra: Listener): Listener {
  return { name, address: { socketAddress: { address: '0.0.0.0', portValue: port } }, trafficDirection: direction, ...extra };
}

/** The outbound listener of a calling identity; omitted when it would have nothing to match. */
export function outboundListener(caller: string): DerivationSpec<EncodedResource | null> {
  return {
    id: `envoy/listener/outbound@${caller}`,
    hash: hashResource,
    compute(r) {
      const chains: FilterChain[] = [];
      const owned = outboundChains(r, r.derive(outboundPlan(caller)));
      for (const { entry: e, ips } of owned) {
        const proto = isHttp(e.protocol) ? 'http' : 'tcp';
        const filter = isHttp(e.protocol)
          ? hcm(`mesh-http-conn-manager.${rdsOutbound(e.port)}`, rdsOutbound(e.port), [])
          : tcpProxy(`outbound-mesh-tcp-proxy.${e.svc}|${e.port}`, tcpTarget(r, e));
        chains.push({
          name: `outbound_${e.svc}_${e.port}_${proto}`,
          filterChainMatch: { destinationPort: u32(e.port), prefixRanges: ips.map(prefix) },
          filters: [filter],
        });
      }
      const meshAddresses = new Set(owned.flatMap(({ entry, ips }) => ips.map((ip) => addressKey(entry.port, normalizeCidrText(ip)))));
      const egress = r.derive(egressPlan(caller));
      for (const h of egress.http) {
        chains.push({
          name: `outbound-egress-http.${h.port}`,
          filterChainMatch: { destinationPort: u32(h.port) },
          filters: [hcm(`egress-http-conn-manager.${rdsEgress(h.port)}`, rdsEgress(h.port), [])],
        });
      }
      for (const s of egress.sni) {
        chains.push({
          name: `outbound-egress-sni.${s.host}:${s.port}`,
          filterChainMatch: { destinationPort: u32(s.port), serverNames: [s.host], transportProtocol: 'tls' },
          filters: [tcpProxy(`egress-tcp-proxy.${s.host}:${s.port}`, { cluster: egressClusterName(s.host, s.port) })],
        });
      }
      for (const c of egress.cidr) {
        // One chain per range as Envoy keys it: a range written twice, or a mesh address (whose mesh chain
        // keeps it, mTLS included), would put two chains on one match.
        const ranges = new Map<string, string>();
        for (const cidr of c.cidrs) {
          const key = normalizeCidrText(cidr);
          if (!ranges.has(key) && !meshAddresses.has(addressKey(c.port, key))) ranges.set(key, cidr);
        }
        if (ranges.size === 0) continue;
        chains.push({
          name: `outbound-egress-cidr.${c.port}`,
          filterChainMatch: { destinationPort: u32(c.port), prefixRanges: [...ranges.values()].map(cidrRange) },
          filters: [tcpProxy(`egress-tcp-proxy.cidr.${c.port}`, { cluster: PASSTHROUGH_CLUSTER })],
        });
      }
      if (chains.length === 0 && !egress.passthrough) return null;
      const extra: Listener = {
        listenerFilters: egress.sni.length > 0 ? [originalDst(), tlsInspector()] : [originalDst()],
        filterChains: chains,
      };
      if (egress.passthrough) {
        extra.defaultFilterChain = { name: 'outbound-egress-filter-chain', filters: [tcpProxy('egress-passthrough', { cluster: PASSTHROUGH_CLUSTER })] };
      }
      return encode(TypeUrl.Listener, OUTBOUND_LISTENER, listener(OUTBOUND_LISTENER, OUTBOUND_PORT, 'OUTBOUND', extra));
    },
  };
}

function downstreamTls(identity: string, requireClientCert: boolean, validate: boolean, alpn: boolean): TransportSocket {
  const [ns, sa] = splitKey(identity);
  const common: envoy.extensions.transport_sockets.tls.v3.CommonTlsContext = {
    tlsParams: TLS_PARAMS,
    tlsCertificateSdsSecretConfigs: [{ name: serviceCertName(ns, sa), sdsConfig: ADS_SOURCE }],
  };
  if (alpn) common.alpnProtocols = [MESH_ALPN];
  if (validate) common.validationContextSdsSecretConfig = { name: ROOT_CERT_INBOUND, sdsConfig: ADS_SOURCE };
  return filter('envoy.transport_sockets.tls', T.DownstreamTls, { commonTlsContext: common, requireClientCertificate: { value: requireClientCert } });
}

const UNIT_MS = { second: 1000, minute: 60_000, hour: 3_600_000 } as const;

function tcpRateLimit(svcKey: string, setting: UpstreamTrafficSetting | null): Filter | undefined {
  const limit = setting?.rateLimit?.tcp ?? null;
  if (limit === null) return undefined;
  return filter('envoy.filters.network.local_ratelimit', T.NetworkLocalRateLimit, {
    statPrefix: `inbound_${svcKey}_tcp`,
    tokenBucket: { maxTokens: limit.connections + limit.burst, tokensPerFill: u32(limit.connections), fillInterval: durationMs(UNIT_MS[limit.unit]) },
  });
}

/**
 * The inbound listener of a workload: mTLS with its identity, one filter chain per service target port
 * (SNI = service FQDN, ALPN "osm"), network RBAC from TrafficTargets, plus IngressBackend chains.
 */
export function inboundListener(identity: string, services: readonly string[]): DerivationSpec<EncodedResource | null> {
  return {
    id: `envoy/listener/inbound@${identity}#${services.join(',')}`,
    hash: hashResource,
    compute(r) {
      const { permissive } = r.derive(meshSettings);
      const targets = permissive ? null : r.derive(inboundTargets(identity));
      const chains: FilterChain[] = [];
      for (const svcKey of services) {
        const [ns, svc] = splitKey(svcKey);
        const setting = r.derive(upstreamSetting(svcKey));
        for (const p of inboundPorts(r, svcKey)) {
          const http = isHttp(p.protocol);
          const filters: Filter[] = [];
          if (targets !== null) {
            const policies: Record<string, envoy.config.rbac.v3.Policy> = {};
            for (const t of targets) {
              const ports = http ? (t.http ? null : undefined) : t.tcpPorts === null ? null : t.tcpPorts.includes(p.targetPort) || t.tcpPorts.includes(p.port) ? null : undefined;
              if (ports === undefined || t.principals.length === 0) continue;
              policies[t.name] = { permissions: [{ any: true }], principals: t.principals.map(authenticated) };
            }
            const rules: envoy.config.rbac.v3.RBAC = { action: 'ALLOW' };
            if (Object.keys(policies).length > 0) rules.policies = policies;
            filters.push(filter('envoy.filters.network.rbac', T.NetworkRbac, { statPrefix: NETWORK_RBAC_STAT_PREFIX, rules }));
          }
          const tcpLimit = tcpRateLimit(svcKey, setting);
          if (tcpLimit !== undefined) filters.push(tcpLimit);
          if (http) {
            const httpFilters: HttpFilter[] = [];
            if (targets !== null) httpFilters.push(filter(RBAC_FILTER, T.HttpRbac, {}));
            const routeLimits = setting !== null && (setting.rateLimit?.http != null || setting.httpRoutes.some((h) => h.rateLimit !== null));
            if (routeLimits) httpFilters.push(filter(RATE_LIMIT_FILTER, T.HttpLocalRateLimit, { statPrefix: `inbound_${svcKey}_http` }));
            filters.push(hcm(`mesh-http-conn-manager.${rdsInbound(p.targetPort)}`, rdsInbound(p.targetPort), httpFilters));
          } else {
            filters.push(tcpProxy(`inbound-mesh-tcp-proxy.${svcKey}|${p.targetPort}`, { cluster: localClusterName(ns, svc, p.targetPort) }));
          }
          chains.push({
            name: `inbound_${svcKey}_${p.targetPort}_${http ? 'http' : 'tcp'}`,
            filterChainMatch: {
              destinationPort: u32(p.targetPort),
              serverNames: [serviceFqdn(ns, svc)],
              transportProtocol: 'tls',
              applicationProtocols: [MESH_ALPN],
            },
            transportSocket: downstreamTls(identity, true, true, true),
            filters,
          });
        }
      }
      chains.push(...ingressChains(r, identity, services));
      if (chains.length === 0) return null;
      return encode(
        TypeUrl.Listener,
        INBOUND_LISTENER,
        listener(INBOUND_LISTENER, INBOUND_PORT, 'INBOUND', { listenerFilters: [tlsInspector(), originalDst()], filterChains: chains }),
      );
    },
  };
}

function ingressChains(r: Reader, identity: string, services: readonly string[]): FilterChain[] {
  const ports = new Map<number, { tls: { skipClientCertValidation: boolean; sniHosts: readonly string[] } | null; protocol: string }>();
  for (const svcKey of services) for (const rule of r.derive(ingressRules(svcKey))) if (!ports.has(rule.port)) ports.set(rule.port, rule);
  return [...ports.entries()]
    .sort(([a], [b]) => a - b)
    .map(([port, rule]) => {
      const match: envoy.config.listener.v3.FilterChainMatch = { destinationPort: u32(port), transportProtocol: rule.tls === null ? 'raw_buffer' : 'tls' };
      if (rule.tls !== null && rule.tls.sniHosts.length > 0) match.serverNames = [...rule.tls.sniHosts];
      const chain: FilterChain = {
        name: `ingress_${identity}_${port}_${rule.protocol}`,
        filterChainMatch: match,
        filters: [hcm(`ingress-http-conn-manager.${rdsIngress(port)}`, rdsIngress(port), [filter(RBAC_FILTER, T.HttpRbac, {})])],
      };
      if (rule.tls !== null) {
        const verify = !rule.tls.skipClientCertValidation;
        chain.transportSocket = downstreamTls(identity, verify, verify, false);
      }
      return chain;
    });
}

/** Prometheus scraping of Envoy's own stats through a listener the pod exposes. */
export const prometheusListener: DerivationSpec<EncodedResource | null> = {
  id: 'envoy/listener/prometheus',
  hash: hashResource,
  compute() {
    const manager = filter(HCM, T.HCM, {
      statPrefix: 'prometheus-http-conn-manager',
      codecType: 'AUTO',
      routeConfig: {
        name: 'prometheus-route-config',
        virtualHosts: [
          {
            name: 'prometheus-vhost',
            domains: ['*'],
            routes: [{ match: { prefix: '/stats/prometheus' }, route: { cluster: METRICS_CLUSTER, prefixRewrite: '/stats/prometheus' } }],
          },
        ],
      },
      httpFilters: [router()],
    });
    return encode(TypeUrl.Listener, PROMETHEUS_LISTENER, listener(PROMETHEUS_LISTENER, PROMETHEUS_PORT, 'INBOUND', { filterChains: [{ filters: [manager] }] }));
  },
};
