import { depKeys } from '../catalog/types.js';
import type { DepKey, IndexName, MeshView } from '../catalog/types.js';
import type { ResourceKind, ResourceOf } from '../model/types.js';
import { compareStrings, contentHash } from './canonical.js';
import { DerivationCycleError, DerivationUsageError } from './errors.js';
import type { DerivationEngine, DerivationResult, DerivationSpec, EngineStats, Reader } from './types.js';

export interface EngineOptions {
  /** Hash used when a spec has none; defaults to sha256 of canonical JSON. */
  readonly hash?: (value: unknown) => string;
  /** Instrumentation: called after each compute, early cut-off and drop (metrics, tests, debug). */
  readonly onEvent?: (event: EngineEvent) => void;
}

export interface EngineEvent {
  /**
   * compute: first computation; recompute: ran again and the hash changed; unchanged: ran again to the same
   * hash (dependents are not recomputed); cutoff: found clean without running; drop: freed.
   */
  readonly type: 'compute' | 'recompute' | 'unchanged' | 'cutoff' | 'drop';
  readonly id: string;
  readonly revision: number;
}

export interface DetailedEngineStats extends EngineStats {
  /** Recomputations whose value hashed the same as before (propagation stopped there). */
  readonly unchanged: number;
  /** Distinct retained root ids. */
  readonly roots: number;
  /** Dependency keys some held derivation reads (size of the key -> dependents index). */
  readonly keys: number;
  readonly revision: number;
}

export interface DerivationInfo {
  readonly id: string;
  readonly state: 'clean' | 'stale' | 'new';
  /** Retain count (0 for derivations kept only because a root reads them). */
  readonly refs: number;
  readonly hash: string | undefined;
  readonly changedAt: number | undefined;
  readonly verifiedAt: number;
  readonly computes: number;
  readonly recomputes: number;
  readonly unchanged: number;
  readonly hits: number;
  readonly cutoffs: number;
  /** Number of direct dependency keys (state, externals and derivations). */
  readonly reads: number;
  readonly dependents: number;
}

const NEW = 0;
const CLEAN = 1;
const STALE = 2;

const NO_KEYS: readonly DepKey[] = [];
const NO_NODES: readonly Node[] = [];

/** How far back a read is looked for among this run's earlier reads before the log falls back to a Set. */
const REPEAT_SCAN = 16;

/**
 * One kind of read (state keys, or derivations) of a computation, compared with the previous run's as it
 * happens. A recompute nearly always reads what it read before, in the same order: then nothing is
 * allocated and the engine's indexes stand as they are. Only a run that reads differently builds a new
 * list (and a Set to keep it free of repeats); before this, every recompute built two Sets and compared them.
 */
class ReadLog<T> {
  /** Reads of this run matching the previous run's, position by position. */
  private matched = 0;
  /** This run's reads, once they differ from the previous run's. */
  private fresh: T[] | undefined = undefined;
  private seen: Set<T> | undefined = undefined;

  constructor(private readonly prev: readonly T[]) {}

  add(x: T): void {
    const fresh = this.fresh;
    if (fresh === undefined) {
      if (this.matched < this.prev.length && this.prev[this.matched] === x) {
        this.matched++;
        return;
      }
      // A repeat of a read this run already made changes nothing.
      if (this.matched <= REPEAT_SCAN) {
        for (let j = 0; j < this.matched; j++) if (this.prev[j] === x) return;
      }
      this.diverge();
      this.push(x);
      return;
    }
    this.push(x);
  }

  /** True when this run read something the previous one did not, or in another order, or less. */
  get changed(): boolean {
    return this.fresh !== undefined || this.matched !== this.prev.length;
  }

  /** This run's reads, deduplicated, in first-read order (the previous list itself when unchanged). */
  result(): readonly T[] {
    if (this.fresh !== undefined) return this.fresh;
    return this.matched === this.prev.length ? this.prev : this.prev.slice(0, this.matched);
  }

  private diverge(): void {
    const fresh = this.prev.slice(0, this.matched);
    this.fresh = fresh;
    this.seen = new Set(fresh);
  }

  /** Adds to a diverged log (the read is known not to be a repeat of the matched prefix). */
  private push(x: T): void {
    if (this.seen!.has(x)) return;
    this.seen!.add(x);
    this.fresh!.push(x);
  }
}

class Node {
  spec: DerivationSpec<unknown>;
  readonly id: string;
  state = NEW;
  computing = false;
  /** A state or external key this node read directly was invalidated: it must run, not just verify. */
  keysDirty = false;
  result: DerivationResult<unknown> | undefined = undefined;
  /** Revision at which the node was last computed or verified clean. */
  verifiedAt = -1;
  /** What the last run read, deduplicated, in first-read order. */
  keys: readonly DepKey[] = NO_KEYS;
  deps: readonly Node[] = NO_NODES;
  readonly dependents = new Set<Node>();
  refs = 0;
  /** Epoch of the last invalidate walk that reached this node (avoids a visited set per walk). */
  mark = 0;
  computes = 0;
  recomputes = 0;
  unchanged = 0;
  hits = 0;
  cutoffs = 0;

  constructor(spec: DerivationSpec<unknown>) {
    this.spec = spec;
    this.id = spec.id;
  }
}

/** What the reader needs from its engine; created once per engine so a computation allocates only its reader. */
interface ReaderHooks {
  readonly view: MeshView;
  resolve(spec: DerivationSpec<unknown>): Node;
  external(name: string): unknown;
}

/** Records every read of one computation. Not usable once the computation returned. */
class TrackingReader implements Reader {
  readonly keys: ReadLog<DepKey>;
  readonly deps: ReadLog<Node>;
  closed = false;

  constructor(
    private readonly engine: ReaderHooks,
    private readonly node: Node,
  ) {
    this.keys = new ReadLog(node.keys);
    this.deps = new ReadLog(node.deps);
  }

  get<K extends ResourceKind>(kind: K, key: string): ResourceOf<K> | undefined {
    this.check();
    this.keys.add(depKeys.resource(kind, key));
    return this.engine.view.get(kind, key);
  }

  list<K extends ResourceKind>(kind: K): readonly ResourceOf<K>[] {
    this.check();
    this.keys.add(depKeys.kind(kind));
    return this.engine.view.list(kind);
  }

  lookup(index: IndexName, value: string): readonly string[] {
    this.check();
    this.keys.add(depKeys.index(index, value));
    return this.engine.view.lookup(index, value);
  }

  derive<T>(spec: DerivationSpec<T>): T {
    this.check();
    const child = this.engine.resolve(spec as DerivationSpec<unknown>);
    this.deps.add(child);
    return (child.result as DerivationResult<unknown>).value as T;
  }

  external<T>(name: string): T | undefined {
    this.check();
    this.keys.add(depKeys.external(name));
    return this.engine.external(name) as T | undefined;
  }

  private check(): void {
    if (this.closed) {
      throw new DerivationUsageError(
        `derivation "${this.node.id}" used its reader after compute returned; read everything inside compute so the reads are tracked`,
      );
    }
  }
}

/**
 * The incremental derivation engine: memoized pure functions under stable ids, with read-set tracking,
 * lazy red-green recomputation and early cut-off on content hashes.
 *
 * invalidate() only marks; get() brings a derivation up to date: a possibly stale derivation first
 * refreshes the derivations it read; if none of their hashes moved and none of its own state keys were
 * invalidated it is clean again without running. A recompute that hashes the same keeps the old value
 * (so encodings stay shared) and does not disturb dependents.
 */
export class Engine implements DerivationEngine {
  private readonly hooks: ReaderHooks;
  private readonly nodes = new Map<string, Node>();
  private readonly keyIndex = new Map<DepKey, Set<Node>>();
  private readonly roots = new Map<string, number>();
  private readonly externals = new Map<string, unknown>();
  private readonly stack: Node[] = [];
  private readonly hashFn: (value: unknown) => string;
  private readonly onEvent: ((event: EngineEvent) => void) | undefined;
  private rev = 0;
  private epoch = 0;
  private nComputes = 0;
  private nRecomputes = 0;
  private nUnchanged = 0;
  private nHits = 0;
  private nCutoffs = 0;

  constructor(view: MeshView, options: EngineOptions = {}) {
    this.hooks = {
      view,
      resolve: (spec) => this.resolve(spec),
      external: (name) => this.externals.get(name),
    };
    this.hashFn = options.hash ?? contentHash;
    this.onEvent = options.onEvent;
  }

  /** Incremented by every invalidate (and every setExternal that changed a value). */
  get revision(): number {
    return this.rev;
  }

  get<T>(spec: DerivationSpec<T>): DerivationResult<T> {
    if (this.stack.length > 0) {
      const inner = this.stack[this.stack.length - 1] as Node;
      throw new DerivationUsageError(
        `derivation "${inner.id}" called engine.get("${spec.id}") while computing; use reader.derive() so the dependency is tracked`,
      );
    }
    return this.resolve(spec as DerivationSpec<unknown>).result as DerivationResult<T>;
  }

  /** Shared by get() and reader.derive(): returns an up-to-date node. */
  private resolve(spec: DerivationSpec<unknown>): Node {
    let node = this.nodes.get(spec.id);
    if (node === undefined) {
      node = new Node(spec);
      node.refs = this.roots.get(spec.id) ?? 0;
      this.nodes.set(spec.id, node);
    } else {
      node.spec = spec;
      if (node.state === CLEAN) {
        node.hits++;
        this.nHits++;
        return node;
      }
    }
    this.refresh(node);
    return node;
  }

  invalidate(keys: Iterable<DepKey>): ReadonlySet<string> {
    this.assertNotComputing('invalidate');
    this.rev++;
    const epoch = ++this.epoch;
    const out = new Set<string>();
    const work: Node[] = [];
    for (const k of keys) {
      const readers = this.keyIndex.get(k);
      if (readers === undefined) continue;
      for (const n of readers) {
        n.keysDirty = true;
        if (n.mark !== epoch) {
          n.mark = epoch;
          work.push(n);
        }
      }
    }
    for (let n = work.pop(); n !== undefined; n = work.pop()) {
      out.add(n.id);
      if (n.state === CLEAN) n.state = STALE;
      for (const p of n.dependents) {
        if (p.mark !== epoch) {
          p.mark = epoch;
          work.push(p);
        }
      }
    }
    return out;
  }

  setExternal(name: string, value: unknown): ReadonlySet<string> {
    if (this.externals.has(name) && Object.is(this.externals.get(name), value)) return new Set();
    this.externals.set(name, value);
    return this.invalidate([depKeys.external(name)]);
  }

  retain(id: string): void {
    const n = (this.roots.get(id) ?? 0) + 1;
    this.roots.set(id, n);
    const node = this.nodes.get(id);
    if (node !== undefined) node.refs = n;
  }

  release(id: string): void {
    const n = this.roots.get(id);
    if (n === undefined) {
      throw new DerivationUsageError(`release("${id}") without a matching retain; every release must follow a retain of the same id`);
    }
    const node = this.nodes.get(id);
    if (n > 1) {
      this.roots.set(id, n - 1);
      if (node !== undefined) node.refs = n - 1;
      return;
    }
    this.roots.delete(id);
    if (node !== undefined) {
      node.refs = 0;
      this.maybeDrop(node);
    }
  }

  /**
   * Frees every derivation no retained root reaches, including ones computed by a top-level get() that
   * were never retained (those are otherwise kept, so ad-hoc reads stay memoized). O(derivations).
   */
  sweep(): number {
    const live = new Set<Node>();
    const work: Node[] = [];
    for (const id of this.roots.keys()) {
      const n = this.nodes.get(id);
      if (n !== undefined) work.push(n);
    }
    for (let n = work.pop(); n !== undefined; n = work.pop()) {
      if (live.has(n)) continue;
      live.add(n);
      for (const d of n.deps) work.push(d);
    }
    let freed = 0;
    for (const n of [...this.nodes.values()]) {
      if (!live.has(n) && !n.computing) {
        this.drop(n, false);
        freed++;
      }
    }
    return freed;
  }

  readSet(id: string): readonly DepKey[] {
    const node = this.nodes.get(id);
    if (node === undefined) return [];
    return [...node.keys, ...node.deps.map((d) => depKeys.derivation(d.id))];
  }

  /**
   * The last computed result of a held derivation, without computing anything (undefined when it is not
   * held or never ran). Current for everything a root reads right after get(root). Config dumps use it to
   * find which derivation produced a resource.
   */
  peek(id: string): DerivationResult<unknown> | undefined {
    return this.nodes.get(id)?.result;
  }

  /** Ids of the derivations that directly read a key (tests, debug). */
  readersOf(key: DepKey): readonly string[] {
    return [...(this.keyIndex.get(key) ?? [])].map((n) => n.id).sort(compareStrings);
  }

  has(id: string): boolean {
    return this.nodes.has(id);
  }

  stats(): DetailedEngineStats {
    return {
      derivations: this.nodes.size,
      computes: this.nComputes,
      recomputes: this.nRecomputes,
      hits: this.nHits,
      cutoffs: this.nCutoffs,
      unchanged: this.nUnchanged,
      roots: this.roots.size,
      keys: this.keyIndex.size,
      revision: this.rev,
    };
  }

  /** One derivation's counters and state, or undefined when it is not (or no longer) held. */
  info(id: string): DerivationInfo | undefined {
    const n = this.nodes.get(id);
    if (n === undefined) return undefined;
    return {
      id: n.id,
      state: n.state === CLEAN ? 'clean' : n.state === STALE ? 'stale' : 'new',
      refs: n.refs,
      hash: n.result?.hash,
      changedAt: n.result?.changedAt,
      verifiedAt: n.verifiedAt,
      computes: n.computes,
      recomputes: n.recomputes,
      unchanged: n.unchanged,
      hits: n.hits,
      cutoffs: n.cutoffs,
      reads: n.keys.length + n.deps.length,
      dependents: n.dependents.size,
    };
  }

  /** Every derivation held, sorted by id (for /debug/derivations). */
  derivations(): readonly DerivationInfo[] {
    return [...this.nodes.keys()].sort(compareStrings).map((id) => this.info(id) as DerivationInfo);
  }

  // ---- internals ------------------------------------------------------------------------------

  private refresh(node: Node): void {
    if (node.computing) throw new DerivationCycleError(this.cycleTo(node));
    if (node.state === CLEAN) return;
    if (node.state === STALE && !node.keysDirty) {
      let changed = false;
      for (const dep of node.deps) {
        this.refresh(dep);
        if ((dep.result as DerivationResult<unknown>).changedAt > node.verifiedAt) {
          changed = true;
          break;
        }
      }
      if (!changed) {
        node.state = CLEAN;
        node.verifiedAt = this.rev;
        node.cutoffs++;
        this.nCutoffs++;
        this.emit('cutoff', node);
        return;
      }
    }
    this.recompute(node);
  }

  private recompute(node: Node): void {
    const reader = new TrackingReader(this.hooks, node);
    node.computing = true;
    this.stack.push(node);
    let value: unknown;
    let hash: string;
    try {
      value = node.spec.compute(reader);
      hash = node.spec.hash === undefined ? this.hashFn(value) : node.spec.hash(value);
    } catch (err) {
      node.computing = false;
      this.stack.pop();
      reader.closed = true;
      this.abandon(node, reader);
      throw err;
    }
    node.computing = false;
    this.stack.pop();
    reader.closed = true;
    this.rewire(node, reader.keys, reader.deps);
    const prev = node.result;
    if (prev === undefined) {
      node.result = { value, hash, changedAt: this.rev };
      node.computes++;
      this.nComputes++;
      this.emit('compute', node);
    } else if (prev.hash === hash) {
      // Keep the old value object: consumers (and encoded buffers) stay shared and nothing moves.
      node.unchanged++;
      this.nUnchanged++;
      this.emit('unchanged', node);
    } else {
      node.result = { value, hash, changedAt: this.rev };
      node.recomputes++;
      this.nRecomputes++;
      this.emit('recompute', node);
    }
    node.state = CLEAN;
    node.keysDirty = false;
    node.verifiedAt = this.rev;
  }

  /** A failed computation keeps its previous read set; derivations it created and nobody holds are freed. */
  private abandon(node: Node, reader: TrackingReader): void {
    const held = new Set(node.deps);
    for (const child of reader.deps.result()) if (!held.has(child)) this.maybeDrop(child);
    if (node.state === NEW) this.maybeDrop(node);
  }

  private rewire(node: Node, keys: ReadLog<DepKey>, deps: ReadLog<Node>): void {
    // A recompute nearly always reads what it read before: then the indexes stand as they are.
    if (keys.changed) {
      const next = keys.result();
      const nextSet = new Set(next);
      const oldSet = new Set(node.keys);
      for (const k of node.keys) {
        if (nextSet.has(k)) continue;
        const readers = this.keyIndex.get(k);
        if (readers === undefined) continue;
        readers.delete(node);
        if (readers.size === 0) this.keyIndex.delete(k);
      }
      for (const k of next) {
        if (oldSet.has(k)) continue;
        let readers = this.keyIndex.get(k);
        if (readers === undefined) this.keyIndex.set(k, (readers = new Set()));
        readers.add(node);
      }
      node.keys = next;
    }
    if (deps.changed) {
      const next = deps.result();
      const nextSet = new Set(next);
      const old = node.deps;
      node.deps = next;
      for (const d of next) d.dependents.add(node);
      for (const d of old) {
        if (nextSet.has(d)) continue;
        d.dependents.delete(node);
        this.maybeDrop(d);
      }
    }
  }

  private maybeDrop(node: Node): void {
    if (node.refs === 0 && node.dependents.size === 0 && !node.computing && this.nodes.get(node.id) === node) {
      this.drop(node, true);
    }
  }

  private drop(node: Node, cascade: boolean): void {
    this.nodes.delete(node.id);
    for (const k of node.keys) {
      const readers = this.keyIndex.get(k);
      if (readers === undefined) continue;
      readers.delete(node);
      if (readers.size === 0) this.keyIndex.delete(k);
    }
    const deps = node.deps;
    node.keys = NO_KEYS;
    node.deps = NO_NODES;
    for (const d of deps) {
      d.dependents.delete(node);
      if (cascade) this.maybeDrop(d);
    }
    this.emit('drop', node);
  }

  private cycleTo(node: Node): string[] {
    const i = this.stack.indexOf(node);
    return [...this.stack.slice(i < 0 ? 0 : i).map((n) => n.id), node.id];
  }

  private assertNotComputing(what: string): void {
    if (this.stack.length > 0) {
      const inner = this.stack[this.stack.length - 1] as Node;
      throw new DerivationUsageError(`derivation "${inner.id}" called engine.${what}() while computing; derivations must be pure`);
    }
  }

  private emit(type: EngineEvent['type'], node: Node): void {
    if (this.onEvent !== undefined) this.onEvent({ type, id: node.id, revision: this.rev });
  }
}
