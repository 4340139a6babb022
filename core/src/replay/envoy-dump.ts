import type { DepKey, MeshView, Provenance } from '../catalog/types.js';
import { compareStrings } from '../derive/canonical.js';
import type { DerivationResult } from '../derive/types.js';
import { RESOURCE_KINDS, keyOf, type ResourceKind } from '../model/types.js';
import { TypeUrl, type EncodedResource, type ResourceSet } from '../xds/adapter.js';
import { anyBytesToCanonicalJson, timestampFromMillis, type JsonObject, type JsonValue, type TransformContext } from '../xds/canonical-json.js';
import { hashResourceSet, pemFingerprint } from '../xds/encode.js';
import { REDACTED_VERSION } from './dump.js';

/**
 * A proxy's config in the shape of Envoy's own admin `/config_dump` (envoy.admin.v3.ConfigDump), in canonical
 * proto3 JSON with Envoy's field names (snake_case): what `weft replay --format json` and
 * `/debug/proxies/<id>/config` print, so that Weft's view of a proxy diffs against the proxy's admin output
 * with ordinary tools (jq, diff) and is read by protojson.
 *
 * - `configs` in Envoy's order: clusters, endpoints, listeners, routes, secrets (Envoy prints endpoints only
 *   with `?include_eds`); resources by name.
 * - `version_info` of a resource is its content version (the delta-xDS version: what an Envoy on delta xDS
 *   shows); the `version_info` of the listeners and clusters dumps is the version of the whole set (what an
 *   Envoy on state-of-the-world xDS shows as the last LDS/CDS version). A secret's reads "redacted": it is a
 *   hash of bytes holding the key.
 * - `last_updated` is the time of the log event that produced the resource's current version: the latest
 *   event behind anything its derivation read (what `--explain` lists). Never the wall clock, so replay
 *   stays deterministic. Absent when nothing on the log produced it.
 * - No key material: fields Envoy marks sensitive (private keys) read "[redacted]" as in Envoy's admin, and
 *   certificates read as fingerprints (`inline_string`), taken from the adapter's readable dump when it has
 *   them (replay has no certificate bytes, only their fingerprints), else from the PEM blocks.
 */

export type EnvoyConfigDump = JsonObject & { readonly configs: JsonObject[] };

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';

/** The derivation engine as far as finding a resource's producer goes (Engine has both). */
export interface ReadGraph {
  readSet(id: string): readonly string[];
  peek(id: string): DerivationResult<unknown> | undefined;
}

/** The catalog as far as provenance goes. */
export type ProvenanceView = Pick<MeshView, 'list'> & { provenance(key: DepKey): Provenance | undefined };

export interface EnvoyDumpInput {
  /** The proxy's resources by type URL (types Envoy's dump has no section for are left out). */
  readonly sets: ReadonlyMap<string, ResourceSet>;
  /** The root derivation id of each type's set, in the engine `graph`. */
  readonly roots: ReadonlyMap<string, string>;
  readonly graph: ReadGraph;
  readonly view: ProvenanceView;
}

export function envoyConfigDump(input: EnvoyDumpInput): EnvoyConfigDump {
  const all = new Set<EncodedResource>();
  for (const set of input.sets.values()) for (const r of set.values()) all.add(r);
  const produced = producedAt(input.graph, input.view, input.roots, all);
  const sorted = (typeUrl: string): EncodedResource[] => {
    const set = input.sets.get(typeUrl) ?? new Map<string, EncodedResource>();
    return [...set.keys()].sort(compareStrings).map((n) => set.get(n)!);
  };
  const updated = (r: EncodedResource): JsonObject => {
    const p = produced.get(r);
    return p === undefined ? {} : { last_updated: timestampFromMillis(p.time) };
  };
  const setVersion = (typeUrl: string): JsonObject => {
    const set = input.sets.get(typeUrl);
    return set === undefined || set.size === 0 ? {} : { version_info: hashResourceSet(set) };
  };
  const section = (name: string, fields: JsonObject, list: string, items: JsonValue[]): JsonObject => ({
    '@type': `${ADMIN}${name}`,
    ...fields,
    ...(items.length === 0 ? {} : { [list]: items }),
  });

  const clusters = sorted(TypeUrl.Cluster).map((r) => ({ version_info: r.version, cluster: canonicalResource(r), ...updated(r) }));
  const endpoints = sorted(TypeUrl.ClusterLoadAssignment).map((r) => ({ version_info: r.version, endpoint_config: canonicalResource(r), ...updated(r) }));
  const listeners = sorted(TypeUrl.Listener).map((r) => ({
    name: r.name,
    active_state: { version_info: r.version, listener: canonicalResource(r), ...updated(r) },
  }));
  const routes = sorted(TypeUrl.RouteConfiguration).map((r) => ({ version_info: r.version, route_config: canonicalResource(r), ...updated(r) }));
  const secrets = sorted(TypeUrl.Secret).map((r) => ({ name: r.name, version_info: REDACTED_VERSION, ...updated(r), secret: canonicalResource(r) }));
  return {
    configs: [
      section('ClustersConfigDump', setVersion(TypeUrl.Cluster), 'dynamic_active_clusters', clusters),
      section('EndpointsConfigDump', {}, 'dynamic_endpoint_configs', endpoints),
      section('ListenersConfigDump', setVersion(TypeUrl.Listener), 'dynamic_listeners', listeners),
      section('RoutesConfigDump', {}, 'dynamic_route_configs', routes),
      section('SecretsConfigDump', {}, 'dynamic_active_secrets', secrets),
    ],
  };
}

/**
 * One resource in canonical JSON (`{"@type", ...fields}`), from the bytes the proxy is sent, with key
 * material replaced: see the module comment. The adapter's readable dump rides along as the shadow tree.
 */
export function canonicalResource(r: EncodedResource): JsonObject {
  return anyBytesToCanonicalJson(r.any, { shadow: r.dump, transform: redactDataSource });
}

const DATA_SOURCE = '.envoy.config.core.v3.DataSource';
const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?-----END [A-Z0-9 ]+-----/g;

/** Certificates (a DataSource holding PEM, or one the adapter's dump shows redacted) as fingerprints. */
function redactDataSource(ctx: TransformContext): JsonValue | undefined {
  // Sensitive fields (private keys) are redacted by the converter as Envoy does.
  if (ctx.sensitive || ctx.type.fullName !== DATA_SOURCE) return undefined;
  if (ctx.shadow !== undefined && !isMessageOf(ctx.shadow, ctx.type.fields)) return { inline_string: describeRedacted(ctx.shadow) };
  const v = ctx.value as { inlineBytes?: unknown; inlineString?: unknown };
  const inline = Object.prototype.hasOwnProperty.call(v, 'inlineBytes')
    ? Buffer.from(v.inlineBytes as Uint8Array).toString('utf8')
    : Object.prototype.hasOwnProperty.call(v, 'inlineString')
      ? String(v.inlineString)
      : undefined;
  const blocks = inline?.match(PEM_BLOCK);
  if (blocks === undefined || blocks === null) return undefined;
  return { inline_string: `sha256=${blocks.map(pemFingerprint).join(',')}` };
}

function isMessageOf(value: unknown, fields: Record<string, unknown>): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array) && Object.keys(value).every((k) => k in fields);
}

/** An adapter's redacted stand-in as one line: `sha256=ab.. serial=.. notAfter=..`, or the text itself. */
function describeRedacted(value: unknown): string {
  if (typeof value !== 'object' || value === null) return String(value);
  if (Array.isArray(value)) return value.map(describeRedacted).join(',');
  return Object.entries(value)
    .filter(([, v]) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}=${typeof v === 'object' && !Array.isArray(v) ? JSON.stringify(v) : describeRedacted(v)}`)
    .join(' ');
}

function isEncoded(v: unknown): v is EncodedResource {
  return v !== null && typeof v === 'object' && 'any' in v && 'typeUrl' in v && 'version' in v && 'name' in v;
}

function later(a: Provenance | undefined, b: Provenance | undefined): Provenance | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.offset > a.offset ? b : a;
}

/**
 * For each resource, the latest log event behind what produced it: the innermost derivation whose value is
 * the resource (encoded once, so found by identity), then everything it read, transitively, through the
 * catalog's provenance. A resource whose producer is not found falls back to its type's root.
 */
export function producedAt(
  graph: ReadGraph,
  view: ProvenanceView,
  roots: ReadonlyMap<string, string>,
  resources: ReadonlySet<EncodedResource>,
): Map<EncodedResource, Provenance> {
  const producer = new Map<EncodedResource, string>();
  const visited = new Set<string>();
  const visit = (id: string): void => {
    if (visited.has(id)) return;
    visited.add(id);
    for (const k of graph.readSet(id)) if (k.startsWith('d:')) visit(k.slice(2));
    // Children first: a derivation that passes a child's resource through is not its producer.
    const v = graph.peek(id)?.value;
    if (isEncoded(v) && resources.has(v) && !producer.has(v)) producer.set(v, id);
  };
  for (const id of roots.values()) visit(id);

  const kinds = new Map<string, Provenance | undefined>();
  const keyProvenance = (k: string): Provenance | undefined => {
    if (k.startsWith('r:') || k.startsWith('i:')) return view.provenance(k as DepKey);
    if (k.startsWith('x:cert/')) return view.provenance(`r:CertificateIssued/${k.slice('x:cert/'.length)}` as DepKey);
    if (k.startsWith('k:')) {
      // A list read depends on every resource of the kind.
      const kind = k.slice(2);
      if (!kinds.has(kind)) {
        let p: Provenance | undefined;
        if ((RESOURCE_KINDS as readonly string[]).includes(kind)) {
          for (const r of view.list(kind as ResourceKind) as readonly { meta: { namespace: string; name: string } }[]) {
            p = later(p, view.provenance(`r:${kind}/${keyOf(r.meta)}` as DepKey));
          }
        }
        kinds.set(kind, p);
      }
      return kinds.get(kind);
    }
    return undefined; // externals not on the log (the trust bundle)
  };
  const latest = new Map<string, Provenance | undefined>();
  const latestOf = (id: string): Provenance | undefined => {
    if (latest.has(id)) return latest.get(id);
    let p: Provenance | undefined;
    for (const k of graph.readSet(id)) p = later(p, k.startsWith('d:') ? latestOf(k.slice(2)) : keyProvenance(k));
    latest.set(id, p);
    return p;
  };
  const out = new Map<EncodedResource, Provenance>();
  for (const r of resources) {
    const id = producer.get(r) ?? roots.get(r.typeUrl);
    const p = id === undefined ? undefined : latestOf(id);
    if (p !== undefined) out.set(r, p);
  }
  return out;
}
