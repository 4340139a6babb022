/**
 * Building and encoding Envoy messages. Translators write plain trees in protobufjs object form (camelCase
 * fields, enums by name) with nested Any values written as `{ '@type': <type URL>, ...fields }`, which is
 * also the proto3 JSON form of Any: the tree a translator builds is the readable dump shown in goldens and
 * config dumps, and `encode` turns it into bytes once.
 */
import { createHash } from 'node:crypto';
import { encodeResource, packAny, type EncodedResource, type ResourceSet } from '@weft/core';
import { envoyType } from '@weft/protos';
import type { Type } from 'protobufjs';

export type Msg = Record<string, unknown>;

export const T = {
  HCM: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  Router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  HttpRbac: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  HttpRbacPerRoute: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute',
  UpstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  DownstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
} as const;

/** Resources referenced from another resource arrive on the same ADS stream. */
export const ADS: Msg = { ads: {}, resourceApiVersion: 'V3' };

export function typedAny(typeUrl: string, message: Msg): Msg {
  return { '@type': typeUrl, ...message };
}

export const u32 = (value: number): Msg => ({ value });

export function durationMs(ms: number): Msg {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

function pack(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pack);
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const out: Msg = {};
  let typeUrl: string | undefined;
  for (const [k, v] of Object.entries(value as Msg)) {
    if (k === '@type') typeUrl = String(v);
    else out[k] = pack(v);
  }
  return typeUrl === undefined ? out : packAny(typeUrl, envoyType(typeUrl).fromObject(out));
}

/**
 * protobufjs drops fields it does not know, so a misspelt field would vanish without a trace; every field
 * of a tree is checked against the schema before it is encoded.
 */
export function checkFields(typeUrl: string, tree: unknown, label: string): void {
  walk(envoyType(typeUrl), tree, label);
}

function walk(type: Type, value: unknown, at: string): void {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || Array.isArray(value)) return;
  if (type.fullName === '.google.protobuf.Any') {
    const url = (value as Msg)['@type'];
    if (typeof url !== 'string') throw new TypeError(`${at}: a nested Any needs '@type'`);
    walk(envoyType(url), value, `${at}<${url.slice(url.lastIndexOf('.') + 1)}>`);
    return;
  }
  for (const [key, v] of Object.entries(value as Msg)) {
    if (key === '@type') continue;
    const field = type.fields[key];
    if (field === undefined) throw new TypeError(`${at}.${key}: ${type.fullName.slice(1)} has no field "${key}"`);
    field.resolve();
    const sub = field.resolvedType;
    if (sub === null || !('fields' in sub)) continue;
    if (field.map) for (const [k, item] of Object.entries(v as Msg)) walk(sub, item, `${at}.${key}[${k}]`);
    else if (Array.isArray(v)) v.forEach((item, i) => walk(sub, item, `${at}.${key}[${i}]`));
    else walk(sub, v, `${at}.${key}`);
  }
}

/** Checks, packs and encodes a resource once; its dump is the translator's own tree. */
export function encode(typeUrl: string, name: string, message: Msg): EncodedResource {
  checkFields(typeUrl, message, name);
  return encodeResource(typeUrl, name, envoyType(typeUrl).fromObject(pack(message) as Msg), message);
}

export function hashResource(r: EncodedResource | null): string {
  return r === null ? '-' : `${r.name}@${r.version}`;
}

/** A set's version is its members' names and versions. */
export function hashSet(set: ResourceSet): string {
  const h = createHash('sha256');
  for (const name of [...set.keys()].sort()) h.update(`${name}\u0000${set.get(name)?.version ?? ''}\n`);
  return h.digest('hex').slice(0, 16);
}

export function toSet(resources: Iterable<EncodedResource | null>): ResourceSet {
  const set = new Map<string, EncodedResource>();
  for (const r of resources) if (r !== null) set.set(r.name, r);
  return set;
}

export function byName<T extends { readonly name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
