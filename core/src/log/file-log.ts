/**
 * The embedded default EventLog: a directory of segment files (segment.ts). Appends are group-committed:
 * batches arriving while an fdatasync is in flight are written together and synced once, and each append
 * resolves only after the sync that covered it. Opening verifies every record; a torn tail (an incomplete
 * last write: damage at the end of the last segment with no valid record after it) is cut (or, read-only,
 * ignored); anything else damaged is a LogCorruptError, cut only by `weft log repair` (repair.ts).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ConfigError } from '../errors.js';
import { createLogger, type Logger } from '../observe/logger.js';
import { decodeBatch, decodeEnvelopes, encodePrepared, prepareBatch, type PreparedEvent } from './codec.js';
import { EventSchemaVersionError, LogCorruptError, LogUnavailableError, LogWriteError } from './errors.js';
import { batchEnd, Follower, Notifier, RecentBatches, sliceBatch } from './follow.js';
import type { LogProblem } from './inspect.js';
import { acquireLock, type HeldLock } from './lock.js';
import {
  frameRecord,
  INDEX_INTERVAL_BYTES,
  indexLookup,
  parseSegmentName,
  scanRecordChunks,
  scanSegment,
  segmentName,
  type IndexEntry,
} from './segment.js';
import type { EncodedEvent, EventInput, EventLog, LogBatch, Subscription } from './types.js';

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const MIN_SEGMENT_BYTES = 1024;
/** Recently appended batches kept for followers, so a caught-up follower does not go back to disk. */
const RECENT_MAX_BATCHES = 1024;
const RECENT_MAX_BYTES = 16 * 1024 * 1024;

export interface FileEventLogOptions {
  logger?: Logger;
  /** A segment is rolled before a record would take it past this size (default 64 MiB). */
  segmentBytes?: number;
  /** No lock, no repair, no appends: for inspection and replay while a writer runs. */
  readOnly?: boolean;
  /** Clock for events without a time. */
  now?: () => number;
  /** Read-only follow() looks for new records this often (default 200 ms); a writer notifies in-process. */
  pollIntervalMs?: number;
  /**
   * Keep the records the open verifies for the first whole read (takeRecords(), or readEncoded(0)), so a
   * reader of the whole log (replay, the start-up fold) does not read and check every record a second
   * time. Holds the log's bytes in memory until taken; dropped by an append or a refresh (then the kept
   * records would no longer reach the head).
   */
  keepRecords?: boolean;
  /**
   * With keepRecords: the most record bytes kept (default 256 MiB). A larger log is not kept (the first whole
   * read goes to disk again), so a long history cannot make the start use memory in proportion to it.
   */
  keepRecordsMaxBytes?: number;
}

/** Records an open keeps for the first whole read, up to a bound (then none: see keepRecordsMaxBytes). */
class KeptRecords {
  readonly records: RawRecord[] = [];
  private bytes = 0;
  dropped = false;

  constructor(private readonly maxBytes: number) {}

  add(record: RawRecord): void {
    if (this.dropped) return;
    this.bytes += record.payload.length;
    if (this.bytes > this.maxBytes) {
      this.records.length = 0;
      this.dropped = true;
      return;
    }
    this.records.push(record);
  }
}

/** One record as read from a segment: an encoded batch and where it sits. */
export interface RawRecord {
  readonly file: string;
  /** Byte position of the record in the file. */
  readonly pos: number;
  readonly payload: Buffer;
  /** Its events as decodeEnvelopes gives them, when the open that kept the record decoded them anyway. */
  readonly events?: readonly EncodedEvent[];
}

interface Segment {
  readonly name: string;
  readonly file: string;
  readonly firstOffset: number;
  endOffset: number;
  /** Verified (and, for the writer, synced) bytes; readers never go past them. */
  bytes: number;
  records: number;
  index: IndexEntry[];
  /** Read-only: the scan stopped early here (a torn tail or a record still being written). */
  tailProblem: { pos: number; reason: string } | null;
}

interface Pending {
  readonly events: readonly PreparedEvent[];
  readonly resolve: (offsets: number[]) => void;
  readonly reject: (err: unknown) => void;
}

interface Recent {
  readonly firstOffset: number;
  readonly count: number;
  readonly payload: Uint8Array;
  decoded?: LogBatch;
}

export class FileEventLog implements EventLog {
  private readonly segments: Segment[];
  private next: number;
  private fh: fs.FileHandle | null;
  private queue: Pending[] = [];
  private flushing = false;
  private flushDone: Promise<void> = Promise.resolve();
  private failed: LogWriteError | null = null;
  private closed = false;
  private readonly notifier = new Notifier();
  private readonly followers = new Set<Follower>();
  private readonly recent = new RecentBatches<Recent>(RECENT_MAX_BATCHES, RECENT_MAX_BYTES);
  private refreshing: Promise<void> | null = null;
  private syncs = 0;
  private appended = 0;
  /** Records verified by the open, while not yet taken (keepRecords). */
  private kept: RawRecord[] | null;

  private constructor(
    readonly dir: string,
    readonly readOnly: boolean,
    private readonly segmentBytes: number,
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly pollIntervalMs: number,
    segments: Segment[],
    fh: fs.FileHandle | null,
    private readonly lock: HeldLock | null,
    kept: RawRecord[] | null,
  ) {
    this.segments = segments;
    this.next = segments.at(-1)?.endOffset ?? 0;
    this.fh = fh;
    this.kept = kept;
  }

  /** Opens (creating when writable and absent) the log in `dir`, verifying every record. */
  static async open(dir: string, options: FileEventLogOptions = {}): Promise<FileEventLog> {
    const readOnly = options.readOnly ?? false;
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < MIN_SEGMENT_BYTES) {
      throw new ConfigError(`event log segmentBytes ${segmentBytes} must be a whole number >= ${MIN_SEGMENT_BYTES}`);
    }
    if (options.keepRecordsMaxBytes !== undefined && !(Number.isSafeInteger(options.keepRecordsMaxBytes) && options.keepRecordsMaxBytes >= 0)) {
      throw new ConfigError(`event log keepRecordsMaxBytes ${options.keepRecordsMaxBytes} must be a whole number >= 0`);
    }
    const pollIntervalMs = options.pollIntervalMs ?? 200;
    if (!(pollIntervalMs > 0)) throw new ConfigError(`event log pollIntervalMs ${pollIntervalMs} must be > 0`);
    const logger = (options.logger ?? createLogger()).child({ component: 'event-log', dir });
    const abs = path.resolve(dir);

    if (readOnly) {
      const stat = await fs.stat(abs).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') throw new LogUnavailableError(`no event log at ${abs}: the directory does not exist`);
        throw err;
      });
      if (!stat.isDirectory()) throw new LogUnavailableError(`event log location ${abs} is not a directory`);
    } else {
      try {
        await fs.mkdir(abs, { recursive: true });
      } catch (err) {
        throw new LogUnavailableError(`cannot create the event log directory ${abs}: ${(err as Error).message}`, { cause: err });
      }
    }
    const lock = readOnly ? null : await acquireLock(abs, logger);
    let fh: fs.FileHandle | null = null;
    try {
      const keepMax = options.keepRecordsMaxBytes ?? 256 * 1024 * 1024;
      const keeping = options.keepRecords === true ? new KeptRecords(keepMax) : null;
      const segments = await loadSegments(abs, readOnly, logger, keeping);
      if (keeping?.dropped === true) logger.info('the log is larger than keepRecordsMaxBytes; its first whole read goes to disk again', { keepRecordsMaxBytes: keepMax });
      const kept = keeping === null || keeping.dropped ? null : keeping.records;
      if (!readOnly) {
        let last = segments.at(-1);
        if (last === undefined) {
          last = await createSegment(abs, 0);
          segments.push(last);
        }
        fh = await fs.open(last.file, 'r+');
      }
      return new FileEventLog(abs, readOnly, segmentBytes, logger, options.now ?? Date.now, pollIntervalMs, segments, fh, lock, kept);
    } catch (err) {
      await fh?.close();
      await lock?.release();
      throw err;
    }
  }

  head(): number {
    return this.next;
  }

  /**
   * Read-only: the damaged or still-being-written tail the open (or the last refresh) stopped at, as
   * inspectLog reports it. Any other damage fails the open, so this is all a successful open can have.
   */
  tailDamage(): LogProblem[] {
    const out: LogProblem[] = [];
    for (const seg of this.segments) {
      if (seg.tailProblem !== null) {
        out.push({ file: seg.file, byteOffset: seg.tailProblem.pos, reason: seg.tailProblem.reason, severity: 'torn-tail', following: null });
      }
    }
    return out;
  }

  /** Counters since open: appended batches and the data syncs that made them durable (group commit). */
  stats(): { readonly batches: number; readonly syncs: number; readonly segments: number } {
    return { batches: this.appended, syncs: this.syncs, segments: this.segments.length };
  }

  append(batch: readonly EventInput[]): Promise<number[]> {
    if (this.readOnly) return Promise.reject(new LogUnavailableError(`event log ${this.dir} is open read-only`));
    if (this.closed) return Promise.reject(new LogUnavailableError(`event log ${this.dir} is closed`));
    // Kept records end at the head of the open; from now on they would not reach the head.
    this.kept = null;
    let events: PreparedEvent[];
    try {
      events = prepareBatch(batch, this.now);
    } catch (err) {
      return Promise.reject(err);
    }
    if (events.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        this.flushDone = this.flushLoop();
      }
    });
  }

  /** Writes whatever queued while the previous sync ran, as one group; never rejects. */
  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      // A failed write whose bytes could not be cut yet: each group tries again, and is refused until it works.
      if (this.failed !== null && !(await this.cutFailedWrite())) {
        for (const p of group) p.reject(this.failed);
        continue;
      }
      await this.writeGroup(group);
    }
    // Set without an await after the emptiness check, so an append can never find a stale `flushing`.
    this.flushing = false;
  }

  private async writeGroup(group: Pending[]): Promise<void> {
    let seg = this.segments.at(-1)!;
    let offset = this.next;
    let chunk: Buffer[] = [];
    let chunkBytes = 0;
    let chunkEntries: { p: Pending; first: number; payload: Uint8Array; pos: number }[] = [];
    let done = 0;
    const commit = async (): Promise<void> => {
      if (chunkEntries.length === 0) return;
      const data = chunk.length === 1 ? chunk[0]! : Buffer.concat(chunk, chunkBytes);
      let written = 0;
      while (written < data.length) {
        const { bytesWritten } = await this.fh!.write(data, written, data.length - written, seg.bytes + written);
        written += bytesWritten;
      }
      await this.fh!.datasync();
      this.syncs++;
      this.appended += chunkEntries.length;
      for (const e of chunkEntries) {
        const count = e.p.events.length;
        if (seg.records === 0 || e.pos - (seg.index.at(-1)?.pos ?? 0) >= INDEX_INTERVAL_BYTES) {
          seg.index.push({ offset: e.first, pos: e.pos });
        }
        seg.records++;
        seg.endOffset = e.first + count;
        this.recent.push({ firstOffset: e.first, count, payload: e.payload });
      }
      seg.bytes += data.length;
      this.next = seg.endOffset;
      for (const e of chunkEntries) {
        e.p.resolve(Array.from({ length: e.p.events.length }, (_, i) => e.first + i));
        done++;
      }
      chunk = [];
      chunkBytes = 0;
      chunkEntries = [];
      this.notifier.notify();
    };
    try {
      for (const p of group) {
        const payload = encodePrepared(p.events, offset);
        const record = frameRecord(payload);
        if (seg.bytes + chunkBytes > 0 && seg.bytes + chunkBytes + record.length > this.segmentBytes) {
          await commit();
          seg = await this.roll();
        }
        chunkEntries.push({ p, first: offset, payload, pos: seg.bytes + chunkBytes });
        chunk.push(record);
        chunkBytes += record.length;
        offset += p.events.length;
      }
      await commit();
    } catch (err) {
      const failed = new LogWriteError(seg.file, err);
      this.failed = failed;
      // Cut before the callers hear of it, so an append they retry at once finds the log as it was.
      const cut = await this.cutFailedWrite();
      this.logger.error(
        cut
          ? 'event log write failed; the segment is cut back to its last good record and the next append tries again'
          : 'event log write failed and the segment could not be cut back yet; appends are refused until it can',
        { file: seg.file, error: (err as Error).message },
      );
      for (const p of group.slice(done)) p.reject(failed);
    }
  }

  /**
   * After a failed write or sync, the last segment may hold part of a batch (a write cut short by EFBIG or
   * ENOSPC) or bytes whose sync failed: truncate it to the records known durable and sync that, so that a
   * later record never follows a torn one. True once done (the log takes appends again).
   */
  private async cutFailedWrite(): Promise<boolean> {
    const seg = this.segments.at(-1)!;
    try {
      // A failed roll may have closed the handle.
      this.fh ??= await fs.open(seg.file, 'r+');
      await this.fh.truncate(seg.bytes);
      await this.fh.datasync();
      this.failed = null;
      return true;
    } catch (err) {
      this.logger.warn('cutting a failed write off the event log failed', { file: seg.file, error: (err as Error).message });
      return false;
    }
  }

  private async roll(): Promise<Segment> {
    await this.fh!.close();
    this.fh = null;
    const seg = await createSegment(this.dir, this.next);
    this.segments.push(seg);
    this.fh = await fs.open(seg.file, 'r+');
    this.logger.debug('rolled to a new segment', { file: seg.name });
    return seg;
  }

  private recentAt(offset: number): Recent | undefined {
    const i = this.recent.lastAtOrBefore(offset, (e) => e.firstOffset);
    const e = this.recent.entries[i];
    return e !== undefined && offset < e.firstOffset + e.count ? e : undefined;
  }

  read(from = 0): AsyncIterable<LogBatch> {
    if (this.closed) throw new LogUnavailableError(`event log ${this.dir} is closed`);
    return this.readRange(from, this.next);
  }

  /** Streams batches with events in [from, end) from disk, a segment at a time. */
  private async *readRange(from: number, end: number): AsyncGenerator<LogBatch> {
    for await (const events of this.eventsInRange(from, end, (payload, where) => decodeBatch(payload, where).events)) yield { events };
  }

  /**
   * The events of each record holding events in [from, end), decoded by `decode` (whole events or envelopes
   * only), without those before `from`.
   */
  private async *eventsInRange<E extends { readonly offset: number }>(
    from: number,
    end: number,
    decode: (payload: Buffer, where: string) => readonly E[],
  ): AsyncGenerator<readonly E[]> {
    for await (const records of this.recordsFrom(from, end)) {
      for (const r of records) {
        const events = decode(r.payload, `${r.file} at byte ${r.pos}`);
        if (events[0]!.offset >= end) return;
        if (events[events.length - 1]!.offset < from) continue;
        yield events[0]!.offset >= from ? events : events.filter((e) => e.offset >= from);
      }
    }
  }

  /**
   * Batches with events in [from, head) with envelopes decoded and checked, bodies left as bytes (views
   * into the read buffer): the start-up replay's input (catalog/compact.ts).
   */
  readEncoded(from = 0): AsyncIterable<readonly EncodedEvent[]> {
    if (this.closed) throw new LogUnavailableError(`event log ${this.dir} is closed`);
    return this.encodedRange(from, this.next);
  }

  private async *encodedRange(from: number, end: number): AsyncGenerator<readonly EncodedEvent[]> {
    const kept = from === 0 ? this.takeRecords() : null;
    if (kept !== null) {
      for (const r of kept) yield r.events ?? decodeEnvelopes(r.payload, `${r.file} at byte ${r.pos}`);
      return;
    }
    yield* this.eventsInRange(from, end, decodeEnvelopes);
  }

  /**
   * The records (encoded batches, CRC checked again) holding events at or past `from`, up to the head at
   * the time of the call, a read buffer at a time, not decoded: for a reader that indexes the whole log
   * and decodes a batch only when it needs it (replay). A record may start before `from`; decode with
   * decodeBatch (the `where` it takes: `${file} at byte ${pos}`).
   */
  readRecords(from = 0): AsyncIterable<readonly RawRecord[]> {
    if (this.closed) throw new LogUnavailableError(`event log ${this.dir} is closed`);
    return this.recordsFrom(from, this.next);
  }

  /**
   * With keepRecords: every record the open verified (CRC, framing and envelope), in log order, up to the
   * head at open, as readRecords(0) would give them; once, so the memory goes with the caller. Null when
   * not kept, already taken, or the log has grown since (a refresh): then read with readRecords.
   */
  takeRecords(): readonly RawRecord[] | null {
    if (this.closed) throw new LogUnavailableError(`event log ${this.dir} is closed`);
    const kept = this.kept;
    this.kept = null;
    return kept;
  }

  private async *recordsFrom(from: number, end: number): AsyncGenerator<RawRecord[]> {
    const segs = this.segments;
    let i = 0;
    let hi = segs.length;
    while (i < hi) {
      const mid = (i + hi) >>> 1;
      if (segs[mid]!.endOffset <= from) i = mid + 1;
      else hi = mid;
    }
    for (; i < segs.length; i++) {
      const seg = segs[i]!;
      if (seg.firstOffset >= end) return;
      const limit = seg.bytes;
      const fh = await fs.open(seg.file, 'r');
      try {
        for await (const items of scanRecordChunks(fh, indexLookup(seg.index, from), limit)) {
          const out: RawRecord[] = [];
          for (const item of items) {
            if (!item.ok) {
              // What precedes the damage is still delivered, as a record-at-a-time reader would.
              if (out.length > 0) yield out;
              throw new LogCorruptError(seg.file, item.pos, `${item.reason} in a record verified on open`);
            }
            out.push({ file: seg.file, pos: item.pos, payload: item.payload });
          }
          yield out;
        }
      } finally {
        await fh.close();
      }
    }
  }

  /** Follower reads: recent batches from memory, older ones from disk. */
  private async *tail(from: number): AsyncGenerator<LogBatch> {
    let pos = from;
    const end = this.next;
    while (pos < end) {
      const recent = this.recentAt(pos);
      if (recent !== undefined) {
        recent.decoded ??= decodeBatch(recent.payload, `${this.dir} recent batch at offset ${recent.firstOffset}`);
        yield sliceBatch(recent.decoded, pos);
        pos = recent.firstOffset + recent.count;
        continue;
      }
      const before = pos;
      for await (const batch of this.readRange(pos, end)) {
        yield batch;
        pos = batchEnd(batch);
        if (this.recentAt(pos) !== undefined) break;
      }
      if (pos === before) return;
    }
  }

  follow(from: number, handler: (batch: LogBatch) => void | Promise<void>): Subscription {
    if (this.closed) throw new LogUnavailableError(`event log ${this.dir} is closed`);
    const changed = this.readOnly ? () => this.poll() : () => this.notifier.wait();
    const f = new Follower(
      { head: () => this.next, readFrom: (pos) => this.tail(pos), changed },
      from,
      handler,
      this.logger,
      (done) => this.followers.delete(done),
    );
    this.followers.add(f);
    return f;
  }

  /** Read-only: another process may be writing; look again after a while. */
  private poll(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.refresh().then(resolve, reject);
      }, this.pollIntervalMs);
      timer.unref();
    });
  }

  /**
   * Read-only: picks up records and segments written since the last look. A tail that does not check out
   * yet may be a record being written, so it is only remembered, not reported again.
   */
  refresh(): Promise<void> {
    if (!this.readOnly || this.closed) return Promise.resolve();
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    // Kept records end at the head of the open; a refresh may move it.
    this.kept = null;
    const last = this.segments.at(-1);
    if (last !== undefined) await extendSegment(last);
    const names = await listSegments(this.dir);
    for (const { name, firstOffset } of names) {
      const prev = this.segments.at(-1);
      if (prev !== undefined && firstOffset <= prev.firstOffset) continue;
      if (prev !== undefined) {
        // The writer syncs a segment completely before it starts the next one.
        if (prev.tailProblem !== null) {
          throw new LogCorruptError(prev.file, prev.tailProblem.pos, prev.tailProblem.reason);
        }
        if (firstOffset !== prev.endOffset) {
          throw new LogCorruptError(path.join(this.dir, name), 0, `segment starts at offset ${firstOffset} but the previous one ends at ${prev.endOffset}`);
        }
      }
      const seg = blankSegment(this.dir, name, firstOffset);
      await extendSegment(seg);
      this.segments.push(seg);
    }
    this.next = this.segments.at(-1)?.endOffset ?? 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.kept = null;
    await this.flushDone;
    this.notifier.notify();
    await Promise.all([...this.followers].map((f) => f.close()));
    await this.fh?.close();
    this.fh = null;
    await this.lock?.release();
  }
}

function blankSegment(dir: string, name: string, firstOffset: number): Segment {
  return { name, file: path.join(dir, name), firstOffset, endOffset: firstOffset, bytes: 0, records: 0, index: [], tailProblem: null };
}

/** Read-only: verifies records past the known end of a segment. */
async function extendSegment(seg: Segment): Promise<void> {
  const scan = await scanSegment(seg.file, seg.bytes, seg.endOffset, { records: seg.records, index: seg.index });
  if (scan.problem?.error instanceof EventSchemaVersionError) throw scan.problem.error;
  if (scan.problem !== null && (scan.problem.fatal || scan.problem.following !== null)) {
    // A writer's record being written is only ever incomplete at the end: valid records after damage are not that.
    throw new LogCorruptError(seg.file, scan.problem.pos, scan.problem.reason, scan.problem.following);
  }
  seg.bytes = scan.validBytes;
  seg.endOffset = scan.endOffset;
  seg.records = scan.records;
  seg.tailProblem = scan.problem;
}

export async function listSegments(dir: string): Promise<{ name: string; firstOffset: number }[]> {
  const names = await fs.readdir(dir);
  const out: { name: string; firstOffset: number }[] = [];
  for (const name of names) {
    const firstOffset = parseSegmentName(name);
    if (firstOffset !== null) out.push({ name, firstOffset });
  }
  return out.sort((a, b) => a.firstOffset - b.firstOffset);
}

async function createSegment(dir: string, firstOffset: number): Promise<Segment> {
  const name = segmentName(firstOffset);
  const fh = await fs.open(path.join(dir, name), 'wx');
  await fh.close();
  await syncDir(dir);
  return blankSegment(dir, name, firstOffset);
}

/** Makes a created file's directory entry durable. */
async function syncDir(dir: string): Promise<void> {
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

async function loadSegments(dir: string, readOnly: boolean, logger: Logger, kept: KeptRecords | null): Promise<Segment[]> {
  const names = await listSegments(dir);
  const segments: Segment[] = [];
  for (let i = 0; i < names.length; i++) {
    const { name, firstOffset } = names[i]!;
    const seg = blankSegment(dir, name, firstOffset);
    const prev = segments.at(-1);
    if (prev !== undefined && prev.endOffset !== firstOffset) {
      throw new LogCorruptError(seg.file, 0, `segment starts at offset ${firstOffset} but the previous one ends at ${prev.endOffset} (a segment is missing or misnamed)`);
    }
    const file = seg.file;
    // A kept record carries the envelopes the check decoded: its reader (replay, the start-up fold) needs them.
    const keep =
      kept === null
        ? undefined
        : (pos: number, payload: Buffer, events: readonly EncodedEvent[] | undefined): void => {
            kept.add(events === undefined ? { file, pos, payload } : { file, pos, payload, events });
          };
    const scan = await scanSegment(file, 0, firstOffset, undefined, keep, kept !== null && !kept.dropped);
    seg.bytes = scan.validBytes;
    seg.endOffset = scan.endOffset;
    seg.records = scan.records;
    seg.index = scan.index;
    const isLast = i === names.length - 1;
    if (scan.problem !== null) {
      const { pos, reason, fatal, error, following } = scan.problem;
      // A newer schema is not damage: say so rather than call it corrupt.
      if (error instanceof EventSchemaVersionError) throw error;
      // A torn tail is an incomplete last write: the end of the last segment, with nothing valid after it.
      // Damage anywhere else is corruption, never cut here (`weft log repair` does that, explicitly).
      if (fatal || !isLast || following !== null) throw new LogCorruptError(seg.file, pos, reason, following);
      if (readOnly) {
        seg.tailProblem = { pos, reason };
        logger.warn('event log has a torn tail (an incomplete last write); ignoring it (read-only, nothing is changed)', {
          file: seg.file,
          byteOffset: pos,
          reason,
          ignoredBytes: scan.fileBytes - pos,
        });
      } else {
        const fh = await fs.open(seg.file, 'r+');
        try {
          await fh.truncate(pos);
          await fh.sync();
        } finally {
          await fh.close();
        }
        logger.warn('event log had a torn tail (an incomplete last write, never acknowledged); cut it at the last good record', {
          file: seg.file,
          byteOffset: pos,
          reason,
          droppedBytes: scan.fileBytes - pos,
        });
      }
    }
    segments.push(seg);
  }
  return segments;
}
