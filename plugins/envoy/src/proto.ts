import { createHash } from 'node:crypto';
import { encodeResource, packAny, type EncodedResource, type ResourceSet } from '@weft/core';
import { envoyType } from '@weft/protos';
import { Type } from 'protobufjs';

/** A message in protobufjs object form (camelCase fields, enums by name, nested Any from `packAny`). */
export type Msg = Record<string, unknown>;

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

/**
 * Nested typed configs are written as `{ '@type': <type URL>, ...fields }` (the proto3 JSON form of Any), so
 * the tree a translator builds is also the readable dump; `pack` turns them into real Any values for encoding.
 */
export function typedAny(typeUrl: string, message: Msg): Msg {
  return { '@type': typeUrl, ...message };
}

export function pack(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pack);
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const out: Msg = {};
  let typeUrl: string | undefined;
  for (const [k, v] of Object.entries(value as Msg)) {
    if (k === '@type') typeUrl = String(v);
    else out[k] = pack(v);
  }
  return typeUrl === undefined ? out : packAny(typeUrl, fromObject(typeUrl, out));
}

/** Encodes once; the dump is the translator's own tree (nested typed configs shown with '@type'). */
export function encode(typeUrl: string, name: string, message: Msg): EncodedResource {
  checkFields(typeUrl, message, name);
  return encodeResource(typeUrl, name, fromObject(typeUrl, pack(message) as Msg), message);
}

/**
 * encodeResource and packAny verify runtime message form (enums as numbers); translators write object form
 * (enums by name), so convert first. Unknown fields are caught by the golden tests and the Envoy checker.
 */
function fromObject(typeUrl: string, message: Msg): object {
  return envoyType(typeUrl).fromObject(message);
}

/**
 * protobufjs drops fields it does not know; a misspelt field would vanish from the config without a trace.
 * Every field name of a translator's tree is therefore checked against the schema before encoding.
 */
export function checkFields(typeUrl: string, tree: unknown, path = ''): void {
  walkFields(envoyType(typeUrl), tree, path === '' ? typeUrl.slice(typeUrl.lastIndexOf('.') + 1) : path);
}

function walkFields(type: Type, value: unknown, path: string): void {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || Array.isArray(value)) return;
  if (type.fullName === '.google.protobuf.Any') {
    const url = (value as Msg)['@type'];
    if (typeof url !== 'string') throw new TypeError(`${path}: an Any needs '@type'`);
    walkFields(envoyType(url), value, `${path}<${url.slice(url.lastIndexOf('.') + 1)}>`);
    return;
  }
  for (const [key, v] of Object.entries(value as Msg)) {
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

/** Encodes with an explicit dump (secrets: fingerprints instead of key material). */
export function encodeRedacted(typeUrl: string, name: string, message: Msg, dump: unknown): EncodedResource {
  checkFields(typeUrl, message, name);
  return encodeResource(typeUrl, name, fromObject(typeUrl, message), dump);
}

export function hashResource(r: EncodedResource | null): string {
  return r === null ? '-' : `${r.name}@${r.version}`;
}

/** A resource set's version: its names and versions; two sets with the same members are the same. */
export function hashSet(set: ResourceSet): string {
  const h = createHash('sha256');
  for (const name of [...set.keys()].sort()) h.update(`${name}\u0000${set.get(name)?.version ?? ''}\n`);
  return h.digest('hex').slice(0, 16);
}

export function toSet(resources: readonly (EncodedResource | null)[]): ResourceSet {
  const set = new Map<string, EncodedResource>();
  for (const r of resources) if (r !== null) set.set(r.name, r);
  return set;
}

/** SHA-256 of the DER inside a PEM block (hex); what dumps show in place of certificate material. */
export function pemFingerprint(pem: string): string {
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return createHash('sha256').update(Buffer.from(body, 'base64')).digest('hex');
}
