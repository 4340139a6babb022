import { batchBounds, decodeBatch, decodeEnvelopes, decodeEventBody, type EncodedEvent } from '../log/codec.js';
import { FileEventLog, type RawRecord } from '../log/file-log.js';
import type { EventLog, LogBatch, MeshEvent } from '../log/types.js';
import type { Workload } from '../model/types.js';
import { ReplayError } from './errors.js';
import { describePoint, type ReplayPoint } from './point.js';

/**
 * The log as replay sees it: every batch, read once, in order, indexed by offset and time. Points resolve
 * to a batch (batches apply atomically, as they did live, so a point inside a batch means the state after
 * the whole batch).
 */

export interface ProxySighting {
  readonly offset: number;
  readonly workload: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** False for the event that removed the workload or its uuid label. */
  readonly present: boolean;
}

/** A batch as the timeline holds it: decoded, or (from a file log) its encoded record, decoded on use. */
type Held = LogBatch | RawRecord;

export class Timeline {
  private sightings: Map<string, ProxySighting[]> | undefined;

  /**
   * Per batch, in log order: its first offset, its last offset and its last event's time (the index every
   * point resolves against), and the batch itself. Batches of a file log stay encoded: a 100k-event log
   * holds ~40 MB of records, where decoded events cost several times that and keep the collector busy for
   * as long as the timeline lives; each batch is decoded when a fold or a lookup needs it.
   */
  private constructor(
    private readonly firstOffsets: readonly number[],
    private readonly lastOffsets: readonly number[],
    private readonly lastTimes: readonly number[],
    private readonly held: readonly Held[],
    /** The offset the next appended event would get. */
    readonly head: number,
    /** Where the log came from, for messages. */
    readonly label: string,
  ) {}

  /** Reads the whole log. A missing or corrupt log fails here with the log's own error (which names the file). */
  static async read(log: EventLog, label: string): Promise<Timeline> {
    const firsts: number[] = [];
    const lasts: number[] = [];
    const times: number[] = [];
    const held: Held[] = [];
    if (log instanceof FileEventLog) {
      const hold = (records: readonly RawRecord[]): void => {
        for (const r of records) {
          const b = batchBounds(r.payload, `${r.file} at byte ${r.pos}`);
          firsts.push(b.firstOffset);
          lasts.push(b.firstOffset + b.count - 1);
          times.push(b.lastTime);
          held.push(r);
        }
      };
      // Records the open already verified (opened with keepRecords) spare a second read of the whole log.
      const kept = log.takeRecords();
      if (kept !== null) hold(kept);
      else for await (const records of log.readRecords(0)) hold(records);
    } else {
      for await (const batch of log.read(0)) {
        if (batch.events.length === 0) continue;
        firsts.push(batch.events[0]!.offset);
        lasts.push(batch.events[batch.events.length - 1]!.offset);
        times.push(batchTime(batch));
        held.push(batch);
      }
    }
    if (held.length === 0) throw new ReplayError('REPLAY_EMPTY_LOG', `the event log at ${label} has no events; there is nothing to replay`);
    const head = Math.max(log.head(), lasts[lasts.length - 1]! + 1);
    return new Timeline(firsts, lasts, times, held, head, label);
  }

  static fromBatches(batches: readonly LogBatch[], label = 'memory'): Timeline {
    const nonEmpty = batches.filter((b) => b.events.length > 0);
    if (nonEmpty.length === 0) throw new ReplayError('REPLAY_EMPTY_LOG', `the event log at ${label} has no events; there is nothing to replay`);
    const last = nonEmpty[nonEmpty.length - 1]!;
    return new Timeline(
      nonEmpty.map((b) => b.events[0]!.offset),
      nonEmpty.map((b) => b.events[b.events.length - 1]!.offset),
      nonEmpty.map(batchTime),
      nonEmpty,
      last.events[last.events.length - 1]!.offset + 1,
      label,
    );
  }

  /** Whether batch() parses every body from JSON (a file log's records), so no body can hold a cycle. */
  get bodiesFromJson(): boolean {
    const h = this.held[0];
    return h !== undefined && 'payload' in h;
  }

  /** Number of batches. */
  get length(): number {
    return this.held.length;
  }

  /** Batch `i` (0-based, log order), decoded. */
  batch(i: number): LogBatch {
    const h = this.held[i];
    if (h === undefined) throw new RangeError(`no batch ${i}: the timeline has ${this.held.length}`);
    return 'payload' in h ? decodeBatch(h.payload, `${h.file} at byte ${h.pos}`) : h;
  }

  /**
   * The last event of each resource (kind and key) among batches `from`..`to` (inclusive), in offset order,
   * bodies parsed: folding these as one batch gives the catalog the same resources, sources and indexes as
   * folding every batch of the range (each resource ends as its last event left it, and the catalog's
   * indexes are a function of the resources alone), not the same provenance (see ReplayState.advanceTo).
   *
   * Every event's envelope is decoded and checked, but only the kept events' bodies are parsed: a body
   * that is not JSON, or that the catalog would refuse, fails the replay only if no later event of the
   * range replaces it. The log's CRC still covers every record, so damage is still found.
   */
  lastEvents(from: number, to: number): MeshEvent[] {
    // kind -> key -> the latest event and its batch (the record is reused: one per resource, not per event).
    const byKind = new Map<string, Map<string, { ev: EncodedEvent | MeshEvent; batch: number }>>();
    for (let i = from; i <= to; i++) {
      const h = this.held[i];
      if (h === undefined) throw new RangeError(`no batch ${i}: the timeline has ${this.held.length}`);
      const events: readonly (EncodedEvent | MeshEvent)[] = 'payload' in h ? (h.events ?? decodeEnvelopes(h.payload, `${h.file} at byte ${h.pos}`)) : h.events;
      for (const ev of events) {
        let byKey = byKind.get(ev.kind);
        if (byKey === undefined) byKind.set(ev.kind, (byKey = new Map()));
        const slot = byKey.get(ev.key);
        if (slot === undefined) byKey.set(ev.key, { ev, batch: i });
        else {
          slot.ev = ev;
          slot.batch = i;
        }
      }
    }
    const kept: { ev: EncodedEvent | MeshEvent; batch: number }[] = [];
    for (const byKey of byKind.values()) for (const slot of byKey.values()) kept.push(slot);
    kept.sort((a, b) => a.ev.offset - b.ev.offset);
    return kept.map(({ ev, batch }) => {
      const h = this.held[batch]!;
      return 'payload' in h ? decodeEventBody(ev as EncodedEvent, `${h.file} at byte ${h.pos}`) : (ev as MeshEvent);
    });
  }

  /** Offsets of the first and last event of batch `i` and the time of its last event. */
  bounds(i: number): { readonly firstOffset: number; readonly lastOffset: number; readonly lastTime: number } {
    const firstOffset = this.firstOffsets[i];
    if (firstOffset === undefined) throw new RangeError(`no batch ${i}: the timeline has ${this.held.length}`);
    return { firstOffset, lastOffset: this.lastOffsets[i]!, lastTime: this.lastTimes[i]! };
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
        return this.held.length - 1;
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
        let hi = this.held.length;
        // Times follow offsets in a log written by one appender; the search finds the last batch at or before.
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (this.lastTimes[mid]! <= point.time) lo = mid + 1;
          else hi = mid;
        }
        if (lo === 0) {
          throw new ReplayError(
            'REPLAY_POINT_OUT_OF_RANGE',
            `time ${point.text} is before the first event of the log at ${this.label} (${new Date(this.lastTimes[0]!).toISOString()})`,
          );
        }
        return lo - 1;
      }
    }
  }

  /** The offset of the last event of the batch a point resolves to. */
  offsetOf(point: ReplayPoint): number {
    return this.lastOffsets[this.batchIndex(point)]!;
  }

  event(offset: number): MeshEvent | undefined {
    const i = upperBound(this.firstOffsets, offset) - 1;
    if (i < 0 || offset > this.lastOffsets[i]!) return undefined;
    const b = this.batch(i);
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
    for (let i = 0; i < this.held.length; i++) {
      for (const ev of this.batch(i).events) {
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
