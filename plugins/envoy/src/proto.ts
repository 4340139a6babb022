import { encodeResource, typedAny, type EncodedResource, type Msg } from '@weft/core';

export const T = {
  HCM: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  TcpProxy: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  NetworkRbac: 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC',
  NetworkLocalRateLimit: 'type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit',
  Router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  HttpRbac: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  HttpRbacPerRoute: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute',
  HttpLocalRateLimit: 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
  OriginalDst: 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst',
  TlsInspector: 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  UpstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  DownstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  HttpProtocolOptions: 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  Bootstrap: 'type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap',
} as const;

/** Resources arrive over the same ADS stream as everything else. */
export const ADS_SOURCE: Msg = { ads: {}, resourceApiVersion: 'V3' };

export function typed(name: string, typeUrl: string, message: Msg): Msg {
  return { name, typedConfig: typedAny(typeUrl, message) };
}

export function durationMs(ms: number): Msg {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

export function u32(value: number): Msg {
  return { value };
}

/** Encodes once; the dump is the translator's own tree (nested typed configs shown with '@type'). */
export function encode(typeUrl: string, name: string, message: Msg): EncodedResource {
  return encodeResource(typeUrl, name, message);
}

/** Encodes with an explicit dump (secrets: fingerprints instead of key material). */
export function encodeRedacted(typeUrl: string, name: string, message: Msg, dump: unknown): EncodedResource {
  return encodeResource(typeUrl, name, message, dump);
}

export function hashResource(r: EncodedResource | null): string {
  return r === null ? '-' : `${r.name}@${r.version}`;
}

export { hashResourceSet as hashSet, toResourceSet as toSet, pemFingerprint, typedAny, type Msg } from '@weft/core';
