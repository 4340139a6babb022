/**
 * The sidecar's health probe listeners, as OSM v1.2 puts them in the bootstrap. The injector points the
 * kubelet's httpGet probes at 15901 (liveness), 15902 (readiness) and 15903 (startup), path
 * `/osm-<type>-probe/<container>`, and leaves those ports out of the iptables redirection; these static
 * listeners answer there by forwarding to the container's original port and path on localhost, so a probe
 * works while the pod's inbound listener takes mTLS only. HTTPS probes (the kubelet does not check the
 * certificate) are passed through unopened by a TLS-matched TcpProxy chain, so only one per probe type can be
 * served. tcpSocket probes are not Envoy's: OSM's osm-healthcheck container answers them on 15904.
 *
 * Static because a pod's probes never change after it is created, and the listeners must serve before the
 * sidecar has fetched anything over ADS (a startup probe runs from the first second).
 */
import type { ContainerHealthProbes, HealthProbe, envoy } from '@weft/core';
import { T, jsonAnyOf, jsonFilter, type ProtoJson } from './proto.js';

// Bootstrap resources are read by Envoy as proto3 JSON (a Duration as "1s"), so typed in that form.
type Listener = ProtoJson<envoy.config.listener.v3.Listener>;
type FilterChain = ProtoJson<envoy.config.listener.v3.FilterChain>;
type Route = ProtoJson<envoy.config.route.v3.Route>;
type Cluster = ProtoJson<envoy.config.cluster.v3.Cluster>;

/** OSM's ports and paths (its pkg/constants); the injector writes the same values into the pod. */
export const PROBE_LISTENERS = [
  { type: 'liveness', port: 15901, path: '/osm-liveness-probe' },
  { type: 'readiness', port: 15902, path: '/osm-readiness-probe' },
  { type: 'startup', port: 15903, path: '/osm-startup-probe' },
] as const;

type ProbeType = (typeof PROBE_LISTENERS)[number]['type'];

/** OSM's names: `<container>_<type>_cluster`, `<type>_listener`. */
export function probeClusterName(container: string, type: ProbeType): string {
  return `${container}_${type}_cluster`;
}

function probeCluster(name: string, probe: HealthProbe): Cluster {
  return {
    name,
    type: 'STATIC',
    connectTimeout: '1s',
    lbPolicy: 'ROUND_ROBIN',
    loadAssignment: {
      clusterName: name,
      endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: probe.port } } } }] }],
    },
  };
}

function probeListener(type: ProbeType, port: number, pathPrefix: string, probes: readonly ContainerHealthProbes[]): Listener | undefined {
  const routes: Route[] = [];
  let httpsCluster: string | undefined;
  for (const c of probes) {
    const probe = c[type];
    if (probe === undefined || probe.kind === 'tcp') continue;
    const cluster = probeClusterName(c.container, type);
    if (probe.kind === 'https') {
      // TLS is not opened, so nothing tells two containers' HTTPS probes apart: the last one wins, as under OSM.
      httpsCluster = cluster;
      continue;
    }
    routes.push({
      // An exact path (OSM matches a prefix, so /osm-liveness-probe/web also caught .../web2's probe).
      match: { path: `${pathPrefix}/${c.container}` },
      route: { cluster, prefixRewrite: probe.path, timeout: `${Math.max(1, probe.timeoutSeconds)}s` },
    });
  }
  if (routes.length === 0 && httpsCluster === undefined) return undefined;
  const filterChains: FilterChain[] = [];
  if (httpsCluster !== undefined) {
    filterChains.push({
      filterChainMatch: { transportProtocol: 'tls' },
      filters: [jsonFilter('envoy.filters.network.tcp_proxy', T.TcpProxy, { statPrefix: 'health_probes_https', cluster: httpsCluster })],
    });
  }
  if (routes.length > 0) {
    filterChains.push({
      filters: [
        jsonFilter('envoy.filters.network.http_connection_manager', T.HCM, {
          statPrefix: 'health_probes_http',
          codecType: 'AUTO',
          routeConfig: { name: 'local_route', virtualHosts: [{ name: 'local_service', domains: ['*'], routes }] },
          httpFilters: [jsonFilter('envoy.filters.http.router', T.Router, {})],
        }),
      ],
    });
  }
  return {
    name: `${type}_listener`,
    address: { socketAddress: { address: '0.0.0.0', portValue: port } },
    // Tells HTTPS probes (TLS) from HTTP ones on the same port.
    listenerFilters: [{ name: 'envoy.filters.listener.tls_inspector', typedConfig: jsonAnyOf(T.TlsInspector, {}) }],
    filterChains,
  };
}

/** The static listeners and clusters serving a pod's rewritten probes (none when it has no HTTP/HTTPS probe). */
export function probeResources(probes: readonly ContainerHealthProbes[]): { listeners: Listener[]; clusters: Cluster[] } {
  const listeners: Listener[] = [];
  const clusters: Cluster[] = [];
  for (const l of PROBE_LISTENERS) {
    const listener = probeListener(l.type, l.port, l.path, probes);
    if (listener !== undefined) listeners.push(listener);
  }
  for (const c of probes) {
    for (const l of PROBE_LISTENERS) {
      const probe = c[l.type];
      if (probe !== undefined && probe.kind !== 'tcp') clusters.push(probeCluster(probeClusterName(c.container, l.type), probe));
    }
  }
  return { listeners, clusters };
}
