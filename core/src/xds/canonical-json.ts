import { envoyProtos } from '@weft/protos';
import { Enum, Type, util, type Field, type MapField } from 'protobufjs';

/**
 * Proto3 canonical JSON (https://protobuf.dev/programming-guides/json/) of a protobufjs message, as protojson
 * and Envoy's admin print it. protobufjs's own toObject/toJSON is not that: it prints a Duration as
 * `{seconds, nanos}`, a wrapper as `{value}`, an Any as `{type_url, value}` bytes, so tools that read
 * Envoy's JSON refuse it. Here:
 *
 * - field names are the .proto names (snake_case, Envoy's admin "preserve proto field names"), or
 *   lowerCamelCase with `names: 'json'`; fields at their default value are left out, except oneof members
 *   and other fields with presence;
 * - enums by name, 64-bit integers as decimal strings, bytes as base64, non-finite floats as "NaN",
 *   "Infinity", "-Infinity";
 * - Any as `{"@type": url, ...the message's fields}` (or `{"@type", "value"}` for a well-known type),
 *   resolved from the loaded Envoy root, recursively; Duration as "1.5s", Timestamp as RFC 3339 in UTC,
 *   wrappers as their bare value, Struct/Value/ListValue as plain JSON, Empty as {}, FieldMask as "a.b,c";
 * - fields Envoy's API marks `(udpa.annotations.sensitive)` are redacted as Envoy's admin redacts them:
 *   strings and bytes become "[redacted]", other scalars are cleared, messages are redacted throughout.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export class CanonicalJsonError extends Error {
  readonly code = 'CANONICAL_JSON';
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(`${path === '' ? '' : `${path}: `}${message}`);
    this.name = 'CanonicalJsonError';
  }
}

/** What Envoy's admin writes in place of a sensitive string or bytes value. */
export const REDACTED = '[redacted]';

/** A message-typed value about to be printed; see CanonicalOptions.transform. */
export interface TransformContext {
  readonly type: Type;
  /** The message (decoded, or in protobufjs object form). */
  readonly value: object;
  /** Where it is, in JSON names: `.tls_certificate.certificate_chain`, `[2]`, `<Cluster>` for an Any. */
  readonly path: string;
  /** The field holding it, or an enclosing one, is sensitive: it is being redacted. */
  readonly sensitive: boolean;
  /** The same position in the `shadow` tree, when one was given. */
  readonly shadow: unknown;
  /** The default conversion. */
  readonly convert: () => JsonValue;
}

export interface CanonicalOptions {
  /** 'proto' (default): the .proto field names, as Envoy's admin prints; 'json': lowerCamelCase. */
  readonly names?: 'proto' | 'json';
  /** Resolves an Any's type URL; default the Envoy root of @weft/protos. Unknown types are an error. */
  readonly resolve?: (typeUrl: string) => Type | undefined;
  /** false: print sensitive fields as they are (default: redact them as Envoy does). */
  readonly redactSensitive?: boolean;
  /**
   * A tree in protobufjs object form walked alongside the message (fields by their protobufjs names, Anys
   * inline with '@type'), handed to `transform` at each position: e.g. an adapter's readable dump, which may
   * hold fingerprints where the message holds certificates.
   */
  readonly shadow?: unknown;
  /** Replaces the printing of a message-typed value (not a well-known type) when it returns non-undefined. */
  readonly transform?: (ctx: TransformContext) => JsonValue | undefined;
}

interface Walk {
  readonly proto: boolean;
  readonly resolve: (typeUrl: string) => Type | undefined;
  readonly redact: boolean;
  readonly transform: CanonicalOptions['transform'];
}

const SENSITIVE = '(udpa.annotations.sensitive)';

/** Canonical JSON of a message of `type` (a decoded protobufjs Message, or its object form). */
export function toCanonicalJson(type: Type, message: object, options: CanonicalOptions = {}): JsonValue {
  const walk: Walk = {
    proto: options.names !== 'json',
    resolve: options.resolve ?? resolveEnvoyType,
    redact: options.redactSensitive !== false,
    transform: options.transform,
  };
  return messageJson(walk, type, message, '', false, options.shadow);
}

/**
 * Canonical JSON of an encoded google.protobuf.Any (type_url + value): `{"@type": url, ...fields}`. This is
 * how a resource (EncodedResource.any) is printed; `shadow` is then the resource's own tree.
 */
export function anyBytesToCanonicalJson(anyBytes: Uint8Array, options: CanonicalOptions = {}): JsonObject {
  const any = anyType().decode(anyBytes) as unknown as { type_url?: string; value?: Uint8Array };
  const typeUrl = any.type_url ?? '';
  const type = (options.resolve ?? resolveEnvoyType)(typeUrl);
  if (type === undefined) throw new CanonicalJsonError(`cannot resolve the Any type ${JSON.stringify(typeUrl)}: it is not in the loaded protos`, '');
  const json = toCanonicalJson(type, type.decode(any.value ?? new Uint8Array(0)), options);
  return WKT.has(nameOf(type)) ? { '@type': typeUrl, value: json } : { '@type': typeUrl, ...(json as JsonObject) };
}

let anyTypeCache: Type | undefined;
function anyType(): Type {
  anyTypeCache ??= envoyProtos().lookupType('google.protobuf.Any');
  return anyTypeCache;
}

const resolved = new Map<string, Type | undefined>();
/** Message types by type URL from the Envoy root (the same types the encoders use). */
export function resolveEnvoyType(typeUrl: string): Type | undefined {
  if (resolved.has(typeUrl)) return resolved.get(typeUrl);
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  let t: Type | undefined;
  try {
    t = envoyProtos().lookupType(name);
  } catch {
    t = undefined;
  }
  resolved.set(typeUrl, t);
  return t;
}

/** The .proto name of a field protobufjs camel-cased on load (its camelCase undoes `_x` -> `X` only). */
export function protoFieldName(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Well-known types whose JSON is not an object of their fields. */
const WKT = new Set([
  'google.protobuf.Any',
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue',
  'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.Empty',
  'google.protobuf.FieldMask',
]);

/** protobufjs builds fullName from the parent chain on every read; remember it per type. */
const fullNames = new WeakMap<Type | Enum, string>();
function nameOf(t: Type | Enum): string {
  let n = fullNames.get(t);
  if (n === undefined) {
    n = t.fullName.replace(/^\./, '');
    fullNames.set(t, n);
  }
  return n;
}

function own(msg: object, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(msg, key) ? (msg as Record<string, unknown>)[key] : undefined;
}

function get(msg: object, key: string): unknown {
  return (msg as Record<string, unknown>)[key];
}

function child(shadow: unknown, key: string | number): unknown {
  if (shadow === null || typeof shadow !== 'object') return undefined;
  return (shadow as Record<string | number, unknown>)[key];
}

function messageJson(w: Walk, type: Type, msg: object, path: string, sensitive: boolean, shadow: unknown): JsonValue {
  const name = nameOf(type);
  if (WKT.has(name)) return wellKnownJson(w, name, type, msg, path, sensitive, shadow);
  const convert = (): JsonValue => fieldsJson(w, type, msg, path, sensitive, shadow);
  if (w.transform !== undefined) {
    const out = w.transform({ type, value: msg, path, sensitive, shadow, convert });
    if (out !== undefined) return out;
  }
  return convert();
}

function fieldsJson(w: Walk, type: Type, msg: object, path: string, sensitive: boolean, shadow: unknown): JsonObject {
  const out: JsonObject = {};
  for (const field of type.fieldsArray) {
    const value = get(msg, field.name);
    if (value === undefined || value === null) continue;
    const key = w.proto ? protoFieldName(field.name) : field.name;
    const at = `${path}.${key}`;
    const fieldSensitive = sensitive || (w.redact && field.options?.[SENSITIVE] === true);
    const sub = child(shadow, field.name);
    field.resolve();
    if (field.map) {
      const entries = Object.keys(value as object);
      if (entries.length === 0) continue;
      const obj: JsonObject = {};
      for (const k of entries) {
        const v = (value as Record<string, unknown>)[k];
        const jsonKey = mapKey(field, k);
        const json = singleJson(w, field, v, `${at}[${JSON.stringify(jsonKey)}]`, fieldSensitive, child(sub, k));
        if (json !== undefined) obj[jsonKey] = json;
      }
      out[key] = obj;
    } else if (field.repeated) {
      const list = value as unknown[];
      if (!Array.isArray(list) || list.length === 0) continue;
      const arr: JsonValue[] = [];
      list.forEach((v, i) => {
        const json = singleJson(w, field, v, `${at}[${i}]`, fieldSensitive, child(sub, i));
        if (json !== undefined) arr.push(json);
      });
      if (arr.length > 0) out[key] = arr;
    } else {
      // A oneof member (proto3 `optional` included) is printed when set, even to its default; protobufjs keeps
      // defaults on the prototype, so "set" is an own property. Messages are printed when present. Any other
      // field at its default is not printed (proto3 implicit presence).
      if (field.partOf !== null) {
        const set = own(msg, field.name);
        if (set === undefined || set === null) continue;
      } else if (!(field.resolvedType instanceof Type) && isDefault(field, value)) continue;
      const json = singleJson(w, field, value, at, fieldSensitive, sub);
      if (json !== undefined) out[key] = json;
    }
  }
  return out;
}

function isDefault(field: Field, value: unknown): boolean {
  if (field.resolvedType instanceof Enum) return value === 0 || value === (field.resolvedType.valuesById[0] ?? '');
  switch (field.type) {
    case 'string':
      return value === '';
    case 'bool':
      return value === false;
    case 'bytes':
      return (value instanceof Uint8Array && value.length === 0) || value === '';
    default:
      if (typeof value === 'number') return value === 0 && !Object.is(value, -0);
      if (isLong(value)) return value.low === 0 && value.high === 0;
      return value === '0' || (typeof value === 'bigint' && value === 0n);
  }
}

/** One value of a field (a singular field's value, or one element of a repeated field or map). */
function singleJson(w: Walk, field: Field, value: unknown, path: string, sensitive: boolean, shadow: unknown): JsonValue | undefined {
  const rt = field.resolvedType;
  if (rt instanceof Type) return messageJson(w, rt, value as object, path, sensitive, shadow);
  if (sensitive) {
    // Envoy's admin: text becomes "[redacted]", every other scalar is cleared.
    if (field.type === 'string') return REDACTED;
    if (field.type === 'bytes') return Buffer.from(REDACTED).toString('base64');
    return undefined;
  }
  if (rt instanceof Enum) return enumJson(rt, value);
  return scalarJson(field.type, value, path);
}

function enumJson(e: Enum, value: unknown): JsonValue {
  if (nameOf(e) === 'google.protobuf.NullValue') return null;
  if (typeof value === 'string') return value;
  const n = Number(value);
  return e.valuesById[n] ?? n;
}

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const UNSIGNED_LONG = new Set(['uint64', 'fixed64']);

interface LongLike {
  readonly low: number;
  readonly high: number;
  readonly unsigned?: boolean;
}
function isLong(v: unknown): v is LongLike {
  return v !== null && typeof v === 'object' && typeof (v as LongLike).low === 'number' && typeof (v as LongLike).high === 'number';
}

function longString(value: unknown, unsigned: boolean): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return String(Math.trunc(value));
  if (isLong(value)) return bitsString(value.low, value.high, unsigned);
  return String(value);
}

/** A 64-bit integer from its two 32-bit halves, in decimal. */
function bitsString(low: number, high: number, unsigned: boolean): string {
  let n = (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
  if (!unsigned && n >= 1n << 63n) n -= 1n << 64n;
  return n.toString();
}

function floatJson(value: number, float32: boolean): JsonValue {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  if (!float32) return value;
  // A float32 widened to a double prints as 0.10000000149011612; protojson prints the shortest decimal that
  // reads back to the same float32.
  for (let p = 1; p <= 9; p++) {
    const n = Number(value.toPrecision(p));
    if (Math.fround(n) === value) return n;
  }
  return value;
}

function bytesJson(value: unknown): string {
  if (typeof value === 'string') return value;
  return Buffer.from(value as Uint8Array).toString('base64');
}

function scalarJson(type: string, value: unknown, path: string): JsonValue {
  if (LONG_TYPES.has(type)) return longString(value, UNSIGNED_LONG.has(type));
  switch (type) {
    case 'double':
      return floatJson(Number(value), false);
    case 'float':
      return floatJson(Number(value), true);
    case 'int32':
    case 'uint32':
    case 'sint32':
    case 'fixed32':
    case 'sfixed32':
      return Number(value);
    case 'bool':
      return value === true;
    case 'string':
      return String(value);
    case 'bytes':
      return bytesJson(value);
    default:
      throw new CanonicalJsonError(`unsupported field type ${type}`, path);
  }
}

function mapKey(field: Field, key: string): string {
  const keyType = (field as unknown as MapField).keyType;
  if (!LONG_TYPES.has(keyType)) return key;
  // protobufjs keys a decoded 64-bit map by the 8-character hash of the number; plain objects by its text.
  if (/^-?\d+$/.test(key)) return key;
  const bits = util.LongBits.fromHash(key);
  return bitsString(bits.lo, bits.hi, UNSIGNED_LONG.has(keyType));
}

function field(type: Type, name: string): Field {
  const f = type.fields[name];
  if (f === undefined) throw new CanonicalJsonError(`${nameOf(type)} has no field ${name}`, '');
  return f.resolve();
}

function wellKnownJson(w: Walk, name: string, type: Type, msg: object, path: string, sensitive: boolean, shadow: unknown): JsonValue {
  switch (name) {
    case 'google.protobuf.Any':
      return anyJson(w, msg, path, sensitive, shadow);
    case 'google.protobuf.Duration':
      return durationString(get(msg, 'seconds') ?? 0, Number(get(msg, 'nanos') ?? 0), path);
    case 'google.protobuf.Timestamp':
      return timestampString(get(msg, 'seconds') ?? 0, Number(get(msg, 'nanos') ?? 0), path);
    case 'google.protobuf.Struct':
      return structJson(w, type, msg, path, sensitive);
    case 'google.protobuf.Value':
      return valueJson(w, type, msg, path, sensitive);
    case 'google.protobuf.ListValue': {
      const values = (get(msg, 'values') as object[] | undefined) ?? [];
      const valueType = field(type, 'values').resolvedType as Type;
      return values.map((v, i) => valueJson(w, valueType, v, `${path}[${i}]`, sensitive));
    }
    case 'google.protobuf.Empty':
      return {};
    case 'google.protobuf.FieldMask':
      return ((get(msg, 'paths') as string[] | undefined) ?? []).map((p) => p.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())).join(',');
    default: {
      // Wrappers: the bare value of their one field, `value`.
      const f = field(type, 'value');
      const v = get(msg, 'value');
      if (sensitive) {
        if (f.type === 'string') return REDACTED;
        if (f.type === 'bytes') return Buffer.from(REDACTED).toString('base64');
      }
      return scalarJson(f.type, v ?? defaultScalar(f.type), path);
    }
  }
}

function defaultScalar(type: string): unknown {
  switch (type) {
    case 'string':
      return '';
    case 'bool':
      return false;
    case 'bytes':
      return new Uint8Array(0);
    default:
      return 0;
  }
}

function anyJson(w: Walk, msg: object, path: string, sensitive: boolean, shadow: unknown): JsonObject {
  const typeUrl = String(get(msg, 'type_url') ?? get(msg, 'typeUrl') ?? '');
  const value = get(msg, 'value');
  if (typeUrl === '') throw new CanonicalJsonError('an Any without a type URL', path);
  const type = w.resolve(typeUrl);
  if (type === undefined) throw new CanonicalJsonError(`cannot resolve the Any type ${typeUrl}: it is not in the loaded protos`, path);
  const inner = type.decode(value instanceof Uint8Array ? value : Buffer.from(String(value ?? ''), 'base64'));
  // The shadow writes a nested Any inline (`{ '@type', ...fields }`); a packed one has nothing readable.
  const innerShadow = child(shadow, '@type') === undefined ? undefined : shadow;
  const at = `${path}<${typeUrl.slice(typeUrl.lastIndexOf('.') + 1)}>`;
  const json = messageJson(w, type, inner, at, sensitive, innerShadow);
  if (WKT.has(nameOf(type))) return { '@type': typeUrl, value: json };
  return { '@type': typeUrl, ...(json as JsonObject) };
}

function structJson(w: Walk, type: Type, msg: object, path: string, sensitive: boolean): JsonObject {
  const fields = (get(msg, 'fields') as Record<string, object> | undefined) ?? {};
  const valueType = field(type, 'fields').resolvedType as Type;
  const out: JsonObject = {};
  for (const k of Object.keys(fields)) out[k] = valueJson(w, valueType, fields[k]!, `${path}.${k}`, sensitive);
  return out;
}

function valueJson(w: Walk, type: Type, msg: object, path: string, sensitive: boolean): JsonValue {
  // The kind is a oneof: set means an own property (protobufjs keeps the defaults on the prototype).
  const has = (k: string): boolean => {
    const v = own(msg, k);
    return v !== undefined && v !== null;
  };
  if (has('nullValue')) return null;
  if (has('numberValue')) return floatJson(Number(get(msg, 'numberValue')), false);
  if (has('stringValue')) return sensitive ? REDACTED : String(get(msg, 'stringValue'));
  if (has('boolValue')) return get(msg, 'boolValue') === true;
  if (has('structValue')) return structJson(w, field(type, 'structValue').resolvedType as Type, get(msg, 'structValue') as object, path, sensitive);
  if (has('listValue')) {
    const listType = field(type, 'listValue').resolvedType as Type;
    const values = (get(get(msg, 'listValue') as object, 'values') as object[] | undefined) ?? [];
    const valueType = field(listType, 'values').resolvedType as Type;
    return values.map((v, i) => valueJson(w, valueType, v, `${path}[${i}]`, sensitive));
  }
  throw new CanonicalJsonError('google.protobuf.Value with none of its kinds set', path);
}

const MAX_DURATION_SECONDS = 315_576_000_000;

/** "1.5s", "-0.001s", "0s": seconds with 0, 3, 6 or 9 fractional digits, as protojson prints. */
export function durationString(secondsValue: unknown, nanos: number, path = ''): string {
  const seconds = BigInt(longString(secondsValue, false));
  if (seconds > BigInt(MAX_DURATION_SECONDS) || seconds < -BigInt(MAX_DURATION_SECONDS) || Math.abs(nanos) > 999_999_999) {
    throw new CanonicalJsonError(`Duration out of range (${seconds}s ${nanos}ns)`, path);
  }
  if ((seconds > 0n && nanos < 0) || (seconds < 0n && nanos > 0)) throw new CanonicalJsonError(`Duration with mixed signs (${seconds}s ${nanos}ns)`, path);
  const negative = seconds < 0n || nanos < 0;
  const abs = seconds < 0n ? -seconds : seconds;
  return `${negative ? '-' : ''}${abs}${fraction(Math.abs(nanos))}s`;
}

/** ".5" -> ".500": 0, 3, 6 or 9 digits, the fewest that hold the value. */
function fraction(nanos: number): string {
  if (nanos === 0) return '';
  const digits = String(nanos).padStart(9, '0');
  if (nanos % 1_000_000 === 0) return `.${digits.slice(0, 3)}`;
  if (nanos % 1_000 === 0) return `.${digits.slice(0, 6)}`;
  return `.${digits}`;
}

/** RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as protojson prints a Timestamp. */
export function timestampString(secondsValue: unknown, nanos: number, path = ''): string {
  const seconds = Number(longString(secondsValue, false));
  // 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z
  if (seconds < -62_135_596_800 || seconds > 253_402_300_799 || nanos < 0 || nanos > 999_999_999) {
    throw new CanonicalJsonError(`Timestamp out of range (${seconds}s ${nanos}ns)`, path);
  }
  const iso = new Date(seconds * 1000).toISOString(); // always ".000Z"
  return `${iso.slice(0, 19)}${fraction(nanos)}Z`;
}

/** A Timestamp's JSON from milliseconds since the epoch (a log event's time). */
export function timestampFromMillis(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return timestampString(seconds, Math.round((ms - seconds * 1000) * 1_000_000));
}
