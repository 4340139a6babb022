/**
 * The on-log form of a batch: protobuf `weft.event.v1.Batch` whose events carry the normalized resource as
 * canonical JSON. Pure functions; no I/O.
 */
import { weftProtos } from '@weft/protos';
import type { Type } from 'protobufjs';
import { WeftError } from '../errors.js';
import { RESOURCE_KINDS, type ResourceKind } from '../model/types.js';
import { EventDecodeError, EventSchemaVersionError, InvalidEventError } from './errors.js';
import { EVENT_SCHEMA_VERSION, type EncodedEvent, type EventInput, type LogBatch, type MeshEvent, type Op } from './types.js';

export type { EncodedEvent } from './types.js';

/** A value that has no canonical JSON form (NaN, a bigint, a function, a cycle...). */
export class CanonicalJsonError extends WeftError {
  readonly path: string;
  readonly reason: string;
  constructor(path: string, reason: string) {
    super('JSON_NOT_CANONICAL', `${path === '' ? 'value' : path}: ${reason}`);
    this.path = path;
    this.reason = reason;
  }
}

/**
 * JSON with object keys sorted recursively (by UTF-16 code units, as Array.prototype.sort does), no
 * whitespace. The same value always gives the same string, so its bytes can serve as a content hash input.
 * Follows JSON.stringify for `undefined` (omitted from objects, null in arrays) and `toJSON`; refuses values
 * JSON cannot carry faithfully (NaN, ±Infinity, bigint, functions, symbols, cycles).
 */
export function canonicalJson(value: unknown): string {
  return write(value, 0);
}

/** Deeper than any normalized resource; reaching it means a cycle (or a value no resource can be). */
const MAX_DEPTH = 200;

// Hot on every append: strings are concatenated (no arrays, no path bookkeeping); the path of a bad value
// is assembled only when an error unwinds.
function write(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError('', `${value} has no JSON form`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (depth > MAX_DEPTH) throw new CanonicalJsonError('', `nested deeper than ${MAX_DEPTH} levels (a cycle?)`);
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return write(toJSON.call(value), depth + 1);
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (i > 0) out += ',';
          try {
            out += item === undefined ? 'null' : write(item, depth + 1);
          } catch (err) {
            throw within(err, `[${i}]`);
          }
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      const keys = sortedKeys(record);
      let out = '{';
      let first = true;
      for (const k of keys) {
        const item = record[k];
        if (item === undefined) continue;
        try {
          out += `${first ? '' : ','}${JSON.stringify(k)}:${write(item, depth + 1)}`;
        } catch (err) {
          throw within(err, k);
        }
        first = false;
      }
      return `${out}}`;
    }
    case 'undefined':
      throw new CanonicalJsonError('', 'undefined has no JSON form');
    default:
      throw new CanonicalJsonError('', `a ${typeof value} has no JSON form`);
  }
}

/**
 * An object's own keys in code-unit order. Normalized resources are mostly built in that order already, so
 * the keys are checked first and sorted only when they are not: a sort copies the keys into a work area,
 * which was most of what an append allocated.
 */
function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record);
  for (let i = 1; i < keys.length; i++) {
    if ((keys[i - 1] as string) > (keys[i] as string)) return keys.sort();
  }
  return keys;
}

/** Prefixes the path of an error raised inside a member. */
function within(err: unknown, step: string): unknown {
  if (!(err instanceof CanonicalJsonError)) return err;
  let path = err.path === '' ? step : err.path.startsWith('[') ? `${step}${err.path}` : `${step}.${err.path}`;
  // A cycle unwinds through MAX_DEPTH levels; the first steps are enough to find it.
  if (path.length > 120) path = `${path.slice(0, 120)}...`;
  return new CanonicalJsonError(path, err.reason);
}

// --- envelope -------------------------------------------------------------------------------------------

const OP_UPSERT = 1;
const OP_DELETE = 2;
const KINDS: ReadonlySet<string> = new Set(RESOURCE_KINDS);

/** The protobuf message object for one event, body already in canonical JSON bytes. */
interface EventMessage {
  v: number;
  offset: number;
  time: number;
  source: string;
  op: number;
  kind: string;
  key: string;
  body: Uint8Array;
}

/** An EventInput checked and canonicalized, waiting for its offset. */
export interface PreparedEvent {
  readonly source: string;
  readonly op: Op;
  readonly kind: ResourceKind;
  readonly key: string;
  readonly time: number;
  /** Canonical JSON bytes; empty for a delete. */
  readonly body: Uint8Array;
}

let batchType: Type | undefined;
function batchMessage(): Type {
  batchType ??= weftProtos().lookupType('weft.event.v1.Batch');
  return batchType;
}

const EMPTY = new Uint8Array(0);

/**
 * Checks one append input and canonicalizes its body. Throws InvalidEventError naming the event and what to
 * fix; nothing is written for a batch with an invalid event.
 */
export function prepareEvent(input: EventInput, index: number, now: number): PreparedEvent {
  if (input === null || typeof input !== 'object') throw new InvalidEventError(index, undefined, 'not an object');
  const { source, op, kind, key, body, time } = input;
  if (typeof key !== 'string' || key === '') {
    throw new InvalidEventError(index, key, 'key must be a non-empty "namespace/name" or "name" string');
  }
  if (typeof source !== 'string' || source === '') {
    throw new InvalidEventError(index, key, 'source must name the producer, e.g. "files" or "kubernetes"');
  }
  if (typeof kind !== 'string' || !KINDS.has(kind)) {
    throw new InvalidEventError(index, key, `kind ${JSON.stringify(kind)} is not one of ${RESOURCE_KINDS.join(', ')}`);
  }
  if (op !== 'upsert' && op !== 'delete') {
    throw new InvalidEventError(index, key, `op ${JSON.stringify(op)} must be "upsert" or "delete"`);
  }
  if (time !== undefined && !(Number.isSafeInteger(time) && time >= 0)) {
    throw new InvalidEventError(index, key, `time ${String(time)} must be whole milliseconds since the epoch`);
  }
  let bytes = EMPTY;
  if (op === 'upsert') {
    if (body === undefined || body === null) {
      throw new InvalidEventError(index, key, 'an upsert must carry the normalized resource as body');
    }
    let json: string;
    try {
      json = canonicalJson(body);
    } catch (err) {
      throw new InvalidEventError(index, key, `body cannot be stored: ${(err as Error).message}`, { cause: err });
    }
    bytes = Buffer.from(json, 'utf8');
  } else if (body !== undefined) {
    throw new InvalidEventError(index, key, 'a delete carries no body; drop the body from the event');
  }
  return { source, op, kind, key, time: time ?? now, body: bytes };
}

/**
 * Checks and prepares every event of a batch an append was handed, with one clock reading for the events
 * that carry no time (a batch is one moment). Throws the first event's InvalidEventError.
 */
export function prepareBatch(batch: readonly EventInput[], now: () => number): PreparedEvent[] {
  const at = now();
  return batch.map((e, i) => prepareEvent(e, i, at));
}

/** Encodes prepared events as one batch whose events get the offsets firstOffset, firstOffset+1, ... */
export function encodePrepared(events: readonly PreparedEvent[], firstOffset: number): Uint8Array {
  const messages: EventMessage[] = events.map((e, i) => ({
    v: EVENT_SCHEMA_VERSION,
    offset: firstOffset + i,
    time: e.time,
    source: e.source,
    op: e.op === 'upsert' ? OP_UPSERT : OP_DELETE,
    kind: e.kind,
    key: e.key,
    body: e.body,
  }));
  return batchMessage().encode({ events: messages }).finish();
}

/** Encodes a batch of stored events (e.g. to copy a log); bodies are written as canonical JSON. */
export function encodeBatch(batch: LogBatch): Uint8Array {
  const messages: EventMessage[] = batch.events.map((e) => ({
    v: e.v,
    offset: e.offset,
    time: e.time,
    source: e.source,
    op: e.op === 'upsert' ? OP_UPSERT : OP_DELETE,
    kind: e.kind,
    key: e.key,
    body: e.body === undefined ? EMPTY : Buffer.from(canonicalJson(e.body), 'utf8'),
  }));
  return batchMessage().encode({ events: messages }).finish();
}

/** Header fields of a batch, decoded without parsing bodies (for scanning a log on open). */
export interface BatchSummary {
  readonly firstOffset: number;
  readonly count: number;
}

/**
 * One event as it sits in the payload: numbers already checked to be safe integers, strings decoded, the
 * body still bytes ([bodyStart, bodyEnd) of the payload).
 */
interface RawEvent {
  v: number;
  offset: number;
  time: number;
  source: string;
  op: number;
  kind: string;
  key: string;
  bodyStart: number;
  bodyEnd: number;
}

class Truncated extends Error {}

/**
 * A cursor over protobuf wire bytes. A class rather than closures made per call: a log of 1-event batches
 * decodes ~100k payloads, and per-call closures and their contexts were a visible share of that.
 */
class Wire {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly where: string,
  ) {}

  varint(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new Truncated();
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        this.pos = pos;
        return result;
      }
      mul *= 128;
    }
    throw new EventDecodeError(this.where, 'a varint runs over 10 bytes');
  }

  skip(wire: number, end: number): void {
    switch (wire) {
      case 0:
        this.varint(end);
        return;
      case 1:
        this.pos += 8;
        break;
      case 2: {
        // Not `this.pos += this.varint(end)`: that adds to the position from before the length was read.
        const len = this.varint(end);
        this.pos += len;
        break;
      }
      case 5:
        this.pos += 4;
        break;
      default:
        throw new EventDecodeError(this.where, `unsupported protobuf wire type ${wire}`);
    }
    if (this.pos > end) throw new Truncated();
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Reads weft.event.v1.Batch straight from the wire format. Replay decodes every event of the log, and this
 * is ~2x faster than protobufjs' generic decoder (no Long objects for uint64, no message instances, bodies
 * left as byte ranges); protobufjs still encodes, and the tests hold both to the same results. Unknown fields
 * are skipped, as protobuf requires, so a newer writer's additive fields do not break an older reader.
 */
function decodeRaw(bytes: Uint8Array, where: string, keys = true): { buf: Buffer; events: RawEvent[] } {
  const buf = asBuffer(bytes);
  const events: RawEvent[] = [];
  const w = new Wire(buf, where);
  const safe = (n: number, what: string): number => {
    if (!Number.isSafeInteger(n)) throw new EventDecodeError(`${where}, event #${events.length}`, `${what} ${n} is beyond 2^53`);
    return n;
  };

  let source = '';
  let sourceAt = 0;
  let sourceEnd = -1;
  let kind = '';
  let kindAt = 0;
  let kindEnd = -1;
  try {
    const total = buf.length;
    while (w.pos < total) {
      const tag = w.varint(total);
      if (tag >>> 3 !== 1 || (tag & 7) !== 2) {
        w.skip(tag & 7, total);
        continue;
      }
      const len = w.varint(total);
      const end = w.pos + len;
      if (end > total) throw new Truncated();
      const e: RawEvent = { v: 0, offset: 0, time: 0, source: '', op: 0, kind: '', key: '', bodyStart: 0, bodyEnd: 0 };
      while (w.pos < end) {
        const t = w.varint(end);
        const field = t >>> 3;
        const wire = t & 7;
        if (wire === 0 && field >= 1 && field <= 5 && field !== 4) {
          const n = w.varint(end);
          if (field === 1) e.v = n;
          else if (field === 2) e.offset = safe(n, 'offset');
          else if (field === 3) e.time = safe(n, 'time');
          else e.op = n;
        } else if (wire === 2 && field >= 4 && field <= 8 && field !== 5) {
          const l = w.varint(end);
          const s = w.pos;
          w.pos += l;
          if (w.pos > end) throw new Truncated();
          if (field === 8) {
            e.bodyStart = s;
            e.bodyEnd = w.pos;
          } else if (field === 7) {
            // Without `keys` (a scan that only checks envelopes) a non-empty key stands in as one character.
            e.key = keys ? buf.toString('utf8', s, w.pos) : w.pos > s ? '?' : '';
          } else if (field === 4) {
            // Sources and kinds repeat from event to event: reuse the previous string when the bytes match.
            if (!sameRange(buf, s, w.pos, sourceAt, sourceEnd)) source = buf.toString('utf8', s, w.pos);
            sourceAt = s;
            sourceEnd = w.pos;
            e.source = source;
          } else {
            if (!sameRange(buf, s, w.pos, kindAt, kindEnd)) kind = buf.toString('utf8', s, w.pos);
            kindAt = s;
            kindEnd = w.pos;
            e.kind = kind;
          }
        } else {
          w.skip(wire, end);
        }
      }
      events.push(e);
    }
  } catch (err) {
    if (err instanceof Truncated) throw new EventDecodeError(where, 'not a weft.event.v1.Batch (it ends inside a field)');
    throw err;
  }
  if (events.length === 0) throw new EventDecodeError(where, 'the batch holds no events');
  return { buf, events };
}

/** Whether buf[a, aEnd) holds the same bytes as buf[b, bEnd) (short ranges: a plain loop beats a native call). */
function sameRange(buf: Buffer, a: number, aEnd: number, b: number, bEnd: number): boolean {
  const n = aEnd - a;
  if (n !== bEnd - b) return false;
  for (let i = 0; i < n; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}

/** Where a batch sits on the log: its offsets and the time of its last event. */
export interface BatchBounds {
  readonly firstOffset: number;
  readonly count: number;
  readonly lastTime: number;
}

/**
 * Offsets and last time of a batch, reading only those fields (no strings, no bodies, no envelope checks).
 * For payloads already verified (a file log checks every record's CRC and envelope on open and the CRC
 * again on read): a replay indexes the whole log with it and decodes each batch only when it applies it.
 */
export function batchBounds(bytes: Uint8Array, where = 'event batch'): BatchBounds {
  const w = new Wire(asBuffer(bytes), where);
  let firstOffset = -1;
  let count = 0;
  let lastTime = 0;
  try {
    const total = w.buf.length;
    while (w.pos < total) {
      const tag = w.varint(total);
      if (tag >>> 3 !== 1 || (tag & 7) !== 2) {
        w.skip(tag & 7, total);
        continue;
      }
      const end = w.varint(total) + w.pos;
      if (end > total) throw new Truncated();
      let offset = 0;
      let time = 0;
      while (w.pos < end) {
        const t = w.varint(end);
        // Field 2 (offset) and 3 (time), both varints.
        if (t === 0x10) offset = w.varint(end);
        else if (t === 0x18) time = w.varint(end);
        else w.skip(t & 7, end);
      }
      if (count === 0) firstOffset = offset;
      else if (offset !== firstOffset + count) {
        throw new EventDecodeError(`${where}, event #${count}`, `offset ${offset} breaks the batch's contiguous offsets (expected ${firstOffset + count})`);
      }
      count++;
      lastTime = time;
    }
  } catch (err) {
    if (err instanceof Truncated) throw new EventDecodeError(where, 'not a weft.event.v1.Batch (it ends inside a field)');
    throw err;
  }
  if (count === 0) throw new EventDecodeError(where, 'the batch holds no events');
  return { firstOffset, count, lastTime };
}

function checkEnvelope(events: readonly RawEvent[], where: string): number {
  const first = events[0]!.offset;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.v !== EVENT_SCHEMA_VERSION) throw new EventSchemaVersionError(e.v, `${where}, event #${i}`);
    if (e.offset !== first + i) {
      throw new EventDecodeError(`${where}, event #${i}`, `offset ${e.offset} breaks the batch's contiguous offsets (expected ${first + i})`);
    }
    if (e.op !== OP_UPSERT && e.op !== OP_DELETE) throw new EventDecodeError(`${where}, event #${i}`, `unknown op ${e.op}`);
    if (!KINDS.has(e.kind)) throw new EventDecodeError(`${where}, event #${i}`, `unknown kind ${JSON.stringify(e.kind)}`);
    if (e.key === '') throw new EventDecodeError(`${where}, event #${i}`, 'empty key');
    if (e.source === '') throw new EventDecodeError(`${where}, event #${i}`, 'empty source');
    if ((e.op === OP_UPSERT) !== e.bodyEnd > e.bodyStart) {
      throw new EventDecodeError(`${where}, event #${i}`, e.op === OP_UPSERT ? 'an upsert without body' : 'a delete with a body');
    }
  }
  return first;
}

/** Decodes and checks the envelope of a batch (schema version, ops, kinds, offsets) without parsing bodies. */
export function summarizeBatch(bytes: Uint8Array, where = 'event batch'): BatchSummary {
  const { events } = decodeRaw(bytes, where, false);
  return { firstOffset: checkEnvelope(events, where), count: events.length };
}

/** Decodes a batch, validating the schema version, each op and kind, the offsets and the bodies. */
export function decodeBatch(bytes: Uint8Array, where = 'event batch'): LogBatch {
  const { buf, events: raw } = decodeRaw(bytes, where);
  checkEnvelope(raw, where);
  const events: MeshEvent[] = new Array<MeshEvent>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const e = raw[i]!;
    const op: Op = e.op === OP_UPSERT ? 'upsert' : 'delete';
    const kind = e.kind as ResourceKind;
    if (e.bodyEnd === e.bodyStart) {
      events[i] = { v: e.v, offset: e.offset, time: e.time, source: e.source, op, kind, key: e.key };
      continue;
    }
    let body: unknown;
    try {
      // The writer produced this from a JS string (well-formed UTF-8) and the CRC vouches for the bytes.
      body = JSON.parse(buf.toString('utf8', e.bodyStart, e.bodyEnd));
    } catch (err) {
      throw new EventDecodeError(`${where}, event #${i}`, `body is not JSON (${(err as Error).message})`, { cause: err });
    }
    events[i] = { v: e.v, offset: e.offset, time: e.time, source: e.source, op, kind, key: e.key, body };
  }
  return { events };
}


/**
 * Decodes a batch's envelopes (schema version, offsets, ops, kinds, keys, sources: all checked, as
 * decodeBatch does) without parsing any body. decodeEventBody parses one later, with decodeBatch's error.
 */
export function decodeEnvelopes(bytes: Uint8Array, where = 'event batch'): EncodedEvent[] {
  const { buf, events: raw } = decodeRaw(bytes, where);
  checkEnvelope(raw, where);
  const out = new Array<EncodedEvent>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const e = raw[i]!;
    out[i] = {
      v: e.v,
      offset: e.offset,
      time: e.time,
      source: e.source,
      op: e.op === OP_UPSERT ? 'upsert' : 'delete',
      kind: e.kind as ResourceKind,
      key: e.key,
      body: e.bodyEnd === e.bodyStart ? EMPTY : buf.subarray(e.bodyStart, e.bodyEnd),
    };
  }
  return out;
}

/** The event with its body parsed from JSON; `where` names the batch, as for decodeBatch. */
export function decodeEventBody(e: EncodedEvent, where = 'event batch'): MeshEvent {
  if (e.body.length === 0) return { v: e.v, offset: e.offset, time: e.time, source: e.source, op: e.op, kind: e.kind, key: e.key };
  let body: unknown;
  try {
    body = JSON.parse(asBuffer(e.body).toString('utf8'));
  } catch (err) {
    throw new EventDecodeError(`${where}, event at offset ${e.offset}`, `body is not JSON (${(err as Error).message})`, { cause: err });
  }
  return { v: e.v, offset: e.offset, time: e.time, source: e.source, op: e.op, kind: e.kind, key: e.key, body };
}
