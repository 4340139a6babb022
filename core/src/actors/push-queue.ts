/**
 * The proxies with a push due, flushed together: every invalidation of a log batch (and every ACK that frees
 * a blocked type) adds its proxies synchronously, and one flush, a microtask later, plans and writes them all.
 * No timer or promise per proxy: a change reaches a thousand proxies in one pass of the event loop.
 *
 * The work of one pass is bounded: after `maxPerSlice` proxies the flush yields (setImmediate), so the
 * requests of every other stream, the ACKs included, are read between slices of a storm.
 */
export interface PushQueueOptions<P> {
  /** Pushes per slice before the flush yields to I/O. */
  readonly maxPerSlice: number;
  /** Plans and writes one proxy's push (or defers it); must not throw. */
  readonly push: (proxy: P) => void;
  /** Runs the first slice of a flush; a microtask by default. */
  readonly schedule?: (run: () => void) => void;
  /** Runs the next slice after I/O; setImmediate by default. */
  readonly yieldToIo?: (run: () => void) => void;
}

export class PushQueue<P> {
  private readonly due = new Set<P>();
  private scheduled = false;
  private readonly maxPerSlice: number;
  private readonly schedule: (run: () => void) => void;
  private readonly yieldToIo: (run: () => void) => void;
  private slices = 0;

  constructor(private readonly options: PushQueueOptions<P>) {
    if (!Number.isInteger(options.maxPerSlice) || options.maxPerSlice < 1) {
      throw new RangeError(`maxConcurrentPushes must be a positive integer, got ${options.maxPerSlice}`);
    }
    this.maxPerSlice = options.maxPerSlice;
    this.schedule = options.schedule ?? queueMicrotask;
    this.yieldToIo = options.yieldToIo ?? ((run) => void setImmediate(run));
  }

  /** Queues a proxy (once, however often it is added before the flush reaches it). */
  add(proxy: P): void {
    this.due.add(proxy);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => this.flush());
  }

  /** Forgets a proxy (its stream closed). */
  delete(proxy: P): void {
    this.due.delete(proxy);
  }

  /** Proxies queued and not yet pushed. */
  get waiting(): number {
    return this.due.size;
  }

  /** Slices run so far (tests: how a flush was split). */
  get sliceCount(): number {
    return this.slices;
  }

  private flush(): void {
    this.slices++;
    let n = 0;
    for (const proxy of this.due) {
      if (n === this.maxPerSlice) {
        this.yieldToIo(() => this.flush());
        return;
      }
      this.due.delete(proxy);
      n++;
      this.options.push(proxy);
    }
    this.scheduled = false;
  }
}
