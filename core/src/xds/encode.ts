import { createHash } from 'node:crypto';
import { envoyType, type EnvoyMessages } from '@weft/protos';
import { Type, Writer } from 'protobufjs';
import type { EncodedResource, ResourceSet } from './adapter.js';

/**
 * Encoding of translator output, shared by every proxy adapter.
 *
 * Translators write messages in protobufjs *object form*: camelCase fields, enums by name, and nested Any
 * values either written inline as `{ '@type': <type URL>, ...fields }` (the proto3 JSON form, so the tree a
 * translator builds is also the readable dump) or already packed with `packAny`. Each resource is encoded
 * once, inside its derivation, so its bytes are shared by every proxy whose derivation id is the same.
 */

/** A message in protobufjs object form. */
export type Msg = Record<string, unknown>;

/** An inline nested Any: the readable form a translator writes and dumps show. */
export function typedAny(typeUrl: string, message: Msg): Msg {
  return { '@type': typeUrl, ...message };
}

/**
 * Encodes a resource into a google.protobuf.Any and keeps the bytes. `dump` is what config dumps show;
 * pass a redacted copy for secrets (fingerprints instead of key material).
 */
export function encodeResource(typeUrl: string, name: string, message: object, dump: unknown = message): EncodedResource {
  checkFields(typeUrl, message, name);
  return encodeUnchecked(typeUrl, name, message, dump);
}

/**
 * encodeResource for a tree typed by the generated Envoy interfaces (`EnvoyMessages`): the compiler has
 * checked its field names and enums, so the runtime walk (about a fifth of encoding a cluster, see
 * bench/src/proto-encode.ts) is skipped. Adapters' golden tests still run `checkFields` over every tree, for
 * what a cast or a `Record<string, unknown>` (assignable to the interfaces) could let through.
 */
export function encodeTypedResource<N extends keyof EnvoyMessages>(
  typeUrl: `type.googleapis.com/${N}`,
  name: string,
  message: EnvoyMessages[N],
  dump: unknown = message,
): EncodedResource {
  return encodeUnchecked(typeUrl, name, message, dump);
}

function encodeUnchecked(typeUrl: string, name: string, message: object, dump: unknown): EncodedResource {
  const type = typeOf(typeUrl);
  // The Any and its message in one writer: google.protobuf.Any { type_url = 1; value = 2 }, the value
  // written as an embedded message (the same bytes as the bytes field encodeAnyBytes writes), so the
  // message is not finished into a buffer of its own only to be copied into the Any's.
  const writer = Writer.create().uint32(0x0a).string(typeUrl);
  const any = type.encode(type.fromObject(pack(message) as Msg), writer.uint32(0x12).fork()).ldelim().finish();
  const version = createHash('sha256').update(any).digest('hex').slice(0, 16);
  return { name, typeUrl, version, any, dump };
}

/**
 * A nested Any in protobufjs object form. protobufjs defines google.protobuf.Any with the field name
 * `type_url` (its built-in definition keeps proto case), so that is the key fromObject reads; `typeUrl`
 * stays for callers that read it back.
 */
export function packAny(typeUrl: string, message: object): { typeUrl: string; type_url: string; value: Uint8Array } {
  checkFields(typeUrl, message);
  return packChecked(typeUrl, message);
}

/** packAny for a tree whose fields were already checked (nested Anys are checked by the outer walk). */
function packChecked(typeUrl: string, message: object): { typeUrl: string; type_url: string; value: Uint8Array } {
  const type = typeOf(typeUrl);
  return { typeUrl, type_url: typeUrl, value: type.encode(type.fromObject(pack(message) as Msg)).finish() };
}

/**
 * The encoded values of inline Anys built by `encodedTypedAny`, by the Any object itself: `pack` splices these
 * bytes instead of converting and encoding the same tree again. A copy (a spread, an edited clone) is not
 * in the map and is encoded afresh, and the object and everything under it are frozen, so the bytes cannot
 * go stale under it.
 */
const preEncoded = new WeakMap<object, Uint8Array>();

/**
 * An inline Any encoded now, once: it reads and dumps like `typedAny`'s, and every resource that holds
 * this object gets its bytes spliced in. For a block that repeats (the same per-route RBAC on every route
 * of a route configuration, and in the next configuration built from the same principals), where one
 * object can be shared by all its uses. The tree is typed by the generated Envoy interfaces, so its fields
 * are the compiler's to check (as for `encodeTypedResource`). It is frozen: callers pass a tree of their own.
 */
export function encodedTypedAny<N extends keyof EnvoyMessages>(typeUrl: `type.googleapis.com/${N}`, message: EnvoyMessages[N]): Msg {
  const any = deepFreeze(typedAny(typeUrl, message as Msg));
  preEncoded.set(any, packChecked(typeUrl, message).value);
  return any;
}

/** The encoding of a message alone (not in an Any), its nested Anys packed as `encodeResource` packs them. */
export function encodeMessage(typeUrl: string, message: object): Uint8Array {
  return packChecked(typeUrl, message).value;
}

/**
 * A message encoded around one of its repeated message fields, whose elements are encoded elsewhere (and
 * kept, so that an element that did not change is not encoded again). protobufjs writes a message's fields
 * in field-number order and a message's encoding is the concatenation of its fields': the fields numbered
 * below `field`, then each element framed as that field, then the fields above it, are the bytes of
 * encoding the whole tree at once (`spliceAround`).
 */
export interface EncodedAround {
  readonly before: Uint8Array;
  /** The field's key (number and length-delimited wire type) as a varint. */
  readonly key: Uint8Array;
  readonly after: Uint8Array;
}

/** `message` without `field`, encoded as the parts around that field's elements. */
export function encodeAround(typeUrl: string, message: Msg, field: string): EncodedAround {
  const type = typeOf(typeUrl);
  const spliced = type.fields[field];
  if (spliced === undefined || !spliced.repeated || !(spliced.resolve().resolvedType instanceof Type)) {
    throw new TypeError(`${type.fullName.slice(1)}.${field} is not a repeated message field`);
  }
  const before: Msg = {};
  const after: Msg = {};
  for (const k of Object.keys(message)) {
    const f = type.fields[k];
    if (f === undefined || k === field) throw new TypeError(`${type.fullName.slice(1)}.${k}: not a field to encode around ${field}`);
    (f.id < spliced.id ? before : after)[k] = message[k];
  }
  return { before: encodeMessage(typeUrl, before), key: varint((spliced.id << 3) | 2), after: encodeMessage(typeUrl, after) };
}

/** The message of `around` with `items` (each an encoded element of its field) in place, in one buffer. */
export function spliceAround(around: EncodedAround, items: readonly Uint8Array[]): Uint8Array {
  const out = Buffer.allocUnsafe(splicedSize(around, items));
  writeSpliced(out, 0, around, items);
  return out;
}

/**
 * A resource whose message is `around` with `items` in place (`spliceAround`), written straight into its
 * Any: the Any, and so the version, that `encodeResource` gives the whole tree. `dump` is that tree.
 */
export function encodedResourceAround(typeUrl: string, name: string, around: EncodedAround, items: readonly Uint8Array[], dump: unknown): EncodedResource {
  const size = splicedSize(around, items);
  const url = Buffer.from(typeUrl, 'utf8');
  const any = Buffer.allocUnsafe(anySize(url, size));
  writeSpliced(any, writeAnyHeader(any, url, size), around, items);
  const version = createHash('sha256').update(any).digest('hex').slice(0, 16);
  return { name, typeUrl, version, any, dump };
}

function splicedSize(around: EncodedAround, items: readonly Uint8Array[]): number {
  let size = around.before.length + around.after.length;
  for (const item of items) size += around.key.length + varintSize(item.length) + item.length;
  return size;
}

function writeSpliced(out: Uint8Array, from: number, around: EncodedAround, items: readonly Uint8Array[]): void {
  out.set(around.before, from);
  let at = from + around.before.length;
  for (const item of items) {
    out.set(around.key, at);
    at += around.key.length;
    at = writeVarint(out, at, item.length);
    out.set(item, at);
    at += item.length;
  }
  out.set(around.after, at);
}

function varintSize(n: number): number {
  let size = 1;
  for (let v = n; v > 0x7f; v = Math.floor(v / 128)) size++;
  return size;
}

function writeVarint(out: Uint8Array, at: number, n: number): number {
  let i = at;
  let v = n;
  while (v > 0x7f) {
    out[i++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[i++] = v;
  return i;
}

function deepFreeze<V>(value: V): V {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}

/**
 * Types by type URL or name. The root's lookup walks namespaces on every call, and every resource and every
 * nested Any of every resource asks: a few hundred thousand lookups in a connect storm.
 */
const types = new Map<string, Type>();
function typeOf(typeUrl: string): Type {
  let t = types.get(typeUrl);
  if (t === undefined) {
    t = envoyType(typeUrl);
    types.set(typeUrl, t);
  }
  return t;
}

/** Turns inline `{ '@type': ... }` Anys of a tree into packed ones. Only called on checked trees. */
function pack(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pack);
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const msg = value as Msg;
  const url = msg['@type'];
  if (typeof url === 'string') {
    const encoded = preEncoded.get(msg);
    if (encoded !== undefined) return { typeUrl: url, type_url: url, value: encoded };
  }
  const out: Msg = {};
  let typeUrl: string | undefined;
  for (const k of Object.keys(msg)) {
    if (k === '@type') typeUrl = String(msg[k]);
    else out[k] = pack(msg[k]);
  }
  return typeUrl === undefined ? out : packChecked(typeUrl, out);
}

/**
 * protobufjs drops fields it does not know; a misspelt field would vanish from the config without a trace.
 * Every field name of a translator's tree is therefore checked against the schema before encoding.
 */
export function checkFields(typeUrl: string, tree: unknown, path = ''): void {
  const at: string[] = [path === '' ? typeUrl.slice(typeUrl.lastIndexOf('.') + 1) : path];
  walkFields(typeOf(typeUrl), tree, at);
}

function isPackedAny(value: Msg): boolean {
  return value['value'] instanceof Uint8Array && (typeof value['type_url'] === 'string' || typeof value['typeUrl'] === 'string');
}

/** protobufjs builds `fullName` from the parent chain on every read; remember the answer per type. */
const anyTypes = new WeakMap<Type, boolean>();
function isAnyType(type: Type): boolean {
  let any = anyTypes.get(type);
  if (any === undefined) {
    any = type.fullName === '.google.protobuf.Any';
    anyTypes.set(type, any);
  }
  return any;
}

/** `at` is the location as path segments, joined only when there is an error to report. */
function walkFields(type: Type, value: unknown, at: string[]): void {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || Array.isArray(value)) return;
  const msg = value as Msg;
  if (isAnyType(type)) {
    if (isPackedAny(msg)) return;
    const url = msg['@type'];
    if (typeof url !== 'string') throw new TypeError(`${at.join('')}: an Any needs '@type'`);
    at.push(`<${url.slice(url.lastIndexOf('.') + 1)}>`);
    walkFields(typeOf(url), value, at);
    at.pop();
    return;
  }
  const fields = type.fields;
  for (const key of Object.keys(msg)) {
    if (key === '@type') continue;
    const field = fields[key];
    if (field === undefined) throw new TypeError(`${at.join('')}.${key}: ${type.fullName.slice(1)} has no field "${key}"`);
    const sub = field.resolve().resolvedType;
    if (!(sub instanceof Type)) continue;
    const v = msg[key];
    if (field.map) {
      for (const k of Object.keys(v as Msg)) {
        at.push(`.${key}[${k}]`);
        walkFields(sub, (v as Msg)[k], at);
        at.pop();
      }
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        at.push(`.${key}[${i}]`);
        walkFields(sub, v[i] as unknown, at);
        at.pop();
      }
    } else {
      at.push(`.${key}`);
      walkFields(sub, v, at);
      at.pop();
    }
  }
}

/**
 * Hashes by set object. A shared set is hashed by its own derivation and again by the per-proxy root of every
 * proxy holding it (a thousand times in a connect storm); sets are never modified once built.
 */
const setHashes = new WeakMap<ResourceSet, string>();

/**
 * A member's part of its set's version, by resource: a resource is in every set rebuilt while it is unchanged
 * (each rebuild after an endpoint change hashes the same other members again). Kept only for a resource
 * under its own name, the way `toResourceSet` keys it.
 */
const memberLines = new WeakMap<EncodedResource, string>();
function memberLine(name: string, resource: EncodedResource | undefined): string {
  if (resource === undefined || resource.name !== name) return `${name}\u0000${resource?.version ?? ''}\n`;
  let line = memberLines.get(resource);
  if (line === undefined) {
    line = `${name}\u0000${resource.version}\n`;
    memberLines.set(resource, line);
  }
  return line;
}

/** A resource set's version: its names and versions; two sets with the same members are the same. */
export function hashResourceSet(set: ResourceSet): string {
  const known = setHashes.get(set);
  if (known !== undefined) return known;
  // One string hashed at once: the same bytes as an update per name, without a buffer per name.
  // Sets are mostly built in name order already, so the names are only sorted when they are not.
  let names = [...set.keys()];
  for (let i = 1; i < names.length; i++) {
    if ((names[i - 1] as string) > (names[i] as string)) {
      names = names.sort();
      break;
    }
  }
  let text = '';
  for (const name of names) text += memberLine(name, set.get(name));
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  setHashes.set(set, hash);
  return hash;
}

/** A resource set from a list in which null stands for "not produced". */
export function toResourceSet(resources: readonly (EncodedResource | null)[]): ResourceSet {
  const set = new Map<string, EncodedResource>();
  for (const r of resources) if (r !== null) set.set(r.name, r);
  return set;
}

/** SHA-256 of the DER inside a PEM block (hex); what dumps show in place of certificate material. */
export function pemFingerprint(pem: string): string {
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return createHash('sha256').update(Buffer.from(body, 'base64')).digest('hex');
}

/** google.protobuf.Any { type_url = 1; value = 2 } written by hand: two length-delimited fields. */
export function encodeAnyBytes(typeUrl: string, value: Uint8Array): Uint8Array {
  const url = Buffer.from(typeUrl, 'utf8');
  const any = Buffer.allocUnsafe(anySize(url, value.length));
  any.set(value, writeAnyHeader(any, url, value.length));
  return any;
}

/** Bytes of a google.protobuf.Any { type_url = 1; value = 2 } whose value is `valueSize` bytes long. */
function anySize(url: Uint8Array, valueSize: number): number {
  return fieldSize(url.length) + fieldSize(valueSize);
}

/** Writes an Any's type URL and its value's key and length at the start of `out`; returns where the value goes. */
function writeAnyHeader(out: Uint8Array, url: Uint8Array, valueSize: number): number {
  const at = writeFieldHeader(out, 0, 1, url.length);
  out.set(url, at);
  return writeFieldHeader(out, at + url.length, 2, valueSize);
}

/** Bytes of a length-delimited field (number below 16, so a one-byte key) holding `len` bytes. */
export function fieldSize(len: number): number {
  return 1 + varintSize(len) + len;
}

/** Writes a length-delimited field's key (field number below 16) and length at `at`; returns where its value goes. */
export function writeFieldHeader(out: Uint8Array, at: number, field: number, len: number): number {
  out[at] = (field << 3) | 2;
  return writeVarint(out, at + 1, len);
}

export function varint(n: number): Buffer {
  const out = Buffer.allocUnsafe(varintSize(n));
  writeVarint(out, 0, n);
  return out;
}
