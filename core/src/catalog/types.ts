import type { LogBatch } from '../log/types.js';
import type { ResourceKind, ResourceOf } from '../model/types.js';

/**
 * Indexes the translators need, maintained by the projection. Every value is a sorted list of keys.
 * Identities ("ns/sa") and services ("ns/svc") are written as keys.
 */
export type IndexName =
  /** "ns/sa" -> Workload keys running as that service account */
  | 'workloadsByServiceAccount'
  /** "ns/svc" -> Workload keys the service's selector matches (same namespace) */
  | 'workloadsByService'
  /** "ns/pod" -> Service keys whose selector matches the workload */
  | 'servicesByWorkload'
  /** "ns/sa" -> Service keys selecting at least one workload of that service account */
  | 'servicesByServiceAccount'
  /** "ns/svc" -> "ns/sa" identities of the workloads behind the service */
  | 'serviceAccountsByService'
  /** proxy uuid -> Workload key (a list of at most one in a consistent mesh) */
  | 'workloadByProxyUuid'
  /** "ns/sa" -> TrafficTarget keys naming it as destination */
  | 'targetsByDestination'
  /** "ns/sa" -> TrafficTarget keys naming it as a source */
  | 'targetsBySource'
  /** "ns/svc" -> TrafficSplit keys whose apex is that service */
  | 'splitsByApex'
  /** "ns/svc" -> TrafficSplit keys with that service as a backend */
  | 'splitsByBackend'
  /** "ns/sa" -> Retry keys with that source */
  | 'retriesBySource'
  /** upstream FQDN -> UpstreamTrafficSetting keys */
  | 'upstreamSettingsByHost'
  /** "ns/svc" -> IngressBackend keys naming the service as a backend */
  | 'ingressBackendsByService'
  /** "ns/sa" -> Egress keys with that source */
  | 'egressesBySource'
  /** namespace name -> Namespace key when the namespace is monitored by a mesh */
  | 'meshNamespaces';

/**
 * Dependency keys: what a derivation can read, and what an applied batch reports as changed.
 *  - `r:<Kind>/<key>` one resource
 *  - `k:<Kind>` any change in the kind (membership or content); what `list(kind)` depends on
 *  - `i:<index>/<value>` one index entry
 *  - `x:<name>` an external input (certificate material, static configuration)
 *  - `d:<id>` another derivation (engine-internal)
 */
export type DepKey = string;

export const depKeys = {
  resource: (kind: ResourceKind, key: string): DepKey => `r:${kind}/${key}`,
  kind: (kind: ResourceKind): DepKey => `k:${kind}`,
  index: (index: IndexName, value: string): DepKey => `i:${index}/${value}`,
  external: (name: string): DepKey => `x:${name}`,
  derivation: (id: string): DepKey => `d:${id}`,
} as const;

/**
 * Read-only view of the mesh state. Lists are sorted by key so that translation is deterministic.
 * Endpoints are what the endpoint controller would make: the Endpoints resource of a service when the log
 * holds one, else those derived from the ready pods its selector matches (endpoints.ts). Derived ones are
 * a function of logged resources, never written to the log, and change under r:Endpoints/<key> like any
 * resource.
 */
export interface MeshView {
  get<K extends ResourceKind>(kind: K, key: string): ResourceOf<K> | undefined;
  list<K extends ResourceKind>(kind: K): readonly ResourceOf<K>[];
  lookup(index: IndexName, value: string): readonly string[];
}

export interface ChangeSet {
  /** Dependency keys whose value changed (resources, kinds, index entries). */
  readonly keys: ReadonlySet<DepKey>;
  /** Offsets of the events in the batch that changed something. */
  readonly offsets: readonly number[];
}

export interface Provenance {
  readonly offset: number;
  readonly time: number;
  readonly source: string;
}

export interface CatalogLike extends MeshView {
  /** Applies a batch atomically and returns what changed. Pure in the sense of deterministic. */
  apply(batch: LogBatch): ChangeSet;
  /** Offset of the last event applied, or -1. */
  readonly lastOffset: number;
  /** The event that last changed a resource (r: keys) or index entry. */
  provenance(key: DepKey): Provenance | undefined;
  /** Source that last wrote a resource; used by sources to reconcile after a restart. */
  sourceOf(kind: ResourceKind, key: string): string | undefined;
}
