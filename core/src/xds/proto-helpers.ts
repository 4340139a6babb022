/**
 * Tiny builders for the protobufjs object form every Envoy-API translator writes (see encode.ts), shared so
 * that adapters spell wrapper types, durations and config sources the same way.
 */
import type { EncodedResource } from './adapter.js';
import type { Msg } from './encode.js';

/** google.protobuf.UInt32Value (and the other numeric wrappers): `{ value }`. */
export function u32(value: number): Msg {
  return { value };
}

/** google.protobuf.Duration from whole milliseconds. */
export function durationMs(ms: number): Msg {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

/** ConfigSource: the referenced resource arrives on the same ADS stream as the one referring to it. */
export const ADS_CONFIG_SOURCE: Msg = Object.freeze({ ads: Object.freeze({}), resourceApiVersion: 'V3' });

/**
 * Early cut-off hash of a derivation producing one encoded resource (or none): its name and content version,
 * so re-encoding the same bytes does not invalidate what reads it.
 */
export function encodedResourceHash(r: EncodedResource | null): string {
  return r === null ? '-' : `${r.name}@${r.version}`;
}
