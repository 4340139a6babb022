/**
 * Building and encoding Envoy messages. Translators build trees typed by the generated Envoy interfaces
 * (`envoy.*` from @weft/core: protobufjs object form, camelCase fields, enums by name), nested Anys written
 * `{ '@type': <type URL>, ...fields }` by `anyOf`, which types the content by its URL; each tree is
 * encoded once, by `encode`.
 */
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
  Router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  HttpRbac: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  HttpRbacPerRoute: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute',
  UpstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  DownstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
} as const;

/** A type URL of a message of the Envoy API, `type.googleapis.com/<full name>`. */
export type EnvoyTypeUrl<N extends keyof EnvoyMessages> = `type.googleapis.com/${N}`;

/** A nested Any, its content typed by its type URL (the generated interface checks every field at compile time). */
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
export const ADS = ADS_CONFIG_SOURCE as envoy.config.core.v3.ConfigSource;

export { encodedResourceHash as hashResource, hashResourceSet as hashSet, toResourceSet as toSet } from '@weft/core';
