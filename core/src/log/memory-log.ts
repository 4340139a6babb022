/**
 * An EventLog in memory, for tests and `memory:` runs. Events go through the same validation and canonical
 * JSON as the file log, so a body read back is exactly what a file log would give.
 */
import { createLogger, type Logger } from '../observe/logger.js';
import { prepareBatch, type PreparedEvent } from './codec.js';
import { LogUnavailableError } from './errors.js';
import { batchEnd, Follower, Notifier, sliceBatch } from './follow.js';
import { EVENT_SCHEMA_VERSION, type EventInput, type EventLog, type LogBatch, type MeshEvent, type Subscription } from './types.js';

export interface MemoryEventLogOptions {
  logger?: Logger;
  /** Clock for events without a time (tests pin it). */
  now?: () => number;
}

const utf8 = new TextDecoder();

export class MemoryEventLog implements EventLog {
  private readonly batches: LogBatch[] = [];
  private next = 0;
  private closed = false;
  private readonly notifier = new Notifier();
  private readonly followers = new Set<Follower>();
  private readonly logger: Logger;
  private readonly now: () => number;

  constructor(options: MemoryEventLogOptions = {}) {
    this.logger = options.logger ?? createLogger();
    this.now = options.now ?? Date.now;
  }

  append(batch: readonly EventInput[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new LogUnavailableError('the memory event log is closed'));
    let prepared: PreparedEvent[];
    try {
      prepared = prepareBatch(batch, this.now);
    } catch (err) {
      return Promise.reject(err);
    }
    if (prepared.length === 0) return Promise.resolve([]);
    const first = this.next;
    const events: MeshEvent[] = prepared.map((p, i) => {
      const base = { v: EVENT_SCHEMA_VERSION, offset: first + i, time: p.time, source: p.source, op: p.op, kind: p.kind, key: p.key };
      return p.body.length === 0 ? base : { ...base, body: JSON.parse(utf8.decode(p.body)) as unknown };
    });
    this.batches.push({ events });
    this.next = first + events.length;
    this.notifier.notify();
    return Promise.resolve(events.map((e) => e.offset));
  }

  read(from = 0): AsyncIterable<LogBatch> {
    return this.range(from, this.next);
  }

  private async *range(from: number, end: number): AsyncGenerator<LogBatch> {
    // Batches are in offset order: binary search for the first one that ends past `from`.
    let lo = 0;
    let hi = this.batches.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (batchEnd(this.batches[mid]!) <= from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.batches.length; i++) {
      const batch = this.batches[i]!;
      if (batch.events[0]!.offset >= end) return;
      yield sliceBatch(batch, from);
    }
  }

  follow(from: number, handler: (batch: LogBatch) => void | Promise<void>): Subscription {
    const f = new Follower(
      { head: () => this.next, readFrom: (pos) => this.read(pos), changed: () => this.notifier.wait() },
      from,
      handler,
      this.logger,
      (done) => this.followers.delete(done),
    );
    this.followers.add(f);
    return f;
  }

  head(): number {
    return this.next;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.followers].map((f) => f.close()));
  }
}
