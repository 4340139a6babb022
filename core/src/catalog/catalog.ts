import type { LogBatch, MeshEvent } from '../log/types.js';
import { RESOURCE_KINDS, keyOf } from '../model/types.js';
import type { AnyResource, ResourceKind, ResourceOf, Service, Workload } from '../model/types.js';
import { assertTree, compareStrings, contentHash, sameCanonicalJson } from '../derive/canonical.js';
import { CatalogError } from './errors.js';
import { INDEX_NAMES, KINDS_WITH_OWN_ENTRIES, identityOf, ownContributions, selects } from './indexes.js';
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

interface Entry {
  readonly body: AnyResource;
  /**
   * Content hash of the body (sha256 of its canonical JSON), computed the first time someone asks for the
   * version. An identical upsert is recognised by sameCanonicalJson, which needs no serialization: replay
   * never hashes.
   */
  hash: string | undefined;
  readonly source: string;
}

/** Whether two entries (either may be absent) hold the same content. */
function sameContent(a: Entry | undefined, b: Entry | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return sameCanonicalJson(a.body, b.body);
}

interface IndexEntry {
  readonly members: Set<string>;
  /** Sorted view handed to readers; rebuilt lazily after a change, never mutated once handed out. */
  sorted: readonly string[] | null;
}

/** The undo and diff journal of one batch: originals are recorded on first touch. */
class Tx {
  readonly resources = new Map<DepKey, { readonly kind: ResourceKind; readonly key: string; readonly orig: Entry | undefined }>();
  /**
   * Net membership change per touched index entry (+1 added, -1 removed, 0 back to where it was). Member
   * operations are only recorded when they really change membership, so an entry changed iff a delta is non-zero.
   */
  readonly indexEntries = new Map<DepKey, { readonly index: IndexName; readonly value: string; readonly delta: Map<string, number> }>();
  /** Provenance of the event that last changed a key within this batch (event-level change). */
  readonly lastEvent = new Map<DepKey, Provenance>();
  readonly offsets: number[] = [];
  event: MeshEvent | undefined;
  /** Provenance of `event`, made on its first change and shared by every key it changes. */
  private prov: Provenance | undefined;

  begin(ev: MeshEvent): void {
    this.event = ev;
    this.prov = undefined;
  }

  changed(key: DepKey): void {
    const ev = this.event;
    if (ev === undefined) return;
    this.lastEvent.set(key, (this.prov ??= { offset: ev.offset, time: ev.time, source: ev.source }));
  }
}

const EMPTY: readonly string[] = Object.freeze([]);
const EMPTY_SET: ReadonlySet<string> = new Set();
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
  private readonly provenanceMap = new Map<DepKey, Provenance>();
  /** Selector relation, kept both ways: service key -> workload keys, workload key -> service keys. */
  private readonly svcMatches = new Map<string, Set<string>>();
  private readonly wlMatches = new Map<string, Set<string>>();
  /** service key -> identity -> number of matched workloads running as that identity. */
  private readonly pairCounts = new Map<string, Map<string, number>>();
  /** "ns\0label=value" -> workload keys carrying that label: candidates for a selector containing it. */
  private readonly workloadsByLabel = new Map<string, Set<string>>();
  /** "ns\0label=value" -> service keys whose selector's first (smallest) label is that one. */
  private readonly servicesByFirstLabel = new Map<string, Set<string>>();
  private last = -1;

  constructor() {
    for (const k of RESOURCE_KINDS) this.kinds.set(k, new Map());
    for (const i of INDEX_NAMES) this.indexes.set(i, new Map());
  }

  get lastOffset(): number {
    return this.last;
  }

  get<K extends ResourceKind>(kind: K, key: string): ResourceOf<K> | undefined {
    return this.store(kind).get(key)?.body as ResourceOf<K> | undefined;
  }

  list<K extends ResourceKind>(kind: K): readonly ResourceOf<K>[] {
    let cached = this.listCache.get(kind);
    if (cached === undefined) {
      const store = this.store(kind);
      cached = Object.freeze([...store.keys()].sort(compareStrings).map((k) => (store.get(k) as Entry).body));
      this.listCache.set(kind, cached);
    }
    return cached as readonly ResourceOf<K>[];
  }

  lookup(index: IndexName, value: string): readonly string[] {
    const m = this.indexes.get(index);
    if (m === undefined) throw new CatalogError('CATALOG_UNKNOWN_INDEX', `unknown index "${index}"; use one of ${INDEX_NAMES.join(', ')}`);
    const e = m.get(value);
    if (e === undefined) return EMPTY;
    return (e.sorted ??= Object.freeze([...e.members].sort(compareStrings)));
  }

  /** Every non-empty entry of an index, sorted by value (debug pages, tests). */
  entries(index: IndexName): readonly (readonly [value: string, keys: readonly string[]])[] {
    const m = this.indexes.get(index);
    if (m === undefined) return [];
    return [...m.keys()].sort(compareStrings).map((v) => [v, this.lookup(index, v)] as const);
  }

  /** Number of resources of a kind. */
  size(kind: ResourceKind): number {
    return this.store(kind).size;
  }

  /** Content hash (sha256 of canonical JSON) of a resource, usable as a version string. */
  versionOf(kind: ResourceKind, key: string): string | undefined {
    const e = this.store(kind).get(key);
    if (e === undefined) return undefined;
    return (e.hash ??= contentHash(e.body));
  }

  provenance(key: DepKey): Provenance | undefined {
    return this.provenanceMap.get(key);
  }

  sourceOf(kind: ResourceKind, key: string): string | undefined {
    return this.store(kind).get(key)?.source;
  }

  apply(batch: LogBatch): ChangeSet {
    this.validate(batch);
    const tx = new Tx();
    try {
      for (const ev of batch.events) {
        tx.begin(ev);
        this.applyEvent(ev, tx);
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
    const provenance = [...this.provenanceMap.keys()]
      .sort(compareStrings)
      .map((k) => {
        const p = this.provenanceMap.get(k) as Provenance;
        return [k, p.offset, p.time, p.source] as const;
      });
    return { v: 1, lastOffset: this.last, resources, provenance };
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
      c.store(r.kind).set(r.key, { body: r.body as AnyResource, hash: undefined, source: r.source });
    }
    for (const p of s.provenance) {
      if (!Array.isArray(p) || typeof p[0] !== 'string' || !Number.isInteger(p[1]) || typeof p[2] !== 'number' || typeof p[3] !== 'string') {
        bad('provenance entries must be [key, offset, time, source]');
      }
      c.provenanceMap.set(p[0], { offset: p[1], time: p[2], source: p[3] });
    }
    c.last = s.lastOffset;
    c.rebuildDerived();
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
      const at = `event at offset ${String(ev?.offset)} (${String(ev?.kind)} ${String(ev?.key)})`;
      if (typeof ev !== 'object' || ev === null) throw new CatalogError('CATALOG_BAD_EVENT', 'a batch contains a non-object event');
      if (!KIND_SET.has(ev.kind)) {
        throw new CatalogError('CATALOG_UNKNOWN_KIND', `${at}: unknown kind "${String(ev.kind)}"; expected one of ${RESOURCE_KINDS.join(', ')}`);
      }
      if (!Number.isInteger(ev.offset)) throw new CatalogError('CATALOG_BAD_EVENT', `${at}: offset must be an integer`);
      if (ev.offset <= prev) {
        throw new CatalogError(
          'CATALOG_OFFSET_ORDER',
          `${at}: offset ${ev.offset} is not after ${prev}; offsets must increase strictly (follow the log from lastOffset + 1 = ${this.last + 1})`,
        );
      }
      prev = ev.offset;
      if (typeof ev.key !== 'string' || ev.key === '') throw new CatalogError('CATALOG_BAD_EVENT', `${at}: key must be a non-empty string`);
      if (typeof ev.source !== 'string') throw new CatalogError('CATALOG_BAD_EVENT', `${at}: source must be a string`);
      if (typeof ev.time !== 'number') throw new CatalogError('CATALOG_BAD_EVENT', `${at}: time must be a number`);
      if (ev.op === 'upsert') {
        const problem = bodyProblem(ev.key, ev.body);
        if (problem !== null) throw new CatalogError('CATALOG_BAD_EVENT', `${at}: ${problem}`);
      } else if (ev.op !== 'delete') {
        throw new CatalogError('CATALOG_BAD_EVENT', `${at}: op must be "upsert" or "delete", got "${String(ev.op)}"`);
      }
    }
  }

  private applyEvent(ev: MeshEvent, tx: Tx): void {
    const store = this.store(ev.kind);
    const old = store.get(ev.key);
    const rKey = depKeys.resource(ev.kind, ev.key);
    let next: Entry | undefined;
    if (ev.op === 'upsert') {
      const body = ev.body as AnyResource;
      // A body that cannot be hashed (a cycle) is refused here, inside the batch's transaction, not when a
      // reader first asks for its version.
      assertTree(body);
      if (old !== undefined && sameCanonicalJson(old.body, body)) {
        // Same content: nothing a reader can see changed, only who last wrote it.
        if (old.source !== ev.source) {
          if (!tx.resources.has(rKey)) tx.resources.set(rKey, { kind: ev.kind, key: ev.key, orig: old });
          store.set(ev.key, { body: old.body, hash: old.hash, source: ev.source });
        }
        return;
      }
      next = { body, hash: undefined, source: ev.source };
    } else if (old === undefined) {
      return;
    }
    if (!tx.resources.has(rKey)) tx.resources.set(rKey, { kind: ev.kind, key: ev.key, orig: old });
    tx.changed(rKey);
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
    if (oldLabel !== undefined) setRemove(this.servicesByFirstLabel, oldLabel, key);
    if (newLabel !== undefined) setAdd(this.servicesByFirstLabel, newLabel, key);
    const before: ReadonlySet<string> = new Set(this.svcMatches.get(key));
    const after = new Set<string>();
    if (newS !== undefined && newLabel !== undefined) {
      // Only workloads carrying the selector's first label can match: no scan of the namespace.
      for (const w of this.workloadsByLabel.get(newLabel) ?? EMPTY_SET) {
        if (selects(newS, this.store('Workload').get(w)?.body as Workload)) after.add(w);
      }
    }
    const workloads = this.store('Workload');
    for (const w of after) {
      if (!before.has(w)) this.link(key, w, identityOf(workloads.get(w)?.body as Workload), tx);
    }
    for (const w of before) {
      if (!after.has(w)) this.unlink(key, w, identityOf(workloads.get(w)?.body as Workload), tx);
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
        if (newLabels === undefined || newLabels[k] !== v) setRemove(this.workloadsByLabel, labelKey(oldW.meta.namespace, k, v), key);
      }
    }
    // Candidates: services of the namespace whose selector starts with one of the workload's labels. A service
    // sits under exactly one first label and the workload's label keys are distinct, so no candidate repeats.
    const after: string[] = [];
    if (newW !== undefined && newLabels !== undefined) {
      const ns = newW.meta.namespace;
      const services = this.store('Service');
      for (const k in newLabels) {
        const v = newLabels[k] as string;
        const l = labelKey(ns, k, v);
        if (oldLabels === undefined || oldLabels[k] !== v) setAdd(this.workloadsByLabel, l, key);
        const svcs = this.servicesByFirstLabel.get(l);
        if (svcs === undefined) continue;
        for (const s of svcs) if (selects(services.get(s)?.body as Service, newW)) after.push(s);
      }
    }
    const before = this.wlMatches.get(key);
    // Removals first: they only take out services not in `after`, so `before.has` below still tells what was matched.
    if (before !== undefined) {
      // Deleting the element being visited is safe in a Set iteration, and nothing is added to `before` here.
      for (const s of before) {
        if (!after.includes(s)) this.unlink(s, key, oldId, tx);
        else if (oldId !== newId) this.pairDec(s, oldId, tx);
      }
    }
    for (const s of after) {
      if (before === undefined || !before.has(s)) this.link(s, key, newId, tx);
      else if (oldId !== newId) this.pairInc(s, newId, tx);
    }
  }

  private link(svc: string, wl: string, identity: string, tx: Tx | null): void {
    setAdd(this.svcMatches, svc, wl);
    setAdd(this.wlMatches, wl, svc);
    this.indexAdd('workloadsByService', svc, wl, tx);
    this.indexAdd('servicesByWorkload', wl, svc, tx);
    this.pairInc(svc, identity, tx);
  }

  private unlink(svc: string, wl: string, identity: string, tx: Tx | null): void {
    setRemove(this.svcMatches, svc, wl);
    setRemove(this.wlMatches, wl, svc);
    this.indexRemove('workloadsByService', svc, wl, tx);
    this.indexRemove('servicesByWorkload', wl, svc, tx);
    this.pairDec(svc, identity, tx);
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

  private touchIndex(index: IndexName, value: string, member: string, change: 1 | -1, tx: Tx | null): void {
    if (tx === null) return;
    const k = depKeys.index(index, value);
    let t = tx.indexEntries.get(k);
    if (t === undefined) tx.indexEntries.set(k, (t = { index, value, delta: new Map() }));
    t.delta.set(member, (t.delta.get(member) ?? 0) + change);
    tx.changed(k);
  }

  private indexAdd(index: IndexName, value: string, member: string, tx: Tx | null): void {
    const m = this.indexes.get(index) as Map<string, IndexEntry>;
    let e = m.get(value);
    if (e?.members.has(member) === true) return;
    this.touchIndex(index, value, member, 1, tx);
    if (e === undefined) m.set(value, (e = { members: new Set(), sorted: null }));
    e.members.add(member);
    e.sorted = null;
  }

  private indexRemove(index: IndexName, value: string, member: string, tx: Tx | null): void {
    const m = this.indexes.get(index) as Map<string, IndexEntry>;
    const e = m.get(value);
    if (e === undefined || !e.members.has(member)) return;
    this.touchIndex(index, value, member, -1, tx);
    e.members.delete(member);
    e.sorted = null;
    if (e.members.size === 0) m.delete(value);
  }

  /** Net diff of the batch: a key changed and reverted inside one batch is not reported. */
  private commit(tx: Tx, batch: LogBatch): ChangeSet {
    const keys = new Set<DepKey>();
    const kindsChanged = new Set<ResourceKind>();
    for (const [rKey, { kind, key, orig }] of tx.resources) {
      const now = this.store(kind).get(key);
      if (sameContent(orig, now)) continue;
      keys.add(rKey);
      kindsChanged.add(kind);
      this.setProvenance(rKey, now === undefined ? undefined : tx.lastEvent.get(rKey));
    }
    for (const kind of kindsChanged) keys.add(depKeys.kind(kind));
    for (const [iKey, { index, value, delta }] of tx.indexEntries) {
      let changed = false;
      for (const d of delta.values()) {
        if (d !== 0) {
          changed = true;
          break;
        }
      }
      if (!changed) continue;
      keys.add(iKey);
      const exists = (this.indexes.get(index) as Map<string, IndexEntry>).has(value);
      this.setProvenance(iKey, exists ? tx.lastEvent.get(iKey) : undefined);
    }
    const lastEv = batch.events[batch.events.length - 1];
    if (lastEv !== undefined) this.last = lastEv.offset;
    return { keys, offsets: tx.offsets };
  }

  private setProvenance(key: DepKey, p: Provenance | undefined): void {
    // Provenance of what no longer exists is dropped: otherwise churn (pods coming and going) grows it forever.
    if (p === undefined) this.provenanceMap.delete(key);
    else this.provenanceMap.set(key, p);
  }

  private rollback(tx: Tx): void {
    for (const { kind, key, orig } of tx.resources.values()) {
      if (orig === undefined) this.store(kind).delete(key);
      else this.store(kind).set(key, orig);
    }
    this.rebuildDerived();
  }

  /** Recomputes every index from the resources (snapshot restore and rollback; never on the event path). */
  private rebuildDerived(): void {
    this.listCache.clear();
    for (const m of this.indexes.values()) m.clear();
    this.svcMatches.clear();
    this.wlMatches.clear();
    this.pairCounts.clear();
    this.workloadsByLabel.clear();
    this.servicesByFirstLabel.clear();
    for (const kind of RESOURCE_KINDS) {
      if (kind === 'Service') continue;
      for (const [key, e] of this.store(kind)) this.reindex(kind, key, undefined, e.body, null);
    }
    for (const [key, e] of this.store('Service')) this.reindex('Service', key, undefined, e.body, null);
  }
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

/** "ns\0label=value": one entry of the label index. */
function labelKey(namespace: string, label: string, value: string): string {
  return `${namespace}\0${label}=${value}`;
}

/** The selector's smallest label as "ns\0label=value"; undefined when the service selects nothing. */
function firstSelectorLabel(s: Service): string | undefined {
  const sel = s.selector;
  if (sel === null) return undefined;
  let first: string | undefined;
  for (const k in sel) if (first === undefined || k < first) first = k;
  return first === undefined ? undefined : `${s.meta.namespace}\0${first}=${sel[first] as string}`;
}

function setAdd(m: Map<string, Set<string>>, k: string, v: string): void {
  let s = m.get(k);
  if (s === undefined) m.set(k, (s = new Set()));
  s.add(v);
}

function setRemove(m: Map<string, Set<string>>, k: string, v: string): void {
  const s = m.get(k);
  if (s === undefined) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}
