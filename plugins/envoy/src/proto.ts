import {
  ADS_CONFIG_SOURCE,
  durationMs as coreDurationMs,
  encodeTypedResource,
  typedAny,
  u32 as coreU32,
  type EncodedResource,
  type EnvoyMessages,
  type Msg,
  type TypedAny,
  type envoy,
  type google,
} from '@weft/core';

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

export function typed(name: string, typeUrl: string, message: Msg): Msg {
  return { name, typedConfig: typedAny(typeUrl, message) };
}

/** A type URL of a message of the Envoy API, `type.googleapis.com/<full name>`. */
export type EnvoyTypeUrl<N extends keyof EnvoyMessages> = `type.googleapis.com/${N}`;

/**
 * A nested Any, its content typed by its type URL: the generated interface of that message checks every
 * field name and enum at compile time (protobufjs would drop an unknown field silently).
 */
export function anyOf<N extends keyof EnvoyMessages>(typeUrl: EnvoyTypeUrl<N>, message: EnvoyMessages[N]): TypedAny {
  return typedAny(typeUrl, message as Msg) as unknown as TypedAny;
}

/** A filter (or transport socket) `{ name, typedConfig }`, its config typed by its type URL. */
export function filter<N extends keyof EnvoyMessages>(name: string, typeUrl: EnvoyTypeUrl<N>, message: EnvoyMessages[N]): { name: string; typedConfig: TypedAny } {
  return { name, typedConfig: anyOf(typeUrl, message) };
}

/**
 * Encodes a resource once, the message typed by its type URL: the compiler checks its fields, so core's
 * runtime field walk is skipped (the golden tests run it over every tree).
 */
export function encode<N extends keyof EnvoyMessages>(typeUrl: EnvoyTypeUrl<N>, name: string, message: EnvoyMessages[N]): EncodedResource {
  return encodeTypedResource(typeUrl, name, message);
}

/** google.protobuf.UInt32Value. */
export function u32(value: number): google.protobuf.UInt32Value {
  return coreU32(value) as google.protobuf.UInt32Value;
}

/** google.protobuf.Duration from whole milliseconds. */
export function durationMs(ms: number): google.protobuf.Duration {
  return coreDurationMs(ms) as google.protobuf.Duration;
}

/** The referenced resource comes on the same ADS stream. */
export const ADS_SOURCE = ADS_CONFIG_SOURCE as envoy.config.core.v3.ConfigSource;

export {
  // The dump is the translator's own tree; secrets pass a redacted dump (fingerprints, not key material).
  encodeResource as encodeRedacted,
  encodedResourceHash as hashResource,
  hashResourceSet as hashSet,
  toResourceSet as toSet,
  pemFingerprint,
  typedAny,
  type Msg,
} from '@weft/core';
