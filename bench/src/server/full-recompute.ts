/**
 * The OSM model for comparison: every change throws all derived state away, so every proxy's configuration
 * is regenerated and re-encoded, and every proxy is told. Implemented as an engine whose inner Engine is
 * replaced by a fresh one over the same catalog on each change; retains and externals carry over.
 */
import type { DepKey, DerivationEngine, DerivationResult, DerivationSpec, EngineStats, MeshView } from '@weft/core';
import { Engine } from '@weft/core/testing';

export class FullRecomputeEngine implements DerivationEngine {
  private inner: Engine;
  private readonly externals = new Map<string, unknown>();
  private readonly retained = new Map<string, number>();

  constructor(private readonly view: MeshView) {
    this.inner = new Engine(view);
  }

  get<T>(spec: DerivationSpec<T>): DerivationResult<T> {
    return this.inner.get(spec);
  }

  /** Every change: a fresh engine; returns every retained root, so every proxy recomputes. */
  invalidate(_keys: Iterable<DepKey>): ReadonlySet<string> {
    return this.rebuild();
  }

  setExternal(name: string, value: unknown): ReadonlySet<string> {
    this.externals.set(name, value);
    return this.rebuild();
  }

  /** Sets an external without a rebuild (initial certificate material). */
  seedExternal(name: string, value: unknown): void {
    this.externals.set(name, value);
    this.inner.setExternal(name, value);
  }

  private rebuild(): ReadonlySet<string> {
    this.inner = new Engine(this.view);
    for (const [name, value] of this.externals) this.inner.setExternal(name, value);
    for (const [id, n] of this.retained) for (let i = 0; i < n; i++) this.inner.retain(id);
    return new Set(this.retained.keys());
  }

  retain(id: string): void {
    this.retained.set(id, (this.retained.get(id) ?? 0) + 1);
    this.inner.retain(id);
  }

  release(id: string): void {
    const n = this.retained.get(id) ?? 0;
    if (n <= 1) this.retained.delete(id);
    else this.retained.set(id, n - 1);
    this.inner.release(id);
  }

  readSet(id: string): readonly DepKey[] {
    return this.inner.readSet(id);
  }

  stats(): EngineStats {
    return this.inner.stats();
  }
}
