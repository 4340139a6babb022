import { createHash } from 'node:crypto';
import { envoyType } from '@weft/protos';
import { Type } from 'protobufjs';
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
  const type = envoyType(typeUrl);
  const value = type.encode(type.fromObject(pack(message) as Msg)).finish();
  const any = encodeAnyBytes(typeUrl, value);
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
  const type = envoyType(typeUrl);
  return { typeUrl, type_url: typeUrl, value: type.encode(type.fromObject(pack(message) as Msg)).finish() };
}

/** Turns inline `{ '@type': ... }` Anys of a tree into packed ones. */
function pack(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pack);
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const out: Msg = {};
  let typeUrl: string | undefined;
  for (const [k, v] of Object.entries(value as Msg)) {
    if (k === '@type') typeUrl = String(v);
    else out[k] = pack(v);
  }
  return typeUrl === undefined ? out : packAny(typeUrl, out);
}

/**
 * protobufjs drops fields it does not know; a misspelt field would vanish from the config without a trace.
 * Every field name of a translator's tree is therefore checked against the schema before encoding.
 */
export function checkFields(typeUrl: string, tree: unknown, path = ''): void {
  walkFields(envoyType(typeUrl), tree, path === '' ? typeUrl.slice(typeUrl.lastIndexOf('.') + 1) : path);
}

function isPackedAny(value: Msg): boolean {
  return value['value'] instanceof Uint8Array && (typeof value['type_url'] === 'string' || typeof value['typeUrl'] === 'string');
}

function walkFields(type: Type, value: unknown, path: string): void {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || Array.isArray(value)) return;
  const msg = value as Msg;
  if (type.fullName === '.google.protobuf.Any') {
    if (isPackedAny(msg)) return;
    const url = msg['@type'];
    if (typeof url !== 'string') throw new TypeError(`${path}: an Any needs '@type'`);
    walkFields(envoyType(url), value, `${path}<${url.slice(url.lastIndexOf('.') + 1)}>`);
    return;
  }
  for (const [key, v] of Object.entries(msg)) {
    if (key === '@type') continue;
    const field = type.fields[key];
    if (field === undefined) throw new TypeError(`${path}.${key}: ${type.fullName.slice(1)} has no field "${key}"`);
    field.resolve();
    const sub = field.resolvedType;
    if (!(sub instanceof Type)) continue;
    if (field.map) for (const [k, item] of Object.entries(v as Msg)) walkFields(sub, item, `${path}.${key}[${k}]`);
    else if (Array.isArray(v)) v.forEach((item, i) => walkFields(sub, item, `${path}.${key}[${i}]`));
    else walkFields(sub, v, `${path}.${key}`);
  }
}

/** A resource set's version: its names and versions; two sets with the same members are the same. */
export function hashResourceSet(set: ResourceSet): string {
  const h = createHash('sha256');
  for (const name of [...set.keys()].sort()) h.update(`${name}\u0000${set.get(name)?.version ?? ''}\n`);
  return h.digest('hex').slice(0, 16);
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
  const parts = [Buffer.from([0x0a]), varint(url.length), url, Buffer.from([0x12]), varint(value.length), value];
  return Buffer.concat(parts);
}

export function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}
