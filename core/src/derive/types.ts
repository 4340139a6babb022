import type { DepKey, IndexName } from '../catalog/types.js';
import type { ResourceKind, ResourceOf } from '../model/types.js';

/**
 * The only way a derivation reads anything. Each read is recorded as a dependency key, so that a change
 * re-runs exactly the derivations that read what changed.
 */
export interface Reader {
  get<K extends ResourceKind>(kind: K, key: string): ResourceOf<K> | undefined;
  list<K extends ResourceKind>(kind: K): readonly ResourceOf<K>[];
  lookup(index: IndexName, value: string): readonly string[];
  /** Value of another derivation (memoized and shared by id). */
  derive<T>(spec: DerivationSpec<T>): T;
  /** External input such as certificate material or static configuration. */
  external<T>(name: string): T | undefined;
}

/**
 * A pure function of mesh state under a stable id. Two specs with the same id must compute the same thing:
 * the id is how a thousand proxies share one derivation, one encoding and one buffer.
 */
export interface DerivationSpec<T> {
  readonly id: string;
  compute(reader: Reader): T;
  /** Content hash for early cut-off; defaults to a hash of the value's canonical JSON. */
  hash?(value: T): string;
}

export interface DerivationResult<T> {
  readonly value: T;
  readonly hash: string;
  /** Engine revision at which the hash last changed. */
  readonly changedAt: number;
}

export interface EngineStats {
  readonly derivations: number;
  readonly computes: number;
  readonly recomputes: number;
  readonly hits: number;
  readonly cutoffs: number;
}

export interface DerivationEngine {
  /** Current value; computes on first use and recomputes only if something it read changed. */
  get<T>(spec: DerivationSpec<T>): DerivationResult<T>;
  /** Marks the derivations that read any of `keys` (transitively) as possibly stale; returns their ids. */
  invalidate(keys: Iterable<DepKey>): ReadonlySet<string>;
  /** Sets an external input (`x:<name>`) and invalidates its readers; returns their ids. */
  setExternal(name: string, value: unknown): ReadonlySet<string>;
  /** Keeps a root derivation (and what it reads) alive; roots are what proxies hold. */
  retain(id: string): void;
  /** Drops a root; derivations no root reaches any longer are freed. */
  release(id: string): void;
  /** Direct dependency keys of a derivation as of its last computation (`d:<id>` for derivations). */
  readSet(id: string): readonly DepKey[];
  stats(): EngineStats;
}
