/**
 * Typed builders for Envoy messages, shared by the proxy adapters. A tree typed by the generated Envoy
 * interfaces (`envoy.*` from @weft/protos: protobufjs object form, camelCase fields, enums by name) is
 * checked by the compiler, so a misspelt field fails the build instead of being dropped by protobufjs.
 */
import type { EnvoyMessages, TypedAny, envoy, google } from '@weft/protos';
import type { EncodedResource } from './adapter.js';
import { encodeAround, encodeMessage, encodeTypedResource, encodedResourceAround, encodedTypedAny, typedAny, type EncodedAround, type Msg } from './encode.js';
import { ADS_CONFIG_SOURCE, durationMs, u32 } from './proto-helpers.js';

/** A type URL of a message of the Envoy API, `type.googleapis.com/<full name>`. */
export type EnvoyTypeUrl<N extends keyof EnvoyMessages> = `type.googleapis.com/${N}`;

/** A nested Any, its content typed by its type URL (the generated interface checks every field at compile time). */
export function anyOf<N extends keyof EnvoyMessages>(typeUrl: EnvoyTypeUrl<N>, message: EnvoyMessages[N]): TypedAny {
  return typedAny(typeUrl, message as Msg) as unknown as TypedAny;
}

/**
 * anyOf encoded now, once (`encodedAny`): for a block that repeats, built once and shared by every place
 * that holds it, which then splices its bytes. Its tree is frozen.
 */
export function encodedAnyOf<N extends keyof EnvoyMessages>(typeUrl: EnvoyTypeUrl<N>, message: EnvoyMessages[N]): TypedAny {
  return encodedTypedAny(typeUrl, message) as unknown as TypedAny;
}

/** A filter (or transport socket) `{ name, typedConfig }`, its config typed by its type URL. */
export function typedFilter<N extends keyof EnvoyMessages>(
  name: string,
  typeUrl: EnvoyTypeUrl<N>,
  message: EnvoyMessages[N],
): { name: string; typedConfig: TypedAny } {
  return { name, typedConfig: anyOf(typeUrl, message) };
}

/**
 * Encodes a resource once, the message typed by its type URL: the compiler checks its fields, so the
 * runtime field walk of `encodeResource` is skipped (the adapters' golden tests run it over every tree).
 */
export function encodeTyped<N extends keyof EnvoyMessages>(typeUrl: EnvoyTypeUrl<N>, name: string, message: EnvoyMessages[N]): EncodedResource {
  return encodeTypedResource(typeUrl, name, message);
}

/** google.protobuf.UInt32Value, typed. */
export function u32Value(value: number): google.protobuf.UInt32Value {
  return u32(value) as google.protobuf.UInt32Value;
}

/** google.protobuf.Duration from whole milliseconds, typed. */
export function durationOfMs(ms: number): google.protobuf.Duration {
  return durationMs(ms) as google.protobuf.Duration;
}

/** The referenced resource comes on the same ADS stream (typed). */
export const ADS_SOURCE: envoy.config.core.v3.ConfigSource = ADS_CONFIG_SOURCE as envoy.config.core.v3.ConfigSource;

/** A message's own encoding (not in an Any), typed by its type URL: an element to splice with `spliceAround`. */
export function encodeMessageOf<N extends keyof EnvoyMessages>(typeUrl: EnvoyTypeUrl<N>, message: EnvoyMessages[N]): Uint8Array {
  return encodeMessage(typeUrl, message);
}

/** The names of a message's repeated fields. */
type ListField<M> = { [K in keyof M]-?: NonNullable<M[K]> extends readonly unknown[] ? K : never }[keyof M] & string;

/**
 * A message without one of its repeated message fields, encoded as the parts around that field
 * (`encodeAround`); typed by its type URL, so the field and the rest of the tree are the compiler's to check.
 */
export function encodeAroundOf<N extends keyof EnvoyMessages, F extends ListField<EnvoyMessages[N]>>(
  typeUrl: EnvoyTypeUrl<N>,
  message: Omit<EnvoyMessages[N], F>,
  field: F,
): EncodedAround {
  return encodeAround(typeUrl, message as Msg, field);
}

/**
 * A resource whose message is `around` with encoded `items` in place (`encodedResourceAround`); `dump` is the
 * whole tree, typed as the message it encodes.
 */
export function encodedResourceAroundOf<N extends keyof EnvoyMessages>(
  typeUrl: EnvoyTypeUrl<N>,
  name: string,
  around: EncodedAround,
  items: readonly Uint8Array[],
  dump: EnvoyMessages[N],
): EncodedResource {
  return encodedResourceAround(typeUrl, name, around, items, dump);
}
