import type { EventLog, LogBatch, MeshEvent } from '../log/types.js';
import type { Workload } from '../model/types.js';
import { ReplayError } from './errors.js';
import { describePoint, type ReplayPoint } from './point.js';

/**
 * The log as replay sees it: every batch, read once, in order. Points resolve to a batch (batches apply
 * atomically, as they did live, so a point inside a batch means the state after the whole batch).
 */

export interface ProxySighting {
  readonly offset: number;
  readonly workload: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** False for the event that removed the workload or its uuid label. */
  readonly present: boolean;
}

export class Timeline {
  private sightings: Map<string, ProxySighting[]> | undefined;
  private readonly firstOffsets: number[];

  private constructor(
    readonly batches: readonly LogBatch[],
    /** The offset the next appended event would get. */
    readonly head: number,
    /** Where the log came from, for messages. */
    readonly label: string,
  ) {
    this.firstOffsets = batches.map((b) => b.events[0]!.offset);
  }

  /** Reads the whole log. A missing or corrupt log fails here with the log's own error (which names the file). */
  static async read(log: EventLog, label: string): Promise<Timeline> {
    const batches: LogBatch[] = [];
    for await (const batch of log.read(0)) if (batch.events.length > 0) batches.push(batch);
    if (batches.length === 0) throw new ReplayError('REPLAY_EMPTY_LOG', `the event log at ${label} has no events; there is nothing to replay`);
    const last = batches[batches.length - 1]!;
    const head = Math.max(log.head(), last.events[last.events.length - 1]!.offset + 1);
    return new Timeline(batches, head, label);
  }

  static fromBatches(batches: readonly LogBatch[], label = 'memory'): Timeline {
    const nonEmpty = batches.filter((b) => b.events.length > 0);
    if (nonEmpty.length === 0) throw new ReplayError('REPLAY_EMPTY_LOG', `the event log at ${label} has no events; there is nothing to replay`);
    const last = nonEmpty[nonEmpty.length - 1]!;
    return new Timeline(nonEmpty, last.events[last.events.length - 1]!.offset + 1, label);
  }

  get firstOffset(): number {
    return this.firstOffsets[0]!;
  }

  get lastOffset(): number {
    return this.head - 1;
  }

  /** Index of the last batch to apply for a point. */
  batchIndex(point: ReplayPoint): number {
    switch (point.type) {
      case 'head':
        return this.batches.length - 1;
      case 'offset': {
        if (point.offset > this.lastOffset) {
          throw new ReplayError(
            'REPLAY_POINT_OUT_OF_RANGE',
            `offset ${point.offset} is past the end of the log at ${this.label}: its last event is at offset ${this.lastOffset}; ` +
              `use an offset from ${this.firstOffset} to ${this.lastOffset}, or "head"`,
          );
        }
        if (point.offset < this.firstOffset) {
          throw new ReplayError(
            'REPLAY_POINT_OUT_OF_RANGE',
            `offset ${point.offset} is before the first event of the log at ${this.label} (offset ${this.firstOffset}); ` +
              `use an offset from ${this.firstOffset} to ${this.lastOffset}`,
          );
        }
        return upperBound(this.firstOffsets, point.offset) - 1;
      }
      case 'time': {
        let lo = 0;
        let hi = this.batches.length;
        // Times follow offsets in a log written by one appender; the search finds the last batch at or before.
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (batchTime(this.batches[mid]!) <= point.time) lo = mid + 1;
          else hi = mid;
        }
        if (lo === 0) {
          throw new ReplayError(
            'REPLAY_POINT_OUT_OF_RANGE',
            `time ${point.text} is before the first event of the log at ${this.label} (${new Date(batchTime(this.batches[0]!)).toISOString()})`,
          );
        }
        return lo - 1;
      }
    }
  }

  /** The offset of the last event of the batch a point resolves to. */
  offsetOf(point: ReplayPoint): number {
    const b = this.batches[this.batchIndex(point)]!;
    return b.events[b.events.length - 1]!.offset;
  }

  event(offset: number): MeshEvent | undefined {
    const i = upperBound(this.firstOffsets, offset) - 1;
    const b = this.batches[i];
    if (b === undefined) return undefined;
    const first = b.events[0]!.offset;
    const ev = b.events[offset - first];
    return ev?.offset === offset ? ev : b.events.find((e) => e.offset === offset);
  }

  /** Every workload event that carried or dropped a proxy uuid, by uuid, in log order. */
  proxySightings(): ReadonlyMap<string, readonly ProxySighting[]> {
    if (this.sightings !== undefined) return this.sightings;
    const out = new Map<string, ProxySighting[]>();
    const current = new Map<string, string>();
    const add = (uuid: string, s: ProxySighting): void => {
      let list = out.get(uuid);
      if (list === undefined) out.set(uuid, (list = []));
      list.push(s);
    };
    for (const batch of this.batches) {
      for (const ev of batch.events) {
        if (ev.kind !== 'Workload') continue;
        const before = current.get(ev.key);
        const w = ev.op === 'upsert' ? (ev.body as Workload | undefined) : undefined;
        const uuid = w?.proxyUuid ?? null;
        const namespace = ev.key.split('/')[0] ?? '';
        if (before !== undefined && before !== uuid) {
          add(before, { offset: ev.offset, workload: ev.key, namespace, serviceAccount: '', present: false });
          current.delete(ev.key);
        }
        if (w !== undefined && uuid !== null) {
          add(uuid, { offset: ev.offset, workload: ev.key, namespace: w.meta.namespace, serviceAccount: w.serviceAccount, present: true });
          current.set(ev.key, uuid);
        }
      }
    }
    this.sightings = out;
    return out;
  }

  describe(point: ReplayPoint): string {
    return `${describePoint(point)} of the log at ${this.label}`;
  }
}

export function batchTime(b: LogBatch): number {
  return b.events[b.events.length - 1]!.time;
}

/** First index whose value is > x (values ascending). */
function upperBound(values: readonly number[], x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
