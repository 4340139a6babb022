/**
 * Shared follow() machinery for the logs: one loop per subscription that catches up from a reader, then
 * waits for the log to signal new batches. Handler calls never overlap.
 */
import type { Logger } from '../observe/logger.js';
import type { LogBatch, Subscription } from './types.js';

/** Offset of the first event past the batch. */
export function batchEnd(batch: LogBatch): number {
  const last = batch.events[batch.events.length - 1];
  return last === undefined ? 0 : last.offset + 1;
}

/**
 * The part of a batch at or past `from`. Readers asked to start inside a batch deliver only the events the
 * caller did not have yet, so resuming after offset N with N+1 never applies an event twice.
 */
export function sliceBatch(batch: LogBatch, from: number): LogBatch {
  const first = batch.events[0];
  if (first === undefined || first.offset >= from) return batch;
  return { events: batch.events.filter((e) => e.offset >= from) };
}

/** Wakes every waiter once per notify(); a waiter obtained before a notify() is always woken by it. */
export class Notifier {
  private waiters: (() => void)[] = [];

  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export interface FollowSource {
  /** First offset past the last readable event. */
  head(): number;
  /** Batches from `from` up to the head at the time of the call. */
  readFrom(from: number): AsyncIterable<LogBatch>;
  /** Resolves when the head may have moved (or the log closes, or failed). */
  changed(): Promise<void>;
  /**
   * Optional: why the log can no longer move its head (say a remote tail that read something that is not a
   * batch), or null/undefined while it can. A caught-up follower then ends with that error.
   */
  failure?(): unknown;
}

/**
 * The last batches a log appended or saw, kept encoded for followers that are caught up, so they need not go
 * back to storage: at most `maxEntries` entries and `maxBytes` of payload, and always the newest one.
 */
export class RecentBatches<T extends { readonly payload: Uint8Array }> {
  private list: T[] = [];
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  /** Oldest first. A push may extend this array; a trim replaces it, so an iteration in progress stays consistent. */
  get entries(): readonly T[] {
    return this.list;
  }

  push(entry: T): void {
    this.list.push(entry);
    this.bytes += entry.payload.length;
    let drop = 0;
    while (this.list.length - drop > 1 && (this.list.length - drop > this.maxEntries || this.bytes > this.maxBytes)) {
      this.bytes -= this.list[drop]!.payload.length;
      drop++;
    }
    if (drop > 0) this.list = this.list.slice(drop);
  }

  /** Index of the newest entry whose first offset (`first(entry)`) is at or before `offset`; -1 when none is. */
  lastAtOrBefore(offset: number, first: (entry: T) => number): number {
    const list = this.list;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (first(list[mid]!) <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
}

export class Follower implements Subscription {
  private closed = false;
  private readonly stop: Promise<void>;
  private stopNow: () => void = () => undefined;
  private readonly done: Promise<void>;

  constructor(
    private readonly source: FollowSource,
    from: number,
    private readonly handler: (batch: LogBatch) => void | Promise<void>,
    private readonly logger: Logger,
    private readonly onEnd: (f: Follower) => void,
  ) {
    this.stop = new Promise((resolve) => {
      this.stopNow = resolve;
    });
    this.done = this.run(from).finally(() => this.onEnd(this));
  }

  private async run(from: number): Promise<void> {
    let pos = from;
    try {
      while (!this.closed) {
        if (pos < this.source.head()) {
          for await (const batch of this.source.readFrom(pos)) {
            if (this.closed) return;
            await this.handler(batch);
            pos = Math.max(pos, batchEnd(batch));
          }
          continue;
        }
        const failure = this.source.failure?.();
        if (failure !== undefined && failure !== null) throw failure;
        // No await between the head check above and taking the waiter: an append cannot slip between them.
        await Promise.race([this.source.changed(), this.stop]);
      }
    } catch (err) {
      // The Subscription contract has no error channel; the subscription ends and says why, loudly.
      this.logger.error('event log subscription stopped', {
        offset: pos,
        error: err instanceof Error ? err.message : String(err),
        code: (err as { code?: unknown }).code,
      });
    }
  }

  close(): Promise<void> {
    this.closed = true;
    this.stopNow();
    return this.done;
  }
}
