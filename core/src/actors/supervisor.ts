import type { PushCause } from '../xds/protocol.js';

/** What the supervisor knows of a connected proxy. */
export interface SupervisedProxy {
  /** Ids of the root derivations the proxy retains (its resource sets per type, or its views and their sets). */
  readonly rootIds: readonly string[];
  /** `ids` is the whole invalidation; the proxy picks its own roots out of it. */
  invalidate(cause: PushCause, ids: ReadonlySet<string>): void;
}

/**
 * Routes invalidations to the proxies that hold an invalidated root, and nobody else: sending an event to
 * every actor costs ~12 us each, which at 10,000 proxies is the whole budget of a push.
 */
export class ProxySupervisor<P extends SupervisedProxy = SupervisedProxy> {
  /**
   * Who holds each root: the proxy itself while it is the only one (the usual case, as a root names its
   * proxy), a Set once several do. A Set per root cost five allocations per connecting proxy.
   */
  private readonly byRoot = new Map<string, P | Set<P>>();
  private readonly all = new Set<P>();

  add(proxy: P): void {
    this.all.add(proxy);
    this.watch(proxy, proxy.rootIds);
  }

  remove(proxy: P): void {
    if (!this.all.delete(proxy)) return;
    this.unwatch(proxy, proxy.rootIds);
  }

  /** The proxy's roots changed from `before` to its `rootIds` (its views moved it to other shared sets). */
  update(proxy: P, before: readonly string[]): void {
    if (!this.all.has(proxy)) return;
    const now = new Set(proxy.rootIds);
    this.unwatch(proxy, before.filter((id) => !now.has(id)));
    this.watch(proxy, proxy.rootIds);
  }

  private watch(proxy: P, ids: readonly string[]): void {
    for (const id of ids) {
      const held = this.byRoot.get(id);
      if (held === undefined) this.byRoot.set(id, proxy);
      else if (held instanceof Set) held.add(proxy);
      else if (held !== proxy) this.byRoot.set(id, new Set([held, proxy]));
    }
  }

  private unwatch(proxy: P, ids: readonly string[]): void {
    for (const id of ids) {
      const held = this.byRoot.get(id);
      if (held === proxy) {
        this.byRoot.delete(id);
      } else if (held instanceof Set) {
        held.delete(proxy);
        if (held.size === 1) this.byRoot.set(id, held.values().next().value as P);
      }
    }
  }

  /**
   * Marks each proxy holding one of `ids` dirty, once per proxy, synchronously (a plain call, not an actor
   * event); returns how many.
   */
  notify(ids: ReadonlySet<string>, cause: PushCause): number {
    const touched = new Set<P>();
    for (const id of ids) {
      const held = this.byRoot.get(id);
      if (held === undefined) continue;
      if (held instanceof Set) for (const p of held) touched.add(p);
      else touched.add(held);
    }
    for (const p of touched) p.invalidate(cause, ids);
    return touched.size;
  }

  get size(): number {
    return this.all.size;
  }

  /** Number of distinct root ids being watched (for leak checks). */
  get rootCount(): number {
    return this.byRoot.size;
  }

  proxies(): readonly P[] {
    return [...this.all];
  }
}
