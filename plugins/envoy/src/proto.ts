/**
 * Building and encoding Envoy messages. Every tree is typed by the generated Envoy interfaces (`envoy.*`
 * from @weft/core): xDS resources in protobufjs object form, nested Anys by `anyOf`/`filter` and encoded
 * once by `encode` (secrets by `encodeRedacted`, with their fingerprint dump); the bootstrap and its probe
 * listeners in proto3 JSON form (`ProtoJson`, `jsonAnyOf`/`jsonFilter`), as Envoy reads them from a file.
 * A misspelt field or a wrong enum name fails the build.
 */
import {
  encodeResource,
  typedAny,
  type EncodedResource,
  type EnvoyMessages,
  type EnvoyTypeUrl,
  type Msg,
  type TypedAny,
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
  Route: 'type.googleapis.com/envoy.config.route.v3.Route',
  VirtualHost: 'type.googleapis.com/envoy.config.route.v3.VirtualHost',
} as const;

/** The messages whose proto3 JSON is a string ("1.5s", RFC 3339): Duration and Timestamp, told by their fields. */
type TimeFields = 'seconds' | 'nanos';
type IsTime<M> = [keyof M] extends [TimeFields] ? ([TimeFields] extends [keyof M] ? true : false) : false;

/**
 * A message of the generated interfaces in proto3 JSON form instead of protobufjs's object form: what Envoy
 * reads from a bootstrap file. Field names (lowerCamelCase), enums by name, numbers and nested Anys
 * (`{ '@type', ...fields }`) are written the same in both; a Duration or Timestamp becomes its string and
 * bytes base64. Wrappers (a bare value in JSON) cannot be told from messages with one `value` field, so they
 * keep their object type: the bootstrap has none, and the Envoy validation test would refuse one.
 */
export type ProtoJson<M> = M extends TypedAny
  ? TypedAny
  : M extends Uint8Array
    ? string
    : M extends readonly (infer E)[]
      ? readonly ProtoJson<E>[]
      : M extends object
        ? IsTime<M> extends true
          ? string
          : { [K in keyof M]: ProtoJson<M[K]> }
        : M;

/** anyOf for a tree in proto3 JSON form (a bootstrap's): the content typed by its URL, in JSON form. */
export function jsonAnyOf<N extends keyof EnvoyMessages>(typeUrl: EnvoyTypeUrl<N>, message: ProtoJson<EnvoyMessages[N]>): TypedAny {
  return typedAny(typeUrl, message as Msg) as unknown as TypedAny;
}

/** A filter `{ name, typedConfig }` in proto3 JSON form, its config typed by its type URL. */
export function jsonFilter<N extends keyof EnvoyMessages>(name: string, typeUrl: EnvoyTypeUrl<N>, message: ProtoJson<EnvoyMessages[N]>): { name: string; typedConfig: TypedAny } {
  return { name, typedConfig: jsonAnyOf(typeUrl, message) };
}

// The typed builders are core's, shared with the other adapters; named here as the translators use them.
export {
  ADS_SOURCE,
  anyOf,
  durationOfMs as durationMs,
  encodeTyped as encode,
  typedFilter as filter,
  u32Value as u32,
  type EnvoyTypeUrl,
} from '@weft/core';

/**
 * Encodes a secret, the message typed by its type URL; `dump` is what config dumps show instead of it
 * (fingerprints, never key material). The golden tests cannot walk a redacted dump for misspelt fields, so
 * the message is walked here (encodeResource) besides being typed.
 */
export function encodeRedacted<N extends keyof EnvoyMessages>(typeUrl: EnvoyTypeUrl<N>, name: string, message: EnvoyMessages[N], dump: unknown): EncodedResource {
  return encodeResource(typeUrl, name, message, dump);
}

export {
  encodedResourceHash as hashResource,
  hashResourceSet as hashSet,
  toResourceSet as toSet,
  pemFingerprint,
} from '@weft/core';
