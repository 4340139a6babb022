/**
 * Segment files and their records: [u32 LE payload length][u32 LE CRC-32C of payload][payload], where the
 * payload is one encoded batch. Reading is chunked and bounded by a byte limit (the durable end), so a reader
 * never holds a whole segment and never looks at bytes a writer has not synced.
 */
import * as fs from 'node:fs/promises';
import { decodeEnvelopes, summarizeBatch } from './codec.js';
import type { EncodedEvent } from './types.js';
import { crc32c } from './crc32c.js';
import { EventSchemaVersionError } from './errors.js';

export const RECORD_HEADER_BYTES = 8;
/** A sparse offset -> byte position entry is kept at least this often, so a read can start mid-segment. */
export const INDEX_INTERVAL_BYTES = 64 * 1024;
const CHUNK_BYTES = 1024 * 1024;

const SEGMENT_NAME = /^(\d{20})\.seg$/;

export function segmentName(firstOffset: number): string {
  return `${String(firstOffset).padStart(20, '0')}.seg`;
}

/** First offset encoded in a segment file name, or null when the name is not a segment's. */
export function parseSegmentName(name: string): number | null {
  const m = SEGMENT_NAME.exec(name);
  if (m === null) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : null;
}

/** Frames a payload as a record. */
export function frameRecord(payload: Uint8Array): Buffer {
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  record.writeUInt32LE(payload.length, 0);
  record.writeUInt32LE(crc32c(payload), 4);
  record.set(payload, RECORD_HEADER_BYTES);
  return record;
}

export type RecordItem =
  | { readonly ok: true; readonly pos: number; readonly size: number; readonly payload: Buffer }
  | { readonly ok: false; readonly pos: number; readonly reason: string };

/**
 * Records of an open file from `start` up to `limit` bytes. Ends after the first bad record (a record
 * whose framing or CRC is wrong), since nothing past it can be trusted to start at a record boundary.
 */
export async function* scanRecords(fh: fs.FileHandle, start: number, limit: number): AsyncGenerator<RecordItem> {
  for await (const items of scanRecordChunks(fh, start, limit)) yield* items;
}

/**
 * scanRecords a buffer at a time: every record wholly inside one read comes out in one array. A log of
 * small batches has ~100k records per segment, and one await per array instead of per record is most of
 * what a full read costs beyond the CRC and the decode.
 */
export async function* scanRecordChunks(fh: fs.FileHandle, start: number, limit: number): AsyncGenerator<RecordItem[]> {
  let buf = Buffer.alloc(0);
  let bufStart = start;
  let eof = false;

  // Makes [pos, pos+n) available in buf; false when the file ends first.
  const ensure = async (pos: number, n: number): Promise<boolean> => {
    while (pos + n > bufStart + buf.length) {
      if (eof) return false;
      const keep = buf.subarray(pos - bufStart);
      const readAt = pos + keep.length;
      const want = keep.length + Math.min(Math.max(CHUNK_BYTES, n - keep.length), limit - readAt);
      // A fresh buffer each refill: payloads handed out earlier stay valid.
      const next = Buffer.allocUnsafe(want);
      keep.copy(next, 0);
      let filled = keep.length;
      while (filled < want) {
        const { bytesRead } = await fh.read(next, filled, want - filled, readAt + (filled - keep.length));
        if (bytesRead === 0) {
          eof = true;
          break;
        }
        filled += bytesRead;
      }
      buf = next.subarray(0, filled);
      bufStart = pos;
      if (filled === keep.length) eof = true;
    }
    return true;
  };

  let pos = start;
  let out: RecordItem[] = [];
  while (pos < limit) {
    if (limit - pos < RECORD_HEADER_BYTES) {
      out.push({ ok: false, pos, reason: `short record header (${limit - pos} bytes before the end)` });
      break;
    }
    // Only a record that does not fit in what is buffered costs a read (and hands out what came before).
    if (pos + RECORD_HEADER_BYTES > bufStart + buf.length) {
      if (out.length > 0) {
        yield out;
        out = [];
      }
      if (!(await ensure(pos, RECORD_HEADER_BYTES))) {
        out.push({ ok: false, pos, reason: 'the file ends inside a record header' });
        break;
      }
    }
    const at = pos - bufStart;
    const length = buf.readUInt32LE(at);
    const crc = buf.readUInt32LE(at + 4);
    if (length === 0) {
      out.push({ ok: false, pos, reason: 'zero record length' });
      break;
    }
    const size = RECORD_HEADER_BYTES + length;
    if (size > limit - pos) {
      out.push({ ok: false, pos, reason: `record length ${length} runs past the end (${limit - pos - RECORD_HEADER_BYTES} bytes left)` });
      break;
    }
    if (pos + size > bufStart + buf.length) {
      if (out.length > 0) {
        yield out;
        out = [];
      }
      if (!(await ensure(pos, size))) {
        out.push({ ok: false, pos, reason: 'the file ends inside a record' });
        break;
      }
    }
    const p = pos - bufStart + RECORD_HEADER_BYTES;
    const payload = buf.subarray(p, p + length);
    if (crc32c(payload) !== crc) {
      out.push({ ok: false, pos, reason: 'CRC mismatch' });
      break;
    }
    out.push({ ok: true, pos, size, payload });
    pos += size;
  }
  if (out.length > 0) yield out;
}

/** Reads up to `n` bytes at `pos` (fewer when the file ends first). */
async function readAt(fh: fs.FileHandle, pos: number, n: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(n);
  let filled = 0;
  while (filled < n) {
    const { bytesRead } = await fh.read(buf, filled, n - filled, pos + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buf.subarray(0, filled);
}

/**
 * Whether the bytes at `at` can start a payload Weft writes: a weft.event.v1.Batch whose first field is an
 * event (tag 0x0a, a length) whose first field is its schema version (tag 0x08). protobufjs writes fields in
 * number order and `v` is never 0, so every batch of every schema version starts so; the check only spares
 * the CRC of the positions that cannot start a record when looking for one past damage.
 */
function canStartBatch(buf: Buffer, at: number): boolean {
  if (buf[at] !== 0x0a) return false;
  let i = at + 1;
  for (let k = 0; k < 5 && i < buf.length; k++) {
    if ((buf[i++]! & 0x80) === 0) return i >= buf.length || buf[i] === 0x08;
  }
  return i >= buf.length;
}

/**
 * The first position in [from, end) where a whole record with a valid length and CRC-32C starts, found by
 * trying every byte (damage may have changed a length, so record boundaries past it are unknown); null
 * when there is none.
 */
export async function findRecordStart(fh: fs.FileHandle, from: number, end: number): Promise<number | null> {
  for (let start = from; start + RECORD_HEADER_BYTES < end; start += CHUNK_BYTES) {
    // Candidates [start, stop) need their header and the first payload bytes: read a little past stop.
    const buf = await readAt(fh, start, Math.min(CHUNK_BYTES + RECORD_HEADER_BYTES + 16, end - start));
    const stop = start + Math.min(CHUNK_BYTES, buf.length - RECORD_HEADER_BYTES);
    for (let q = start; q < stop; q++) {
      const at = q - start;
      const length = buf.readUInt32LE(at);
      if (length === 0 || length > end - q - RECORD_HEADER_BYTES) continue;
      if (!canStartBatch(buf.subarray(0, Math.min(buf.length, at + RECORD_HEADER_BYTES + length)), at + RECORD_HEADER_BYTES)) continue;
      const p = at + RECORD_HEADER_BYTES;
      const payload = p + length <= buf.length ? buf.subarray(p, p + length) : await readAt(fh, q + RECORD_HEADER_BYTES, length);
      if (payload.length === length && crc32c(payload) === buf.readUInt32LE(at + 4)) return q;
    }
  }
  return null;
}

/** Valid records found past damage: what cutting at the damage would drop from this segment. */
export interface FollowingRecords {
  /** Byte position of the first valid record past the damage. */
  readonly pos: number;
  /** Valid records (length and CRC-32C) from there to the end of the file, counted past any further damage. */
  readonly records: number;
  /** Their events (a record whose payload does not decode counts as a record only). */
  readonly events: number;
}

/**
 * The valid records in [from, end) of a file, whether or not `from` is a record boundary: records are
 * followed from the first valid one on, and past further damage the next valid one is looked for again.
 * Null when there is none: then everything from `from` on is an incomplete write (a torn tail).
 */
export async function validRecordsFrom(fh: fs.FileHandle, from: number, end: number): Promise<FollowingRecords | null> {
  const first = await findRecordStart(fh, from, end);
  if (first === null) return null;
  let records = 0;
  let events = 0;
  let pos: number | null = first;
  while (pos !== null) {
    let bad: number | null = null;
    scan: for await (const items of scanRecordChunks(fh, pos, end)) {
      for (const item of items) {
        if (!item.ok) {
          bad = item.pos;
          break scan;
        }
        records++;
        try {
          events += summarizeBatch(item.payload).count;
        } catch {
          // Counted as a record: its events are unknown.
        }
      }
    }
    pos = bad === null ? null : await findRecordStart(fh, bad + 1, end);
  }
  return { pos: first, records, events };
}

export interface IndexEntry {
  readonly offset: number;
  readonly pos: number;
}

export interface SegmentScan {
  /** Bytes from the start of the file that hold verified records. */
  validBytes: number;
  /** First offset past the last verified record. */
  endOffset: number;
  records: number;
  index: IndexEntry[];
  /**
   * Where and why the scan stopped before the end of the file; null when every byte checked out. For
   * damage a crash can cause (not `fatal`), `following` holds the valid records found past it: when there
   * are any, the damage is not an incomplete last write (a torn tail) but corruption.
   */
  problem: { pos: number; reason: string; fatal: boolean; error?: Error; following: FollowingRecords | null } | null;
  /** Size of the file when scanned. */
  fileBytes: number;
}

/**
 * Verifies a segment from `startPos` (a record boundary holding offset `startOffset`): every record's
 * framing, CRC and envelope. Problems a crash can cause (torn or damaged bytes, undecodable payload) are
 * returned with the valid records found past them (a torn tail has none); problems a crash cannot cause (a
 * valid record with unexpected offsets, an unknown schema version) are marked fatal, since cutting them
 * would destroy good data.
 */
export async function scanSegment(
  file: string,
  startPos: number,
  startOffset: number,
  prior?: { records: number; index: IndexEntry[] },
  /**
   * Receives every verified record (position and payload), in order, as the scan accepts it; with
   * `envelopes`, also its events as decodeEnvelopes gives them (the check is the same, so a reader that
   * wants them does not decode every record a second time).
   */
  onRecord?: (pos: number, payload: Buffer, events: readonly EncodedEvent[] | undefined) => void,
  envelopes = false,
): Promise<SegmentScan> {
  const fh = await fs.open(file, 'r');
  try {
    const fileBytes = (await fh.stat()).size;
    const scan: SegmentScan = {
      validBytes: startPos,
      endOffset: startOffset,
      records: prior?.records ?? 0,
      index: prior?.index ?? [],
      problem: null,
      fileBytes,
    };
    let lastIndexed = scan.index.at(-1)?.pos ?? -Infinity;
    // A problem ends the whole scan: nothing past a bad record can be trusted to start at a record boundary.
    records: for await (const items of scanRecordChunks(fh, startPos, fileBytes)) {
      for (const item of items) {
        if (!item.ok) {
          scan.problem = { pos: item.pos, reason: item.reason, fatal: false, following: null };
          break records;
        }
        let summary: { firstOffset: number; count: number };
        let events: EncodedEvent[] | undefined;
        try {
          if (envelopes) {
            events = decodeEnvelopes(item.payload, `${file} at byte ${item.pos}`);
            summary = { firstOffset: events[0]!.offset, count: events.length };
          } else {
            summary = summarizeBatch(item.payload, `${file} at byte ${item.pos}`);
          }
        } catch (err) {
          const fatal = err instanceof EventSchemaVersionError;
          scan.problem = { pos: item.pos, reason: `undecodable payload: ${(err as Error).message}`, fatal, error: err as Error, following: null };
          break records;
        }
        if (summary.firstOffset !== scan.endOffset) {
          scan.problem = {
            pos: item.pos,
            reason: `record holds offset ${summary.firstOffset} where ${scan.endOffset} was expected`,
            fatal: true,
            following: null,
          };
          break records;
        }
        if (item.pos - lastIndexed >= INDEX_INTERVAL_BYTES) {
          scan.index.push({ offset: summary.firstOffset, pos: item.pos });
          lastIndexed = item.pos;
        }
        scan.records++;
        scan.endOffset += summary.count;
        scan.validBytes = item.pos + item.size;
        onRecord?.(item.pos, item.payload, events);
      }
    }
    // A torn tail is only ever an incomplete last write: nothing valid can follow it.
    if (scan.problem !== null && !scan.problem.fatal) scan.problem.following = await validRecordsFrom(fh, scan.problem.pos + 1, fileBytes);
    return scan;
  } finally {
    await fh.close();
  }
}

/** Position of the last indexed record at or before `offset` (0 when none). */
export function indexLookup(index: readonly IndexEntry[], offset: number): number {
  let lo = 0;
  let hi = index.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (index[mid]!.offset <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? 0 : index[lo - 1]!.pos;
}
