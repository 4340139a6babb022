/**
 * The xDS envelope as simulated proxies see it: responses decoded down to type, version, nonce and the
 * resources' names and Any type URLs; requests (subscriptions, ACKs, NACKs) written by hand. Clusters and
 * listeners are walked only for the names Envoy would subscribe to next (EDS service names, RDS route
 * configs, SDS secrets), the way Envoy learns them.
 */
import { envoyType } from '@weft/protos';
import type * as protobuf from 'protobufjs';
import { firstString, path, str, subs, varintField, walk, Writer, WIRE_LEN } from './pb.js';

export const T = {
  SDS: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
  CDS: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  EDS: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  LDS: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  RDS: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
} as const;
/** Index of each type in reports (small numbers travel cheaper than URLs). */
export const TYPE_ORDER: readonly string[] = [T.SDS, T.CDS, T.EDS, T.LDS, T.RDS];
export const TYPE_LABEL: readonly string[] = ['SDS', 'CDS', 'EDS', 'LDS', 'RDS'];

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

export interface ResourceRef {
  readonly name: string;
  /** Delta only: the resource version. */
  readonly version: string;
  /** [start, end) of the resource's Any value payload in the response buffer. */
  readonly value: readonly [number, number];
}

export interface Envelope {
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly resources: readonly ResourceRef[];
  readonly removed: readonly string[];
  /** Set when a resource's Any type URL differs from the response's: the proxy NACKs. */
  readonly problem: string | undefined;
}

/** Decodes a DiscoveryResponse (sotw) or DeltaDiscoveryResponse (delta) envelope. */
export function decodeResponse(buf: Uint8Array, delta: boolean): Envelope {
  let typeUrl = '';
  let version = '';
  let nonce = '';
  const anys: { name: string; version: string; any: [number, number] }[] = [];
  const removed: string[] = [];
  walk(buf, 0, buf.length, (f, w, s, e) => {
    if (w !== WIRE_LEN) return;
    if (f === 1) version = str(buf, s, e);
    else if (f === 4) typeUrl = str(buf, s, e);
    else if (f === 5) nonce = str(buf, s, e);
    else if (f === 2) {
      if (delta) {
        // envoy.service.discovery.v3.Resource: version = 1, resource = 2 (Any), name = 3
        const any = subs(buf, s, e, 2)[0];
        anys.push({ name: firstString(buf, s, e, 3) ?? '', version: firstString(buf, s, e, 1) ?? '', any: any ?? [s, s] });
      } else anys.push({ name: '', version: '', any: [s, e] });
    } else if (f === 6 && delta) removed.push(str(buf, s, e));
  });
  let problem: string | undefined;
  const resources: ResourceRef[] = [];
  for (const a of anys) {
    const url = firstString(buf, a.any[0], a.any[1], 1) ?? '';
    const value = subs(buf, a.any[0], a.any[1], 2)[0] ?? [a.any[1], a.any[1]];
    if (url !== typeUrl && problem === undefined) problem = `resource of type "${url}" in a ${typeUrl} response`;
    // Every xDS resource type Weft serves has its name in field 1 (ClusterLoadAssignment: cluster_name).
    const name = a.name !== '' ? a.name : (firstString(buf, value[0], value[1], 1) ?? '');
    resources.push({ name, version: a.version, value });
  }
  return { typeUrl, version, nonce, resources, removed, problem };
}

/** SDS secret names a CommonTlsContext refers to. */
function tlsSecretNames(buf: Uint8Array, s: number, e: number, out: Set<string>): void {
  for (const [a, b] of path(buf, s, e, [6])) addName(buf, a, b, out);
  for (const [a, b] of path(buf, s, e, [7])) addName(buf, a, b, out);
  for (const [a, b] of path(buf, s, e, [8, 2])) addName(buf, a, b, out);
}

function addName(buf: Uint8Array, s: number, e: number, out: Set<string>): void {
  const n = firstString(buf, s, e, 1);
  if (n !== undefined && n !== '') out.add(n);
}

/** TransportSocket -> typed_config Any -> (Upstream|Downstream)TlsContext.common_tls_context secrets. */
function transportSocketSecrets(buf: Uint8Array, s: number, e: number, out: Set<string>): void {
  for (const [a, b] of path(buf, s, e, [3, 2, 1])) tlsSecretNames(buf, a, b, out);
}

export interface ClusterRefs {
  readonly eds: string | undefined;
  readonly secrets: readonly string[];
}

/** What a Cluster makes Envoy subscribe to: its EDS service name (EDS clusters) and its SDS secrets. */
export function clusterRefs(buf: Uint8Array, value: readonly [number, number]): ClusterRefs {
  const [s, e] = value;
  const name = firstString(buf, s, e, 1) ?? '';
  const type = varintField(buf, s, e, 2);
  let eds: string | undefined;
  if (type === 3) eds = path(buf, s, e, [3]).map(([a, b]) => firstString(buf, a, b, 2))[0] || name;
  const secrets = new Set<string>();
  for (const [a, b] of path(buf, s, e, [24])) transportSocketSecrets(buf, a, b, secrets);
  return { eds, secrets: [...secrets] };
}

export interface ListenerRefs {
  readonly routes: readonly string[];
  readonly secrets: readonly string[];
}

/** What a Listener makes Envoy subscribe to: RDS route configs of its HCMs and SDS secrets of its chains. */
export function listenerRefs(buf: Uint8Array, value: readonly [number, number]): ListenerRefs {
  const [s, e] = value;
  const routes = new Set<string>();
  const secrets = new Set<string>();
  const chains = [...path(buf, s, e, [3]), ...path(buf, s, e, [25])];
  for (const [a, b] of chains) {
    for (const [ts, te] of path(buf, a, b, [6])) transportSocketSecrets(buf, ts, te, secrets);
    for (const [fa, fb] of path(buf, a, b, [3, 4])) {
      if (firstString(buf, fa, fb, 1) !== HCM) continue;
      for (const [va, vb] of path(buf, fa, fb, [2, 3])) {
        const rc = firstString(buf, va, vb, 2);
        if (rc !== undefined && rc !== '') routes.add(rc);
      }
    }
  }
  return { routes: [...routes], secrets: [...secrets] };
}

/** The types a proxy subscribes to by name, as Envoy does: EDS from clusters, RDS from listeners, SDS from both. */
export const NAMED = [T.EDS, T.RDS, T.SDS] as const;

/** What a proxy sends for one named type whose names changed. */
export interface NamesChange {
  readonly typeUrl: string;
  readonly subscribe: string[];
  readonly unsubscribe: string[];
}

/**
 * The names the clusters and listeners refer to, against the names subscribed so far (`names`: type ->
 * sorted names, updated here): one change for each NAMED type whose names differ, in NAMED order.
 */
export function namesChanged(names: Map<string, string[]>, clusters: Iterable<ClusterRefs>, listeners: Iterable<ListenerRefs>): NamesChange[] {
  const want = new Map<string, Set<string>>(NAMED.map((t) => [t, new Set<string>()]));
  for (const c of clusters) {
    if (c.eds !== undefined) want.get(T.EDS)!.add(c.eds);
    for (const s of c.secrets) want.get(T.SDS)!.add(s);
  }
  for (const l of listeners) {
    for (const r of l.routes) want.get(T.RDS)!.add(r);
    for (const s of l.secrets) want.get(T.SDS)!.add(s);
  }
  const changes: NamesChange[] = [];
  for (const t of NAMED) {
    const next = [...want.get(t)!].sort();
    const prev = names.get(t) ?? [];
    if (next.length === prev.length && next.every((n, i) => n === prev[i])) continue;
    names.set(t, next);
    const before = new Set(prev);
    const after = new Set(next);
    changes.push({ typeUrl: t, subscribe: next.filter((n) => !before.has(n)), unsubscribe: prev.filter((n) => !after.has(n)) });
  }
  return changes;
}

/**
 * envoy.config.core.v3.Node as Envoy fills it from its bootstrap and build: id, cluster, user agent, build
 * version and client features. Envoy also lists its compiled-in extensions (a few hundred entries); they are
 * left out here and from every system alike. Encoded once per proxy with the generated codec.
 */
export function encodeNode(id: string, cluster = ''): Buffer {
  const t = envoyType('envoy.config.core.v3.Node');
  return Buffer.from(
    t
      .encode(
        t.fromObject({
          id,
          cluster,
          userAgentName: 'envoy',
          userAgentBuildVersion: { version: { majorNumber: 1, minorNumber: 31, patch: 2 }, metadata: { fields: { 'revision.status': { stringValue: 'RELEASE' }, 'ssl.version': { stringValue: 'BoringSSL' } } } },
          clientFeatures: ['envoy.config.require-any-fields-contain-struct', 'envoy.lb.does_not_support_overprovisioning', 'envoy.lrs.supports_send_all_clusters'],
        }),
      )
      .finish(),
  );
}

const nodeCache = new Map<string, Buffer>();
function node(id: string): Buffer {
  let b = nodeCache.get(id);
  if (b === undefined) {
    b = new Writer().string(1, id).finish();
    nodeCache.set(id, b);
  }
  return b;
}

const typeCache = new Map<string, protobuf.Type | null>();
function typeOf(url: string): protobuf.Type | null {
  let t = typeCache.get(url);
  if (t === undefined) {
    try {
      t = envoyType(url);
    } catch {
      t = null;
    }
    typeCache.set(url, t);
  }
  return t;
}

/** Decodes every Any nested in a decoded message (typed_config of filters, transport sockets, ...). */
function unpackNested(v: unknown, depth: number): number {
  if (depth > 64 || v === null || typeof v !== 'object' || v instanceof Uint8Array) return 0;
  if (Array.isArray(v)) {
    let n = 0;
    for (const x of v) n += unpackNested(x, depth + 1);
    return n;
  }
  const o = v as Record<string, unknown>;
  const url = (o.type_url ?? o.typeUrl) as unknown;
  if (typeof url === 'string' && o.value instanceof Uint8Array) {
    const t = typeOf(url);
    if (t === null) return 0; // an extension this codec does not know; Envoy would have it compiled in
    return 1 + unpackNested(t.decode(o.value), depth + 1);
  }
  let n = 0;
  for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) n += unpackNested(o[k], depth + 1);
  return n;
}

/**
 * Decodes every resource of a response into its Envoy type, as a real client does before it uses them:
 * the protobufjs reflection codec of @weft/protos (`envoyType()`; protobufjs generates each type's decoder
 * once, so this is the cheapest full decoder at hand), every nested Any decoded too. Returns the number of
 * messages decoded; throws on a resource that does not decode.
 */
export function decodeResources(buf: Uint8Array, env: Envelope): number {
  const t = typeOf(env.typeUrl);
  if (t === null) throw new Error(`no Envoy type for ${env.typeUrl}`);
  let n = 0;
  for (const r of env.resources) {
    const m = t.decode(buf.subarray(r.value[0], r.value[1]));
    n += 1 + unpackNested(m, 0);
  }
  return n;
}

export interface SotwRequest {
  readonly nodeId?: string;
  /** An encoded envoy.config.core.v3.Node (takes precedence over `nodeId`). */
  readonly node?: Uint8Array;
  readonly typeUrl: string;
  readonly version?: string;
  readonly names?: readonly string[];
  readonly nonce?: string;
  readonly error?: string;
}

export function encodeSotwRequest(r: SotwRequest): Buffer {
  const w = new Writer().stringIfSet(1, r.version);
  if (r.node !== undefined) w.bytes(2, r.node);
  else if (r.nodeId !== undefined) w.bytes(2, node(r.nodeId));
  for (const n of r.names ?? []) w.string(3, n);
  w.string(4, r.typeUrl).stringIfSet(5, r.nonce);
  // google.rpc.Status { code = 1, message = 2 }: INVALID_ARGUMENT
  if (r.error !== undefined) w.bytes(6, new Writer().uint(1, 3).string(2, r.error).finish());
  return w.finish();
}

export interface DeltaRequest {
  readonly nodeId?: string;
  /** An encoded envoy.config.core.v3.Node (takes precedence over `nodeId`). */
  readonly node?: Uint8Array;
  readonly typeUrl: string;
  readonly subscribe?: readonly string[];
  readonly unsubscribe?: readonly string[];
  readonly nonce?: string;
  readonly error?: string;
}

export function encodeDeltaRequest(r: DeltaRequest): Buffer {
  const w = new Writer();
  if (r.node !== undefined) w.bytes(1, r.node);
  else if (r.nodeId !== undefined) w.bytes(1, node(r.nodeId));
  w.string(2, r.typeUrl);
  for (const n of r.subscribe ?? []) w.string(3, n);
  for (const n of r.unsubscribe ?? []) w.string(4, n);
  w.stringIfSet(6, r.nonce);
  if (r.error !== undefined) w.bytes(7, new Writer().uint(1, 3).string(2, r.error).finish());
  return w.finish();
}

/** The parts of a request the floor server needs. */
export interface RequestEnvelope {
  readonly nodeId: string | undefined;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly names: readonly string[];
  readonly error: boolean;
}

export function decodeRequest(buf: Uint8Array, delta: boolean): RequestEnvelope {
  let nodeId: string | undefined;
  let typeUrl = '';
  let nonce = '';
  let error = false;
  const names: string[] = [];
  const F = delta ? { node: 1, type: 2, names: 3, nonce: 6, error: 7 } : { node: 2, type: 4, names: 3, nonce: 5, error: 6 };
  walk(buf, 0, buf.length, (f, w, s, e) => {
    if (w !== WIRE_LEN) return;
    if (f === F.node) nodeId = firstString(buf, s, e, 1);
    else if (f === F.type) typeUrl = str(buf, s, e);
    else if (f === F.names) names.push(str(buf, s, e));
    else if (f === F.nonce) nonce = str(buf, s, e);
    else if (f === F.error) error = true;
  });
  return { nodeId, typeUrl, nonce, names, error };
}

/** DiscoveryResponse assembled from pre-encoded Any bytes. */
export function encodeSotwResponse(typeUrl: string, version: string, nonce: string, anys: readonly Uint8Array[]): Buffer {
  const w = new Writer().string(1, version);
  for (const a of anys) w.bytes(2, a);
  return w.string(4, typeUrl).string(5, nonce).finish();
}

/** DeltaDiscoveryResponse assembled from pre-encoded Any bytes. */
export function encodeDeltaResponse(
  typeUrl: string,
  nonce: string,
  resources: readonly { name: string; version: string; any: Uint8Array }[],
  removed: readonly string[],
): Buffer {
  const w = new Writer();
  for (const r of resources) w.bytes(2, new Writer().string(1, r.version).bytes(2, r.any).string(3, r.name).finish());
  w.string(4, typeUrl).string(5, nonce);
  for (const n of removed) w.string(6, n);
  return w.finish();
}
