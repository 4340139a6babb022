import type { PushCause } from '../xds/protocol.js';

/**
 * Bounds how many proxy pushes run at once, so that a storm of changes cannot starve the event loop (and the
 * requests of every other stream) while thousands of actors push. Waiters are served first come, first served.
 */
export class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxConcurrentPushes must be a positive integer, got ${max}`);
  }

  acquire(): Promise<() => void> {
    if (this.active < this.max) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => this.waiters.push(() => resolve(this.releaser())));
  }

  get inUse(): number {
    return this.active;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiters.shift();
      if (next !== undefined) next();
      else this.active--;
    };
  }
}

/** What the supervisor knows of a connected proxy. */
export interface SupervisedProxy {
  /** Ids of the root derivations the proxy retains (its resource sets per type). */
  readonly rootIds: readonly string[];
  invalidate(cause: PushCause): void;
}

/**
 * Routes invalidations to the proxies that hold an invalidated root, and nobody else: sending an event to
 * every actor costs ~12 us each, which at 10,000 proxies is the whole budget of a push.
 */
export class ProxySupervisor<P extends SupervisedProxy = SupervisedProxy> {
  private readonly byRoot = new Map<string, Set<P>>();
  private readonly all = new Set<P>();
  readonly semaphore: Semaphore;

  constructor(options: { maxConcurrentPushes: number }) {
    this.semaphore = new Semaphore(options.maxConcurrentPushes);
  }

  add(proxy: P): void {
    this.all.add(proxy);
    for (const id of proxy.rootIds) {
      let set = this.byRoot.get(id);
      if (set === undefined) {
        set = new Set();
        this.byRoot.set(id, set);
      }
      set.add(proxy);
    }
  }

  remove(proxy: P): void {
    if (!this.all.delete(proxy)) return;
    for (const id of proxy.rootIds) {
      const set = this.byRoot.get(id);
      if (set === undefined) continue;
      set.delete(proxy);
      if (set.size === 0) this.byRoot.delete(id);
    }
  }

  /** Sends the invalidation to each proxy holding one of `ids`, once per proxy; returns how many. */
  notify(ids: Iterable<string>, cause: PushCause): number {
    const touched = new Set<P>();
    for (const id of ids) {
      const set = this.byRoot.get(id);
      if (set !== undefined) for (const p of set) touched.add(p);
    }
    for (const p of touched) p.invalidate(cause);
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
