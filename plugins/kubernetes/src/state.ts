import {
  canonicalJsonOf,
  keyOf,
  MANIFEST_KINDS,
  normalizeManifest,
  WeftError,
  type EventInput,
  type ManifestError,
  type ResourceKind,
} from '@weft/core';
import { apiVersionOf, ENDPOINTS, type WatchedKind } from './kinds.js';
import { mergeSlices, SERVICE_NAME_LABEL, sliceOf, type Slice } from './slices.js';

/**
 * The pure half of the Kubernetes source: API objects -> normalized resources (through core's manifest
 * validation, so a bad object is refused with the same messages as in a file), the last good version of
 * each object, and the events that move what the log holds to what the cluster holds. No I/O here.
 */

export interface Held {
  readonly kind: ResourceKind;
  readonly key: string;
  readonly body: unknown;
}

export const idOf = (r: { readonly kind: string; readonly key: string }): string => `${r.kind}/${r.key}`;

/** An object the API server stored but the mesh cannot use as written; its last good version stays. */
export class KubernetesObjectRejected extends WeftError {
  readonly problems: readonly ManifestError[];
  constructor(readonly object: string, problems: readonly ManifestError[], reason?: string) {
    const what = reason ?? problems.map((p) => (p.path === '' ? p.rule : `${p.path}: ${p.rule}`)).join('; ');
    super('KUBERNETES_OBJECT_INVALID', `${object} rejected (its last good version stays in force): ${what}`);
    this.problems = problems;
  }
}

export type Normalized =
  | { readonly ok: true; readonly resource: Held }
  | { readonly ok: false; readonly id: string | null; readonly error: KubernetesObjectRejected };

interface ObjectMeta {
  readonly name?: unknown;
  readonly namespace?: unknown;
  readonly resourceVersion?: unknown;
}

const metaOf = (obj: unknown): ObjectMeta =>
  typeof obj === 'object' && obj !== null && typeof (obj as { metadata?: unknown }).metadata === 'object'
    ? ((obj as { metadata: ObjectMeta | null }).metadata ?? {})
    : {};

/** "TrafficSplit shop/web (resourceVersion 812)": how an object is named in errors and logs. */
export function describeObject(kind: WatchedKind, obj: unknown): string {
  const m = metaOf(obj);
  const name = typeof m.name === 'string' ? m.name : '<unnamed>';
  const ns = typeof m.namespace === 'string' && m.namespace !== '' ? `${m.namespace}/` : '';
  const rv = typeof m.resourceVersion === 'string' ? ` (resourceVersion ${m.resourceVersion})` : '';
  return `${kind.kind} ${ns}${name}${rv}`;
}

/** The resource id an object would have, from its metadata alone (known even when its spec is invalid). */
export function idOfObject(kind: WatchedKind, obj: unknown): string | null {
  const spec = MANIFEST_KINDS[kind.kind];
  const m = metaOf(obj);
  if (spec === undefined || typeof m.name !== 'string') return null;
  const namespace = spec.namespaced ? (typeof m.namespace === 'string' && m.namespace !== '' ? m.namespace : 'default') : '';
  return idOf({ kind: spec.resourceKind, key: keyOf({ namespace, name: m.name }) });
}

/** Validates one API object with core's manifest rules. List items carry no apiVersion/kind; they are filled in. */
export function normalizeObject(kind: WatchedKind, obj: unknown): Normalized {
  const described = describeObject(kind, obj);
  const withType = typeof obj === 'object' && obj !== null ? { ...obj, apiVersion: apiVersionOf(kind), kind: kind.kind } : obj;
  const r = normalizeManifest(withType, { file: described, document: 0 });
  const resource = r.resources[0];
  if (r.errors.length === 0 && resource !== undefined) {
    return { ok: true, resource: { kind: resource.kind, key: resource.key, body: resource.body } };
  }
  // WATCHED_KINDS lists only kinds MANIFEST_KINDS reads, so a result with neither errors nor a resource
  // would be a mismatch between the two lists, reported as such rather than dropped.
  const error =
    r.errors.length > 0
      ? new KubernetesObjectRejected(described, r.errors)
      : new KubernetesObjectRejected(described, [], `the model does not read ${apiVersionOf(kind)} ${kind.kind}`);
  return { ok: false, id: idOfObject(kind, obj), error };
}

/** Content equality of two bodies, as the log and catalog see them. */
export const sameBody = (a: unknown, b: unknown): boolean => canonicalJsonOf(a) === canonicalJsonOf(b);

/**
 * Events that turn `published` into `desired` for the given ids (all ids of both maps when omitted),
 * sorted by id so the same difference always makes the same batch.
 */
export function diffHeld(
  source: string,
  published: ReadonlyMap<string, Held>,
  desired: ReadonlyMap<string, Held>,
  ids?: Iterable<string>,
): EventInput[] {
  const all = ids === undefined ? new Set([...published.keys(), ...desired.keys()]) : new Set(ids);
  const events: EventInput[] = [];
  for (const id of [...all].sort()) {
    const want = desired.get(id);
    const have = published.get(id);
    if (want !== undefined) {
      if (have === undefined || !sameBody(have.body, want.body)) {
        events.push({ source, op: 'upsert', kind: want.kind, key: want.key, body: want.body });
      }
    } else if (have !== undefined) {
      events.push({ source, op: 'delete', kind: have.kind, key: have.key });
    }
  }
  return events;
}

export interface Applied {
  /** Ids whose desired state may have changed. */
  readonly touched: readonly string[];
  readonly rejected: readonly KubernetesObjectRejected[];
}

/**
 * What the cluster holds, as last good normalized resources. An invalid object leaves its id's last good
 * version (if any) in place; deleting the object removes it.
 */
export class ClusterState {
  readonly desired = new Map<string, Held>();
  /** EndpointSlices by "namespace/name", and the slices of each Service ("namespace/service"). */
  private readonly slices = new Map<string, Slice>();
  private readonly slicesOf = new Map<string, Set<string>>();

  /**
   * An object was added or modified. An invalid one keeps its id's last good version: the one held, else
   * the one in `fallback` (what the log holds, for the first list after a restart).
   */
  upsert(kind: WatchedKind, obj: unknown, fallback?: ReadonlyMap<string, Held>): Applied {
    if (kind.kind === 'EndpointSlice') return this.putSlice(obj, false, fallback);
    const n = normalizeObject(kind, obj);
    if (!n.ok) {
      const kept = n.id === null || this.desired.has(n.id) ? undefined : fallback?.get(n.id);
      if (kept === undefined || n.id === null) return { touched: [], rejected: [n.error] };
      this.desired.set(n.id, kept);
      return { touched: [n.id], rejected: [n.error] };
    }
    const id = idOf(n.resource);
    this.desired.set(id, n.resource);
    return { touched: [id], rejected: [] };
  }

  /** An object was deleted: its id goes, whatever its last version looked like. */
  remove(kind: WatchedKind, obj: unknown): Applied {
    if (kind.kind === 'EndpointSlice') return this.putSlice(obj, true);
    const id = idOfObject(kind, obj);
    if (id === null || !this.desired.has(id)) return { touched: [], rejected: [] };
    this.desired.delete(id);
    return { touched: [id], rejected: [] };
  }

  /**
   * A full list of one kind: ids of that kind missing from it are gone; invalid items keep their last
   * good version (from `desired`, or from `fallback`, what the log holds, on the first list).
   */
  replaceKind(kind: WatchedKind, items: readonly unknown[], fallback?: ReadonlyMap<string, Held>): Applied {
    if (kind.kind === 'EndpointSlice') return this.replaceSlices(items, fallback);
    const resourceKind = MANIFEST_KINDS[kind.kind]?.resourceKind;
    const seen = new Set<string>();
    const touched: string[] = [];
    const rejected: KubernetesObjectRejected[] = [];
    for (const obj of items) {
      const n = normalizeObject(kind, obj);
      if (n.ok) {
        const id = idOf(n.resource);
        seen.add(id);
        this.desired.set(id, n.resource);
        touched.push(id);
        continue;
      }
      rejected.push(n.error);
      if (n.id === null) continue;
      seen.add(n.id);
      touched.push(n.id);
      const kept = this.desired.get(n.id) ?? fallback?.get(n.id);
      if (kept !== undefined) this.desired.set(n.id, kept);
    }
    for (const [id, held] of this.desired) {
      if (held.kind === resourceKind && !seen.has(id)) {
        this.desired.delete(id);
        touched.push(id);
      }
    }
    return { touched, rejected };
  }

  /** A slice was added, changed (perhaps to another Service) or deleted: the Services it belongs to are merged again. */
  private putSlice(obj: unknown, deleted: boolean, fallback?: ReadonlyMap<string, Held>): Applied {
    const slice = sliceOf(obj);
    if (slice === undefined) return { touched: [], rejected: [] };
    const before = this.slices.get(slice.id);
    const services = new Set<string>();
    if (before !== undefined) {
      services.add(before.service);
      this.slicesOf.get(before.service)?.delete(slice.id);
      this.slices.delete(slice.id);
    }
    // A slice without the kubernetes.io/service-name label belongs to no Service the mesh knows of.
    if (!deleted && slice.service !== '') {
      this.slices.set(slice.id, slice);
      let of = this.slicesOf.get(slice.service);
      if (of === undefined) this.slicesOf.set(slice.service, (of = new Set()));
      of.add(slice.id);
      services.add(slice.service);
    }
    const touched: string[] = [];
    const rejected: KubernetesObjectRejected[] = [];
    for (const service of services) {
      const r = this.mergeService(service, fallback);
      touched.push(...r.touched);
      rejected.push(...r.rejected);
    }
    return { touched, rejected };
  }

  private replaceSlices(items: readonly unknown[], fallback?: ReadonlyMap<string, Held>): Applied {
    const listed = new Set(items.map((o) => sliceOf(o)?.id));
    const touched: string[] = [];
    const rejected: KubernetesObjectRejected[] = [];
    const add = (a: Applied): void => {
      touched.push(...a.touched);
      rejected.push(...a.rejected);
    };
    for (const [id, slice] of [...this.slices]) if (!listed.has(id)) add(this.putSlice({ metadata: { namespace: slice.namespace, name: slice.name } }, true));
    for (const obj of items) add(this.putSlice(obj, false, fallback));
    // Services whose slices are all gone since the log was written (a restart) are deleted by the caller's diff.
    return { touched: [...new Set(touched)], rejected };
  }

  /** The Endpoints resource of a Service from all its slices; an invalid merge keeps the last good one. */
  private mergeService(service: string, fallback?: ReadonlyMap<string, Held>): Applied {
    const slash = service.indexOf('/');
    const namespace = service.slice(0, slash);
    const name = service.slice(slash + 1);
    const id = idOf({ kind: 'Endpoints', key: keyOf({ namespace, name }) });
    const ids = this.slicesOf.get(service);
    if (ids === undefined || ids.size === 0) {
      this.slicesOf.delete(service);
      if (!this.desired.has(id)) return { touched: [], rejected: [] };
      this.desired.delete(id);
      return { touched: [id], rejected: [] };
    }
    const slices = [...ids].map((i) => this.slices.get(i)).filter((x): x is Slice => x !== undefined);
    const n = normalizeObject(ENDPOINTS, mergeSlices(namespace, name, slices));
    if (n.ok) {
      this.desired.set(id, n.resource);
      return { touched: [id], rejected: [] };
    }
    const names = slices.map((x) => x.name).sort();
    const error = new KubernetesObjectRejected(
      `EndpointSlice${names.length > 1 ? 's' : ''} ${namespace}/${names.join(', ')} of Service ${name} (label ${SERVICE_NAME_LABEL})`,
      n.error.problems,
    );
    const kept = this.desired.get(id) ?? fallback?.get(id);
    if (kept === undefined) return { touched: [], rejected: [error] };
    this.desired.set(id, kept);
    return { touched: [id], rejected: [error] };
  }
}
