/**
 * Names Envoy sees, matching OSM v1.2 so that dashboards, stats and habits carry over.
 */

/** `serviceFqdn` is the upstream TLS SNI and the inbound server name as well as the UpstreamTrafficSetting host. */
export { serviceFqdn, splitKey } from '@weft/core';

export const OUTBOUND_LISTENER = 'outbound-listener';
export const INBOUND_LISTENER = 'inbound-listener';
export const PROMETHEUS_LISTENER = 'inbound-prometheus-listener';
export const OUTBOUND_PORT = 15001;
export const INBOUND_PORT = 15003;
export const PROMETHEUS_PORT = 15010;
export const ADMIN_PORT = 15000;
export const PASSTHROUGH_CLUSTER = 'passthrough-outbound';
export const METRICS_CLUSTER = 'envoy-metrics-cluster';
/**
 * The bootstrap's static cluster for ADS: OSM's name, so that the pods OSM bootstrapped and the ones
 * `weft bootstrap` writes show the same `envoy_cluster_*{envoy_cluster_name="osm-controller"}` series.
 */
export const ADS_CLUSTER = 'osm-controller';
/**
 * Network RBAC stat prefix, OSM's: Envoy appends "rbac." to it (no separator), so the counters are
 * `network-rbac.allowed` and `network-rbac.denied` (Prometheus: envoy_network_rbac_allowed / _denied) on
 * every inbound chain, one series per proxy as under OSM.
 */
export const NETWORK_RBAC_STAT_PREFIX = 'network-';
/** ALPN value marking in-mesh mTLS connections (OSM's). */
export const MESH_ALPN = 'osm';

/**
 * The inbound validation context (the mesh roots). Weft names it once for every proxy, so all proxies share
 * one encoded secret; OSM names it per identity, see `rootCertInboundOsmName`.
 */
export const ROOT_CERT_INBOUND = 'root-cert-for-mtls-inbound';

/**
 * OSM's name of the inbound validation context, `root-cert-for-mtls-inbound:<ns>/<sa>`. A sidecar that OSM
 * configured holds listeners naming it and asks for it again when it reconnects to Weft; Weft serves the
 * same roots under this name to the proxy of that identity until Weft's own listeners replace OSM's.
 */
export function rootCertInboundOsmName(ns: string, sa: string): string {
  return `${ROOT_CERT_INBOUND}:${ns}/${sa}`;
}

export function serviceCertName(ns: string, sa: string): string {
  return `service-cert:${ns}/${sa}`;
}
export function rootCertOutboundName(ns: string, svc: string): string {
  return `root-cert-for-mtls-outbound:${ns}/${svc}`;
}
/** OSM's name, by target port (Envoy's per-cluster stats carry it); the gRPC adapter's is by service port. */
export function upstreamClusterName(ns: string, svc: string, targetPort: number): string {
  return `${ns}/${svc}|${targetPort}`;
}
export function localClusterName(ns: string, svc: string, targetPort: number): string {
  return `${ns}/${svc}|${targetPort}|local`;
}
export function egressClusterName(host: string, port: number): string {
  return `${host}:${port}`;
}
export const rdsOutbound = (port: number): string => `rds-outbound.${port}`;
export const rdsInbound = (port: number): string => `rds-inbound.${port}`;
export const rdsIngress = (port: number): string => `rds-ingress.${port}`;
export const rdsEgress = (port: number): string => `rds-egress.${port}`;

/** Service identity as it appears in certificates (DNS SAN) and RBAC principals: `<sa>.<ns>.<trust-domain>`. */
export function principalName(ns: string, sa: string, trustDomain: string): string {
  return `${sa}.${ns}.${trustDomain}`;
}

/**
 * Every name a client may use for a service, with and without the port. The bare name only resolves inside
 * the service's own namespace, so it is offered only to callers there (and it keeps virtual host domains
 * unique across namespaces).
 */
export function serviceDomains(ns: string, svc: string, port: number, sameNamespace: boolean): string[] {
  const forms = [`${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster`, `${svc}.${ns}.svc.cluster.local`];
  if (sameNamespace) forms.unshift(svc);
  return forms.flatMap((f) => [f, `${f}:${port}`]);
}
