/**
 * Names a proxyless gRPC workload sees. Client listeners are named after the target the application
 * dials (`xds:///<svc>.<ns>:<port>` asks for the Listener "<svc>.<ns>:<port>"); server listeners after the
 * server_listener_resource_name_template of the workload's bootstrap with the address it binds.
 */
import { spiffeId, splitKey } from '@weft/core';

// Part of this plugin's exported `names`; the function itself is core's.
export { splitKey } from '@weft/core';

/** The bootstrap template Weft writes; `%s` is the "ip:port" (IPv6 in brackets) the server binds. */
export const SERVER_LISTENER_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';

/** Certificate provider instance (bootstrap `certificate_providers`) the TLS contexts refer to. */
export const DEFAULT_CERT_PROVIDER = 'weft-mesh';

/** Name of the RBAC HTTP filter: its type URL, the key gRPC implementations also accept for overrides. */
export const RBAC_FILTER_NAME = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
export const ROUTER_FILTER_NAME = 'envoy.filters.http.router';

/** Listener names a client may dial for a service port. The bare "<svc>.<ns>" names its first gRPC port. */
export function clientListenerNames(svcKey: string, port: number, first: boolean): string[] {
  const [ns, svc] = splitKey(svcKey);
  const base = `${svc}.${ns}`;
  return first ? [base, `${base}:${port}`] : [`${base}:${port}`];
}

/** Route configuration of a client listener: one per service port (its content depends on the caller). */
export const clientRouteName = (svcKey: string, port: number): string => `grpc-client|${svcKey}|${port}`;

/**
 * Cluster (and EDS service name) of a service port. By service port, unlike the Envoy adapter's OSM names
 * (target port): the client's listener and route are keyed by the port it dials, and a named target port
 * may resolve to a different number on each pod (see the README).
 */
export const clusterName = (svcKey: string, port: number): string => `${svcKey}|${port}`;

export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function serverListenerName(ip: string, port: number, template = SERVER_LISTENER_TEMPLATE): string {
  return template.replace('%s', hostPort(ip, port));
}

/** Inbound route configuration of a server port, per identity (the policy is the identity's). */
export const serverRouteName = (identity: string, port: number): string => `grpc-server|${identity}|${port}`;

/** SPIFFE id of an identity: what RBAC principals and SAN checks match (the URI SAN of mesh certificates). */
export function spiffeIdOf(identity: string, trustDomain: string): string {
  const [ns, sa] = splitKey(identity);
  return spiffeId(trustDomain, ns, sa);
}
