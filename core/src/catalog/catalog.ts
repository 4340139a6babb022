import type { LogBatch, MeshEvent } from '../log/types.js';
import { RESOURCE_KINDS, keyOf } from '../model/types.js';
import type { AnyResource, Endpoints, ResourceKind, ResourceOf, Service, Workload } from '../model/types.js';
import { assertTree, compareStrings, contentHash, sameCanonicalJson } from '../derive/canonical.js';
import { CatalogError } from './errors.js';
import * as members from './members.js';
import type { Members } from './members.js';
import { INDEX_NAMES, KINDS_WITH_OWN_ENTRIES, identityOf, ownContributions, selects } from './indexes.js';
import { endpointShare, endpointsFromShares, fixedPorts, sameShare } from './endpoints.js';
import type { EndpointShare, FixedPorts } from './endpoints.js';
import { depKeys } from './types.js';
import type { CatalogLike, ChangeSet, DepKey, IndexName, Provenance } from './types.js';

/** A plain, JSON-able copy of the catalog: restoring it and applying the rest of the log equals a full replay. */
export interface CatalogSnapshot {
  readonly v: 1;
  readonly lastOffset: number;
  /** Sorted by kind (RESOURCE_KINDS order), then key. */
  readonly resources: readonly { readonly kind: ResourceKind; readonly key: string; readonly body: unknown; readonly source: string }[];
  /** Provenance of every resource and non-empty index entry, sorted by dependency key. */
  readonly provenance: readonly (readonly [key: DepKey, offset: number, time: number, source: string])[];
}

/** One resource handed to Catalog.restore: its body (a tree: no cycles), source and provenance. */
export interface RestoredResource {
  readonly kind: ResourceKind;
  readonly key: string;
  readonly body: unknown;
  readonly source: string;
  readonly prov: Provenance | undefined;
}

interface Entry {
  readonly body: AnyResource;
  /**
   * Content hash of the body (sha256 of its canonical JSON), computed the first time someone asks for the
   * version. An identical upsert is recognised by sameCanonicalJson, which needs no serialization: replay
   * never hashes.
   */
  hash: string | undefined;
  readonly source: string;
  /** The event that last changed the resource; set when a batch commits. */
  prov: Provenance | undefined;
}

/** Whether two entries (either may be absent) hold the same content. */
function sameContent(a: Entry | undefined, b: Entry | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return sameCanonicalJson(a.body, b.body);
}

interface IndexEntry {
  readonly index: IndexName;
  readonly value: string;
  /** undefined while empty (an entry emptied within a batch waits for commit; see Tx). */
  members: Members | undefined;
  /** Sorted view handed to readers; rebuilt lazily after a change, never mutated once handed out. */
  sorted: readonly string[] | null;
  /** The event that last changed the entry; set when a batch commits. */
  prov: Provenance | undefined;
}

/** A resource touched by the batch: what it was before, and the event that last changed it. */
interface ResourceTouch {
  readonly kind: ResourceKind;
  readonly key: string;
  readonly orig: Entry | undefined;
  last: Provenance | undefined;
}

/**
 * An index entry touched by the batch: the net membership change per member (+1 added, -1 removed, 0 back
 * to where it was). Member operations are only recorded when they really change membership, so the entry
 * changed iff a delta is non-zero.
 */
interface IndexTouch {
  readonly delta: Map<string, number>;
  last: Provenance | undefined;
}

/**
 * The Endpoints derived for a service with a selector (endpoints.ts): one share per selected pod that is an
 * endpoint, and the body built from them when first read after a change.
 */
interface DerivedEndpoints {
  readonly namespace: string;
  readonly name: string;
  readonly shares: Map<string, EndpointShare>;
  /** fixedPorts of the service, kept with its ports. */
  fixed: FixedPorts | null;
  body: Endpoints | null;
  hash: string | undefined;
  /**
   * The event that last changed what readers see under r:Endpoints/<key> while no Endpoints resource hides
   * these; set when a batch commits.
   */
  prov: Provenance | undefined;
}

/** A service's derived Endpoints touched by the batch: whether they existed, their shares before it. */
interface DerivedTouch {
  readonly existed: boolean;
  /** Provenance before the batch: the entry may be dropped and made anew within it. */
  readonly prov: Provenance | undefined;
  /** workload key -> its share before the batch (undefined: none), recorded on first change. */
  readonly orig: Map<string, EndpointShare | undefined>;
  last: Provenance | undefined;
}

/**
 * The undo and diff journal of one batch: originals are recorded on first touch. Journals are keyed by what
 * the event path already holds (the kind and key strings, the index entry objects), so dependency-key strings
 * are only built at commit, for what really changed. Index entries emptied during the batch stay in their
 * index (empty) until commit, so an entry's object, and its provenance, survive being emptied and refilled.
 */
class Tx {
  readonly resources = new Map<ResourceKind, Map<string, ResourceTouch>>();
  readonly indexEntries = new Map<IndexEntry, IndexTouch>();
  /** service key -> its derived Endpoints' journal. */
  readonly derived = new Map<string, DerivedTouch>();
  readonly offsets: number[] = [];
  private event: MeshEvent | undefined;
  /** Provenance of `event`, made on its first change and shared by every key it changes. */
  private prov: Provenance | undefined;

  begin(ev: MeshEvent): void {
    this.event = ev;
    this.prov = undefined;
  }

  /** Provenance of the event being applied. */
  current(): Provenance | undefined {
    const ev = this.event;
    if (ev === undefined) return undefined;
    return (this.prov ??= { offset: ev.offset, time: ev.time, source: ev.source });
  }

  /** The journal record of a resource, made with its original entry on first touch. */
  resource(kind: ResourceKind, key: string, orig: Entry | undefined): ResourceTouch {
    let byKey = this.resources.get(kind);
    if (byKey === undefined) this.resources.set(kind, (byKey = new Map()));
    let t = byKey.get(key);
    if (t === undefined) byKey.set(key, (t = { kind, key, orig, last: undefined }));
    return t;
  }
}

const EMPTY: readonly string[] = Object.freeze([]);
const KIND_SET: ReadonlySet<string> = new Set(RESOURCE_KINDS);

/**
 * The projection: folds batches of events into mesh state plus the indexes translators need, and reports
 * exactly which dependency keys changed so the derivation engine re-runs only what read them.
 *
 * Indexes are maintained incrementally: a Service change looks only at the workloads of its namespace that
 * carry its selector's first label, a Workload change only at the services of its namespace whose selector
 * starts with one of its labels. Resource bodies are treated as immutable.
 */
export class Catalog implements CatalogLike {
  private readonly kinds = new Map<ResourceKind, Map<string, Entry>>();
  private readonly listCache = new Map<ResourceKind, readonly AnyResource[]>();
  private readonly indexes = new Map<IndexName, Map<string, IndexEntry>>();
  /** Selector relation, kept both ways: service key -> workload keys, workload key -> service keys. */
  private readonly svcMatches = new Map<string, Members>();
  private readonly wlMatches = new Map<string, Members>();
  /** service key -> identity -> number of matched workloads running as that identity. */
  private readonly pairCounts = new Map<string, Map<string, number>>();
  /**
   * ns -> label -> value -> workload keys carrying that label: candidates for a selector that starts with
   * it. Only label keys some service's selector starts with are indexed (selectorKeys): most labels of a pod
   * (pod-template-hash, the proxy uuid, version) are never a selector's first key, and indexing them cost a
   * set per pod for nothing.
   */
  private readonly workloadsByLabel = new LabelIndex();
  /**
   * service key -> the Endpoints derived from the pods it selects, for every service with a selector and no
   * Endpoints resource of its key on the log: what readers get under Endpoints/<key> then (get, list). Not
   * kept while an Endpoints resource hides them (a Kubernetes source writes one for every such service), so
   * there they cost a map lookup per pod event; made from the selected pods when the resource goes.
   */
  private readonly derived = new Map<string, DerivedEndpoints>();
  /** label key -> number of services whose selector starts with it: the keys workloadsByLabel indexes. */
  private readonly selectorKeys = new Map<string, number>();
  /** ns -> label -> value -> service keys whose selector's first (smallest) label is that one. */
  private readonly servicesByFirstLabel = new LabelIndex();
  private last = -1;

  constructor() {
    for (const k of RESOURCE_KINDS) this.kinds.set(k, new Map());
    for (const i of INDEX_NAMES) this.indexes.set(i, new Map());
  }

  get lastOffset(): number {
    return this.last;
  }

  /** Endpoints: the resource on the log, else those derived from the pods the service selects. */
  get<K extends ResourceKind>(kind: K, key: string): ResourceOf<K> | undefined {
    const e = this.store(kind).get(key);
    if (e !== undefined || kind !== 'Endpoints') return e?.body as ResourceOf<K> | undefined;
    return this.derivedBody(key) as ResourceOf<K> | undefined;
  }

  /** Endpoints: those on the log and, for every other service with a selector, the derived ones. */
  list<K extends ResourceKind>(kind: K): readonly ResourceOf<K>[] {
    let cached = this.listCache.get(kind);
    if (cached === undefined) {
      const store = this.store(kind);
      if (kind === 'Endpoints') {
        const keys = new Set([...store.keys(), ...this.derived.keys()]);
        cached = Object.freeze([...keys].sort(compareStrings).map((k) => this.get('Endpoints', k) as AnyResource));
      } else {
        cached = Object.freeze([...store.keys()].sort(compareStrings).map((k) => (store.get(k) as Entry).body));
      }
      this.listCache.set(kind, cached);
    }
    return cached as readonly ResourceOf<K>[];
  }

  /**
   * When the Endpoints readers get for a service are derived (no Endpoints resource with its key is on the
   * log, and it has a selector): the service, the workloads it selects (what the derivation read) and those
   * that are endpoints (ready, with an IP and a port of the service). For `weft replay --explain`.
   */
  endpointsDerivation(svcKey: string): { readonly service: string; readonly workloads: readonly string[]; readonly endpoints: readonly string[] } | undefined {
    const d = this.derived.get(svcKey);
    if (d === undefined || this.store('Endpoints').has(svcKey)) return undefined;
    return { service: svcKey, workloads: this.lookup('workloadsByService', svcKey), endpoints: [...d.shares.keys()].sort(compareStrings) };
  }

  private derivedBody(svcKey: string): Endpoints | undefined {
    const d = this.derived.get(svcKey);
    if (d === undefined) return undefined;
    return (d.body ??= endpointsFromShares(d.namespace, d.name, d.shares));
  }

  lookup(index: IndexName, value: string): readonly string[] {
    const m = this.indexes.get(index);
    if (m === undefined) throw new CatalogError('CATALOG_UNKNOWN_INDEX', `unknown index "${index}"; use one of ${INDEX_NAMES.join(', ')}`);
    const e = m.get(value);
    if (e === undefined) return EMPTY;
    return (e.sorted ??= Object.freeze([...members.values(e.members)].sort(compareStrings)));
  }

  /** Every non-empty entry of an index, sorted by value (debug pages, tests). */
  entries(index: IndexName): readonly (readonly [value: string, keys: readonly string[]])[] {
    const m = this.indexes.get(index);
    if (m === undefined) return [];
    return [...m.keys()].sort(compareStrings).map((v) => [v, this.lookup(index, v)] as const);
  }

  /** Number of resources of a kind on the log (derived Endpoints are not counted). */
  size(kind: ResourceKind): number {
    return this.store(kind).size;
  }

  /** Content hash (sha256 of canonical JSON) of a resource, usable as a version string. */
  versionOf(kind: ResourceKind, key: string): string | undefined {
    const e = this.store(kind).get(key);
    if (e === undefined) {
      const d = kind === 'Endpoints' ? this.derived.get(key) : undefined;
      return d === undefined ? undefined : (d.hash ??= contentHash(this.derivedBody(key)));
    }
    return (e.hash ??= contentHash(e.body));
  }

  provenance(key: DepKey): Provenance | undefined {
    return this.provenanceSlot(key)?.prov;
  }

  /** The entry (resource or index entry) that holds a dependency key's provenance, if the key exists. */
  private provenanceSlot(key: DepKey): { prov: Provenance | undefined } | undefined {
    const slash = key.indexOf('/');
    if (slash < 0) return undefined;
    const name = key.slice(2, slash);
    const rest = key.slice(slash + 1);
    if (key.startsWith('r:')) return this.kinds.get(name as ResourceKind)?.get(rest) ?? (name === 'Endpoints' ? this.derived.get(rest) : undefined);
    if (key.startsWith('i:')) return this.indexes.get(name as IndexName)?.get(rest);
    return undefined;
  }

  sourceOf(kind: ResourceKind, key: string): string | undefined {
    return this.store(kind).get(key)?.source;
  }

  /**
   * Folds one batch, atomically. `bodiesFromJson`: the caller vouches that every upsert body was just
   * parsed from JSON (a decoded log record), so none can hold a reference cycle and the per-body cycle
   * check is skipped; replay folds ~100k such bodies.
   */
  apply(batch: LogBatch, options?: { readonly bodiesFromJson?: boolean }): ChangeSet {
    this.validate(batch);
    const tx = new Tx();
    const checkTrees = options?.bodiesFromJson !== true;
    try {
      for (const ev of batch.events) {
        tx.begin(ev);
        this.applyEvent(ev, tx, checkTrees);
      }
    } catch (err) {
      this.rollback(tx);
      throw err;
    }
    return this.commit(tx, batch);
  }

  snapshot(): CatalogSnapshot {
    const resources: { kind: ResourceKind; key: string; body: unknown; source: string }[] = [];
    for (const kind of RESOURCE_KINDS) {
      const store = this.store(kind);
      for (const key of [...store.keys()].sort(compareStrings)) {
        const e = store.get(key) as Entry;
        resources.push({ kind, key, body: e.body, source: e.source });
      }
    }
    const provs = new Map<DepKey, Provenance>();
    for (const [kind, store] of this.kinds) {
      for (const [key, e] of store) if (e.prov !== undefined) provs.set(depKeys.resource(kind, key), e.prov);
    }
    for (const [index, m] of this.indexes) {
      for (const [value, e] of m) if (e.prov !== undefined) provs.set(depKeys.index(index, value), e.prov);
    }
    const provenance = [...provs.keys()]
      .sort(compareStrings)
      .map((k) => {
        const p = provs.get(k) as Provenance;
        return [k, p.offset, p.time, p.source] as const;
      });
    return { v: 1, lastOffset: this.last, resources, provenance };
  }

  /**
   * A catalog holding exactly these resources as of `lastOffset`, each with its source and provenance, the
   * indexes built from them (index entries start without provenance: it is recorded from then on). Each
   * body is checked as apply checks an upsert; a bad one fails with CATALOG_BAD_EVENT naming its event.
   * The start-up replay (compact.ts) ends here.
   */
  static restore(resources: Iterable<RestoredResource>, lastOffset: number, options?: { readonly bodiesFromJson?: boolean }): Catalog {
    if (!Number.isInteger(lastOffset) || lastOffset < -1) throw new RangeError(`lastOffset ${lastOffset} must be an integer >= -1`);
    const c = new Catalog();
    for (const r of resources) {
      const at = (): string => `${r.prov === undefined ? 'resource' : `event at offset ${r.prov.offset}`} (${r.kind} ${r.key})`;
      if (!KIND_SET.has(r.kind)) throw new CatalogError('CATALOG_UNKNOWN_KIND', `${at()}: unknown kind "${String(r.kind)}"; expected one of ${RESOURCE_KINDS.join(', ')}`);
      const problem = bodyProblem(r.key, r.body);
      if (problem !== null) throw new CatalogError('CATALOG_BAD_EVENT', `${at()}: ${problem}`);
      // As for apply: a body just parsed from JSON cannot hold a cycle.
      if (options?.bodiesFromJson !== true) assertTree(r.body);
      c.store(r.kind).set(r.key, { body: r.body as AnyResource, hash: undefined, source: r.source, prov: r.prov });
    }
    c.last = lastOffset;
    c.rebuildDerived();
    return c;
  }

  static fromSnapshot(s: CatalogSnapshot): Catalog {
    const c = new Catalog();
    const bad = (what: string): never => {
      throw new CatalogError('CATALOG_BAD_SNAPSHOT', `catalog snapshot is invalid: ${what}; take a new snapshot or replay the log from offset 0`);
    };
    if (typeof s !== 'object' || s === null || s.v !== 1) bad('unsupported version (expected v: 1)');
    if (!Number.isInteger(s.lastOffset) || s.lastOffset < -1) bad('lastOffset must be an integer >= -1');
    if (!Array.isArray(s.resources) || !Array.isArray(s.provenance)) bad('resources and provenance must be arrays');
    for (const r of s.resources) {
      if (!KIND_SET.has(r.kind)) bad(`unknown kind "${String(r.kind)}"`);
      const problem = bodyProblem(r.key, r.body);
      if (problem !== null) bad(`${r.kind} ${r.key}: ${problem}`);
      if (typeof r.source !== 'string') bad(`${r.kind} ${r.key}: source must be a string`);
      assertTree(r.body);
      c.store(r.kind).set(r.key, { body: r.body as AnyResource, hash: undefined, source: r.source, prov: undefined });
    }
    for (const p of s.provenance) {
      if (!Array.isArray(p) || typeof p[0] !== 'string' || !Number.isInteger(p[1]) || typeof p[2] !== 'number' || typeof p[3] !== 'string') {
        bad('provenance entries must be [key, offset, time, source]');
      }
    }
    c.last = s.lastOffset;
    c.rebuildDerived();
    // Provenance is kept on what exists (a catalog never records it for anything else).
    for (const p of s.provenance) {
      const slot = c.provenanceSlot(p[0]);
      if (slot !== undefined) slot.prov = { offset: p[1], time: p[2], source: p[3] };
    }
    return c;
  }

  // ---- applying -------------------------------------------------------------------------------

  private store(kind: ResourceKind): Map<string, Entry> {
    const s = this.kinds.get(kind);
    if (s === undefined) {
      throw new CatalogError('CATALOG_UNKNOWN_KIND', `unknown resource kind "${String(kind)}"; expected one of ${RESOURCE_KINDS.join(', ')}`);
    }
    return s;
  }

  /** Checks the whole batch before touching anything, so a bad event leaves the catalog as it was. */
  private validate(batch: LogBatch): void {
    if (typeof batch !== 'object' || batch === null || !Array.isArray(batch.events)) {
      throw new CatalogError('CATALOG_BAD_EVENT', 'a batch must be an object with an events array');
    }
    let prev = this.last;
    for (const ev of batch.events) {
      if (typeof ev !== 'object' || ev === null) throw new CatalogError('CATALOG_BAD_EVENT', 'a batch contains a non-object event');
      // Only built for an error: this runs for every event of a replay.
      const at = (): string => `event at offset ${String(ev.offset)} (${String(ev.kind)} ${String(ev.key)})`;
      if (!KIND_SET.has(ev.kind)) {
        throw new CatalogError('CATALOG_UNKNOWN_KIND', `${at()}: unknown kind "${String(ev.kind)}"; expected one of ${RESOURCE_KINDS.join(', ')}`);
      }
      if (!Number.isInteger(ev.offset)) throw new CatalogError('CATALOG_BAD_EVENT', `${at()}: offset must be an integer`);
      if (ev.offset <= prev) {
        throw new CatalogError(
          'CATALOG_OFFSET_ORDER',
          `${at()}: offset ${ev.offset} is not after ${prev}; offsets must increase strictly (follow the log from lastOffset + 1 = ${this.last + 1})`,
        );
      }
      prev = ev.offset;
      if (typeof ev.key !== 'string' || ev.key === '') throw new CatalogError('CATALOG_BAD_EVENT', `${at()}: key must be a non-empty string`);
      if (typeof ev.source !== 'string') throw new CatalogError('CATALOG_BAD_EVENT', `${at()}: source must be a string`);
      if (typeof ev.time !== 'number') throw new CatalogError('CATALOG_BAD_EVENT', `${at()}: time must be a number`);
      if (ev.op === 'upsert') {
        const problem = bodyProblem(ev.key, ev.body);
        if (problem !== null) throw new CatalogError('CATALOG_BAD_EVENT', `${at()}: ${problem}`);
      } else if (ev.op !== 'delete') {
        throw new CatalogError('CATALOG_BAD_EVENT', `${at()}: op must be "upsert" or "delete", got "${String(ev.op)}"`);
      }
    }
  }

  private applyEvent(ev: MeshEvent, tx: Tx, checkTree: boolean): void {
    const store = this.store(ev.kind);
    const old = store.get(ev.key);
    let next: Entry | undefined;
    if (ev.op === 'upsert') {
      const body = ev.body as AnyResource;
      // A body that cannot be hashed (a cycle) is refused here, inside the batch's transaction, not when a
      // reader first asks for its version.
      if (checkTree) assertTree(body);
      if (old !== undefined && sameCanonicalJson(old.body, body)) {
        // Same content: nothing a reader can see changed, only who last wrote it.
        if (old.source !== ev.source) {
          tx.resource(ev.kind, ev.key, old);
          store.set(ev.key, { body: old.body, hash: old.hash, source: ev.source, prov: old.prov });
        }
        return;
      }
      // Provenance moves over as is; commit replaces it if the batch changed the content.
      next = { body, hash: undefined, source: ev.source, prov: old?.prov };
    } else if (old === undefined) {
      return;
    }
    tx.resource(ev.kind, ev.key, old).last = tx.current();
    if (tx.offsets[tx.offsets.length - 1] !== ev.offset) tx.offsets.push(ev.offset);
    if (next === undefined) store.delete(ev.key);
    else store.set(ev.key, next);
    this.listCache.delete(ev.kind);
    this.reindex(ev.kind, ev.key, old?.body, next?.body, tx);
  }

  /** Moves the index entries of one resource from its old body to its new one (either may be absent). */
  private reindex(kind: ResourceKind, key: string, oldBody: AnyResource | undefined, newBody: AnyResource | undefined, tx: Tx | null): void {
    if (kind === 'Workload') {
      this.reindexWorkload(key, oldBody as Workload | undefined, newBody as Workload | undefined, tx);
      return;
    }
    if (kind === 'Service') {
      this.reselectService(key, oldBody as Service | undefined, newBody as Service | undefined, tx);
      return;
    }
    if (kind === 'Endpoints') {
      if ((oldBody === undefined) !== (newBody === undefined)) this.endpointsResourceMoved(key, newBody === undefined, tx);
      return;
    }
    if (!KINDS_WITH_OWN_ENTRIES.has(kind)) return;
    const oldC = oldBody === undefined ? [] : ownContributions(kind, oldBody);
    const newC = newBody === undefined ? [] : ownContributions(kind, newBody);
    // Additions before removals, so no entry flickers through empty within one event.
    for (const c of newC) {
      if (!oldC.some((o) => o.index === c.index && o.value === c.value)) this.indexAdd(c.index, c.value, key, tx);
    }
    for (const c of oldC) {
      if (!newC.some((n) => n.index === c.index && n.value === c.value)) this.indexRemove(c.index, c.value, key, tx);
    }
  }

  /**
   * The workload's own entries (what ownContributions gives for a Workload, compared field by field: this
   * runs for most events of a busy mesh), then its label index and the services selecting it.
   */
  private reindexWorkload(key: string, oldW: Workload | undefined, newW: Workload | undefined, tx: Tx | null): void {
    const oldId = oldW === undefined ? undefined : identityOf(oldW);
    const newId = newW === undefined ? undefined : identityOf(newW);
    const oldUuid = oldW?.proxyUuid ?? null;
    const newUuid = newW?.proxyUuid ?? null;
    // Additions before removals, so no entry flickers through empty within one event.
    if (newId !== undefined && newId !== oldId) this.indexAdd('workloadsByServiceAccount', newId, key, tx);
    if (newUuid !== null && newUuid !== oldUuid) this.indexAdd('workloadByProxyUuid', newUuid, key, tx);
    if (oldId !== undefined && oldId !== newId) this.indexRemove('workloadsByServiceAccount', oldId, key, tx);
    if (oldUuid !== null && oldUuid !== newUuid) this.indexRemove('workloadByProxyUuid', oldUuid, key, tx);
    this.reselectWorkload(key, oldW, newW, oldId ?? '', newId ?? '', tx);
  }

  private reselectService(key: string, oldS: Service | undefined, newS: Service | undefined, tx: Tx | null): void {
    const oldLabel = oldS === undefined ? undefined : firstSelectorLabel(oldS);
    const newLabel = newS === undefined ? undefined : firstSelectorLabel(newS);
    // The entry moves out before it moves in (both may be the same entry); the new key is counted before the
    // old one is let go, so a key the update keeps stays indexed.
    if (newLabel !== undefined) this.selectorKeyIn(newLabel);
    if (oldS !== undefined && oldLabel !== undefined) this.servicesByFirstLabel.remove(oldS.meta.namespace, oldLabel, (oldS.selector as Record<string, string>)[oldLabel] as string, key);
    if (newS !== undefined && newLabel !== undefined) this.servicesByFirstLabel.add(newS.meta.namespace, newLabel, (newS.selector as Record<string, string>)[newLabel] as string, key);
    if (oldLabel !== undefined) this.selectorKeyOut(oldLabel);
    // A service with a selector and no Endpoints resource has derived Endpoints (empty until it selects a
    // ready pod).
    if (newS !== undefined && newLabel !== undefined && !this.derived.has(key) && !this.store('Endpoints').has(key)) {
      this.touchDerived(key, tx);
      this.derived.set(key, { namespace: newS.meta.namespace, name: newS.meta.name, shares: new Map(), fixed: null, body: null, hash: undefined, prov: undefined });
      this.listCache.delete('Endpoints');
    }
    const before: ReadonlySet<string> = new Set(members.values(this.svcMatches.get(key)));
    const after = new Set<string>();
    if (newS !== undefined && newLabel !== undefined) {
      // Only workloads carrying the selector's first label can match: no scan of the namespace.
      const carrying = this.workloadsByLabel.get(newS.meta.namespace, newLabel, (newS.selector as Record<string, string>)[newLabel] as string);
      for (const w of members.values(carrying)) {
        if (selects(newS, this.store('Workload').get(w)?.body as Workload)) after.add(w);
      }
    }
    const workloads = this.store('Workload');
    // Shares of pods that stay selected change only with the service's ports.
    const portsChanged = oldS === undefined || newS === undefined || !sameCanonicalJson(oldS.ports, newS.ports);
    const d = this.derived.get(key);
    if (d !== undefined && newS !== undefined && (portsChanged || oldLabel === undefined)) d.fixed = fixedPorts(newS);
    for (const w of after) {
      if (!before.has(w)) this.link(key, w, identityOf(workloads.get(w)?.body as Workload), tx);
      else if (portsChanged) this.refreshShare(key, w, tx);
    }
    for (const w of before) {
      if (!after.has(w)) this.unlink(key, w, identityOf(workloads.get(w)?.body as Workload), tx);
    }
    if ((newS === undefined || newLabel === undefined) && this.derived.has(key)) {
      this.touchDerived(key, tx);
      this.derived.delete(key);
      this.listCache.delete('Endpoints');
    }
  }

  private reselectWorkload(key: string, oldW: Workload | undefined, newW: Workload | undefined, oldId: string, newId: string, tx: Tx | null): void {
    // Only labels that appear, vanish or change value move in the label index (the namespace is part of the
    // key). Label values are strings and no inherited property is one, so `!==` also catches a missing label.
    const oldLabels = oldW?.meta.labels;
    const newLabels = newW?.meta.labels;
    if (oldW !== undefined && oldLabels !== undefined) {
      for (const k in oldLabels) {
        const v = oldLabels[k] as string;
        if ((newLabels === undefined || newLabels[k] !== v) && this.selectorKeys.has(k)) this.workloadsByLabel.remove(oldW.meta.namespace, k, v, key);
      }
    }
    // Candidates: services of the namespace whose selector starts with one of the workload's labels. A service
    // sits under exactly one first label and the workload's label keys are distinct, so no candidate repeats.
    const after: string[] = [];
    if (newW !== undefined && newLabels !== undefined) {
      const ns = newW.meta.namespace;
      const services = this.store('Service');
      for (const k in newLabels) {
        // A label no selector starts with is neither indexed nor a way to a service.
        if (!this.selectorKeys.has(k)) continue;
        const v = newLabels[k] as string;
        if (oldLabels === undefined || oldLabels[k] !== v) this.workloadsByLabel.add(ns, k, v, key);
        const svcs = this.servicesByFirstLabel.get(ns, k, v);
        if (svcs === undefined) continue;
        for (const s of members.values(svcs)) if (selects(services.get(s)?.body as Service, newW)) after.push(s);
      }
    }
    const before = this.wlMatches.get(key);
    // Removals first: they only take out services not in `after`, so `before.has` below still tells what was matched.
    if (before !== undefined) {
      // Deleting the element being visited is safe in a Set iteration, and nothing is added to `before` here
      // (a lone member is a string: unlink replaces the map's value, not this one).
      for (const s of members.values(before)) {
        if (!after.includes(s)) this.unlink(s, key, oldId, tx);
        else if (oldId !== newId) this.pairDec(s, oldId, tx);
      }
    }
    for (const s of after) {
      if (!members.has(before, s)) this.link(s, key, newId, tx, newW);
      else {
        if (oldId !== newId) this.pairInc(s, newId, tx);
        this.refreshShare(s, key, tx, newW);
      }
    }
  }

  /** A service's selector starts with `label`: index workloads by it (all of them, if it is a new key). */
  private selectorKeyIn(label: string): void {
    const n = this.selectorKeys.get(label) ?? 0;
    this.selectorKeys.set(label, n + 1);
    if (n > 0) return;
    for (const [key, e] of this.store('Workload')) {
      const w = e.body as Workload;
      const v = w.meta.labels[label];
      if (typeof v === 'string') this.workloadsByLabel.add(w.meta.namespace, label, v, key);
    }
  }

  private selectorKeyOut(label: string): void {
    const n = (this.selectorKeys.get(label) ?? 0) - 1;
    if (n > 0) {
      this.selectorKeys.set(label, n);
      return;
    }
    this.selectorKeys.delete(label);
    this.workloadsByLabel.removeLabel(label);
  }

  private link(svc: string, wl: string, identity: string, tx: Tx | null, body?: Workload): void {
    members.mapAdd(this.svcMatches, svc, wl);
    members.mapAdd(this.wlMatches, wl, svc);
    this.indexAdd('workloadsByService', svc, wl, tx);
    this.indexAdd('servicesByWorkload', wl, svc, tx);
    this.pairInc(svc, identity, tx);
    this.refreshShare(svc, wl, tx, body);
  }

  private unlink(svc: string, wl: string, identity: string, tx: Tx | null): void {
    members.mapRemove(this.svcMatches, svc, wl);
    members.mapRemove(this.wlMatches, wl, svc);
    this.indexRemove('workloadsByService', svc, wl, tx);
    this.indexRemove('servicesByWorkload', wl, svc, tx);
    this.pairDec(svc, identity, tx);
    const d = this.derived.get(svc);
    if (d !== undefined) this.setShare(svc, d, wl, undefined, tx);
  }

  /**
   * An Endpoints resource came (it hides the derived Endpoints of its service, which are dropped) or went
   * (they are made anew from the pods the service selects).
   */
  private endpointsResourceMoved(key: string, gone: boolean, tx: Tx | null): void {
    const d = this.derived.get(key);
    if (!gone) {
      if (d === undefined) return;
      for (const wl of [...d.shares.keys()]) this.setShare(key, d, wl, undefined, tx);
      this.touchDerived(key, tx);
      this.derived.delete(key);
      this.listCache.delete('Endpoints');
      return;
    }
    const s = this.store('Service').get(key)?.body as Service | undefined;
    if (d !== undefined || s === undefined || firstSelectorLabel(s) === undefined) return;
    this.touchDerived(key, tx);
    this.derived.set(key, { namespace: s.meta.namespace, name: s.meta.name, shares: new Map(), fixed: fixedPorts(s), body: null, hash: undefined, prov: undefined });
    this.listCache.delete('Endpoints');
    for (const wl of members.values(this.svcMatches.get(key))) this.refreshShare(key, wl, tx);
  }

  /** Recomputes what a selected workload contributes to the service's derived Endpoints. */
  private refreshShare(svc: string, wl: string, tx: Tx | null, body?: Workload): void {
    const d = this.derived.get(svc);
    if (d === undefined) return;
    const s = this.store('Service').get(svc)?.body as Service | undefined;
    const w = body ?? (this.store('Workload').get(wl)?.body as Workload | undefined);
    if (s === undefined || w === undefined) return;
    this.setShare(svc, d, wl, endpointShare(s, w, d.fixed, d.shares.get(wl)), tx);
  }

  private setShare(svc: string, d: DerivedEndpoints, wl: string, share: EndpointShare | undefined, tx: Tx | null): void {
    const old = d.shares.get(wl);
    if (sameShare(old, share)) return;
    const t = this.touchDerived(svc, tx);
    if (t !== null && !t.orig.has(wl)) t.orig.set(wl, old);
    if (share === undefined) d.shares.delete(wl);
    else d.shares.set(wl, share);
    d.body = null;
    d.hash = undefined;
    this.listCache.delete('Endpoints');
  }

  /** The journal of a service's derived Endpoints, made on first touch; call before changing them. */
  private touchDerived(svc: string, tx: Tx | null): DerivedTouch | null {
    if (tx === null) return null;
    let t = tx.derived.get(svc);
    if (t === undefined) {
      const d = this.derived.get(svc);
      tx.derived.set(svc, (t = { existed: d !== undefined, prov: d?.prov, orig: new Map(), last: undefined }));
    }
    t.last = tx.current();
    return t;
  }

  private pairInc(svc: string, identity: string, tx: Tx | null): void {
    let m = this.pairCounts.get(svc);
    if (m === undefined) this.pairCounts.set(svc, (m = new Map()));
    const n = (m.get(identity) ?? 0) + 1;
    m.set(identity, n);
    if (n === 1) {
      this.indexAdd('servicesByServiceAccount', identity, svc, tx);
      this.indexAdd('serviceAccountsByService', svc, identity, tx);
    }
  }

  private pairDec(svc: string, identity: string, tx: Tx | null): void {
    const m = this.pairCounts.get(svc);
    const n = (m?.get(identity) ?? 0) - 1;
    if (m === undefined || n < 0) return;
    if (n > 0) {
      m.set(identity, n);
      return;
    }
    m.delete(identity);
    if (m.size === 0) this.pairCounts.delete(svc);
    this.indexRemove('servicesByServiceAccount', identity, svc, tx);
    this.indexRemove('serviceAccountsByService', svc, identity, tx);
  }

  private touchIndex(e: IndexEntry, member: string, change: 1 | -1, tx: Tx | null): void {
    if (tx === null) return;
    let t = tx.indexEntries.get(e);
    if (t === undefined) tx.indexEntries.set(e, (t = { delta: new Map(), last: undefined }));
    t.delta.set(member, (t.delta.get(member) ?? 0) + change);
    t.last = tx.current();
  }

  private indexAdd(index: IndexName, value: string, member: string, tx: Tx | null): void {
    const m = this.indexes.get(index) as Map<string, IndexEntry>;
    let e = m.get(value);
    if (e === undefined) m.set(value, (e = { index, value, members: undefined, sorted: null, prov: undefined }));
    else if (members.has(e.members, member)) return;
    this.touchIndex(e, member, 1, tx);
    e.members = members.add(e.members, member);
    e.sorted = null;
  }

  private indexRemove(index: IndexName, value: string, member: string, tx: Tx | null): void {
    const m = this.indexes.get(index) as Map<string, IndexEntry>;
    const e = m.get(value);
    if (e === undefined || !members.has(e.members, member)) return;
    this.touchIndex(e, member, -1, tx);
    e.members = members.remove(e.members, member);
    e.sorted = null;
    // Within a batch an emptied entry waits for commit (see Tx).
    if (e.members === undefined && tx === null) m.delete(value);
  }

  /** Net diff of the batch: a key changed and reverted inside one batch is not reported. */
  private commit(tx: Tx, batch: LogBatch): ChangeSet {
    const keys = new Set<DepKey>();
    /** Endpoints resources whose content the batch changed: what readers see is decided with the derived ones. */
    let endpointsChanged: ResourceTouch[] | undefined;
    for (const [kind, touched] of tx.resources) {
      const store = this.store(kind);
      let kindChanged = false;
      for (const t of touched.values()) {
        const { key, orig, last } = t;
        const now = store.get(key);
        if (sameContent(orig, now)) {
          // Back to where it was (say deleted and re-created alike): the entry may be a new object.
          if (now !== undefined && orig !== undefined) now.prov = orig.prov;
          continue;
        }
        // Provenance of what no longer exists goes with it: otherwise churn (pods coming and going) grows it forever.
        if (now !== undefined) now.prov = last;
        if (kind === 'Endpoints') {
          (endpointsChanged ??= []).push(t);
          continue;
        }
        keys.add(depKeys.resource(kind, key));
        kindChanged = true;
      }
      if (kindChanged) keys.add(depKeys.kind(kind));
    }
    if (endpointsChanged !== undefined || tx.derived.size > 0) this.commitEndpoints(tx, endpointsChanged ?? [], keys);
    for (const [e, { delta, last }] of tx.indexEntries) {
      if (e.members === undefined) (this.indexes.get(e.index) as Map<string, IndexEntry>).delete(e.value);
      let changed = false;
      for (const d of delta.values()) {
        if (d !== 0) {
          changed = true;
          break;
        }
      }
      if (!changed) continue;
      keys.add(depKeys.index(e.index, e.value));
      e.prov = last;
    }
    const lastEv = batch.events[batch.events.length - 1];
    if (lastEv !== undefined) this.last = lastEv.offset;
    return { keys, offsets: tx.offsets };
  }

  /**
   * What readers see under r:Endpoints/<key> is the Endpoints resource when there is one, else the derived
   * Endpoints: reports a key when that changed, and keeps the derived Endpoints' provenance.
   */
  private commitEndpoints(tx: Tx, changedResources: readonly ResourceTouch[], keys: Set<DepKey>): void {
    const store = this.store('Endpoints');
    const resourceTouch = new Map<string, ResourceTouch>();
    for (const t of changedResources) resourceTouch.set(t.key, t);
    let any = false;
    const visit = (key: string): void => {
      const touch = tx.derived.get(key);
      const d = this.derived.get(key);
      const derivedChanged = touch !== undefined && derivedDiffers(touch, d);
      if (touch !== undefined && d !== undefined) d.prov = derivedChanged ? touch.last : touch.prov;
      const rt = resourceTouch.get(key);
      const now = store.get(key);
      const orig = rt === undefined ? now : rt.orig;
      let changed: boolean;
      if (orig !== undefined && now !== undefined) changed = rt !== undefined;
      else if (orig === undefined && now === undefined) changed = derivedChanged;
      else if (now === undefined) {
        // The resource went: the derived Endpoints show through (rare: no need to be quick).
        changed = !sameEndpoints(orig?.body as Endpoints, this.derivedBody(key));
        if (d !== undefined) d.prov = changed ? latest(rt?.last, derivedChanged ? touch?.last : undefined) : orig?.prov;
      } else {
        // The resource came: it hides the derived Endpoints as they were before the batch.
        const before = touch === undefined ? this.derivedBody(key) : this.derivedBefore(key, touch);
        changed = !sameEndpoints(before, now.body as Endpoints);
      }
      if (changed) {
        keys.add(depKeys.resource('Endpoints', key));
        any = true;
      }
    };
    for (const key of tx.derived.keys()) visit(key);
    for (const key of resourceTouch.keys()) if (!tx.derived.has(key)) visit(key);
    if (any) {
      keys.add(depKeys.kind('Endpoints'));
      this.listCache.delete('Endpoints');
    }
  }

  /** A service's derived Endpoints as they were before the batch. */
  private derivedBefore(key: string, touch: DerivedTouch): Endpoints | undefined {
    if (!touch.existed) return undefined;
    const d = this.derived.get(key);
    const shares = new Map(d?.shares);
    for (const [wl, s] of touch.orig) {
      if (s === undefined) shares.delete(wl);
      else shares.set(wl, s);
    }
    const slash = key.indexOf('/');
    return endpointsFromShares(key.slice(0, slash), key.slice(slash + 1), shares);
  }

  private rollback(tx: Tx): void {
    for (const [kind, touched] of tx.resources) {
      const store = this.store(kind);
      for (const { key, orig } of touched.values()) {
        if (orig === undefined) store.delete(key);
        else store.set(key, orig);
      }
    }
    // Rebuilt index entries are new objects: carry over the provenance of those that existed before the batch
    // (provenance only changes at commit, and emptied entries were kept until then).
    const provs = new Map<IndexName, Map<string, Provenance>>();
    for (const [index, m] of this.indexes) {
      const p = new Map<string, Provenance>();
      for (const [value, e] of m) if (e.prov !== undefined) p.set(value, e.prov);
      provs.set(index, p);
    }
    // Derived Endpoints are rebuilt too; their provenance comes back the same way (from before the batch).
    const derivedProvs = new Map<string, Provenance | undefined>();
    for (const [key, d] of this.derived) derivedProvs.set(key, d.prov);
    for (const [key, t] of tx.derived) derivedProvs.set(key, t.prov);
    this.rebuildDerived();
    for (const [key, d] of this.derived) d.prov = derivedProvs.get(key);
    for (const [index, p] of provs) {
      const m = this.indexes.get(index) as Map<string, IndexEntry>;
      for (const [value, prov] of p) {
        const e = m.get(value);
        if (e !== undefined) e.prov = prov;
      }
    }
  }

  /** Recomputes every index from the resources (snapshot restore and rollback; never on the event path). */
  private rebuildDerived(): void {
    this.listCache.clear();
    for (const m of this.indexes.values()) m.clear();
    this.svcMatches.clear();
    this.wlMatches.clear();
    this.pairCounts.clear();
    this.workloadsByLabel.clear();
    this.selectorKeys.clear();
    this.servicesByFirstLabel.clear();
    this.derived.clear();
    // Services first, by their selector's first label only; each workload then finds the services that
    // select it as it is indexed (a handful of candidates each), the way a workload event does. The other
    // way round, each service would look up and test every workload carrying its label.
    for (const [key, e] of this.store('Service')) {
      const s = e.body as Service;
      const label = firstSelectorLabel(s);
      if (label === undefined) continue;
      if (!this.store('Endpoints').has(key)) this.derived.set(key, { namespace: s.meta.namespace, name: s.meta.name, shares: new Map(), fixed: fixedPorts(s), body: null, hash: undefined, prov: undefined });
      this.selectorKeys.set(label, (this.selectorKeys.get(label) ?? 0) + 1);
      this.servicesByFirstLabel.add(s.meta.namespace, label, (s.selector as Record<string, string>)[label] as string, key);
    }
    for (const kind of RESOURCE_KINDS) {
      if (kind === 'Service') continue;
      for (const [key, e] of this.store(kind)) this.reindex(kind, key, undefined, e.body, null);
    }
  }
}

/** Whether a batch changed a service's derived Endpoints: their existence, or a pod's share. */
function derivedDiffers(touch: DerivedTouch, d: DerivedEndpoints | undefined): boolean {
  if (touch.existed !== (d !== undefined)) return true;
  if (d === undefined) return false;
  for (const [wl, s] of touch.orig) if (!sameShare(s, d.shares.get(wl))) return true;
  return false;
}

function sameEndpoints(a: Endpoints | undefined, b: Endpoints | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return sameCanonicalJson(a, b);
}

/** The later of two events of one batch. */
function latest(a: Provenance | undefined, b: Provenance | undefined): Provenance | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.offset > a.offset ? b : a;
}

function bodyProblem(key: unknown, body: unknown): string | null {
  if (typeof key !== 'string' || key === '') return 'key must be a non-empty string';
  if (typeof body !== 'object' || body === null) return 'an upsert needs a body (the normalized resource)';
  const meta = (body as { meta?: unknown }).meta;
  if (typeof meta !== 'object' || meta === null) return 'body.meta is missing';
  const { namespace, name, labels } = meta as { namespace?: unknown; name?: unknown; labels?: unknown };
  if (typeof namespace !== 'string' || typeof name !== 'string') return 'body.meta.namespace and body.meta.name must be strings';
  if (typeof labels !== 'object' || labels === null) return 'body.meta.labels must be an object';
  const expected = keyOf({ namespace, name });
  if (expected !== key) return `key "${key}" does not match the body's metadata ("${expected}")`;
  return null;
}

/**
 * namespace -> label -> value -> keys. Nested rather than keyed by one "ns/label=value" string: the event
 * path then looks up strings it already holds instead of building (and hashing) a new one per label.
 */
class LabelIndex {
  private readonly byNs = new Map<string, Map<string, Map<string, Members>>>();

  get(ns: string, label: string, value: string): Members | undefined {
    return this.byNs.get(ns)?.get(label)?.get(value);
  }

  add(ns: string, label: string, value: string, member: string): void {
    let labels = this.byNs.get(ns);
    if (labels === undefined) this.byNs.set(ns, (labels = new Map()));
    let values = labels.get(label);
    if (values === undefined) labels.set(label, (values = new Map()));
    members.mapAdd(values, value, member);
  }

  remove(ns: string, label: string, value: string, member: string): void {
    const labels = this.byNs.get(ns);
    const values = labels?.get(label);
    if (labels === undefined || values === undefined) return;
    members.mapRemove(values, value, member);
    if (values.size === 0) {
      labels.delete(label);
      if (labels.size === 0) this.byNs.delete(ns);
    }
  }

  /** Drops a label key from every namespace. */
  removeLabel(label: string): void {
    for (const [ns, labels] of this.byNs) {
      labels.delete(label);
      if (labels.size === 0) this.byNs.delete(ns);
    }
  }

  clear(): void {
    this.byNs.clear();
  }
}

/** The selector's smallest label key; undefined when the service selects nothing. */
function firstSelectorLabel(s: Service): string | undefined {
  const sel = s.selector;
  if (sel === null) return undefined;
  let first: string | undefined;
  for (const k in sel) if (first === undefined || k < first) first = k;
  return first;
}
