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
  /** Where and why the scan stopped before the end of the file; null when every byte checked out. */
  problem: { pos: number; reason: string; fatal: boolean; error?: Error } | null;
  /** Size of the file when scanned. */
  fileBytes: number;
}

/**
 * Verifies a segment from `startPos` (a record boundary holding offset `startOffset`): every record's
 * framing, CRC and envelope. Problems a crash can cause (torn or damaged bytes, undecodable payload) are
 * returned; problems a crash cannot cause (a valid record with unexpected offsets, an unknown schema
 * version) are marked fatal, since cutting them would destroy good data.
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
          scan.problem = { pos: item.pos, reason: item.reason, fatal: false };
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
          scan.problem = { pos: item.pos, reason: `undecodable payload: ${(err as Error).message}`, fatal, error: err as Error };
          break records;
        }
        if (summary.firstOffset !== scan.endOffset) {
          scan.problem = {
            pos: item.pos,
            reason: `record holds offset ${summary.firstOffset} where ${scan.endOffset} was expected`,
            fatal: true,
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
