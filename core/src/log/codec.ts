/**
 * The on-log form of a batch: protobuf `weft.event.v1.Batch` whose events carry the normalized resource as
 * canonical JSON. Pure functions; no I/O.
 */
import { weftProtos } from '@weft/protos';
import type { Type } from 'protobufjs';
import { WeftError } from '../errors.js';
import { RESOURCE_KINDS, type ResourceKind } from '../model/types.js';
import { EventDecodeError, EventSchemaVersionError, InvalidEventError } from './errors.js';
import { EVENT_SCHEMA_VERSION, type EventInput, type LogBatch, type MeshEvent, type Op } from './types.js';

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
      const keys = Object.keys(record).sort();
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

/** A decoded protobuf uint64: a number, or a Long when it does not fit 32 bits. */
type Uint64 = number | { low: number; high: number };

function toSafe(value: Uint64, what: string, where: string): number {
  const n = typeof value === 'number' ? value : (value.high >>> 0) * 0x1_0000_0000 + (value.low >>> 0);
  if (!Number.isSafeInteger(n)) throw new EventDecodeError(where, `${what} ${n} is beyond 2^53`);
  return n;
}

/** Header fields of a batch, decoded without parsing bodies (for scanning a log on open). */
export interface BatchSummary {
  readonly firstOffset: number;
  readonly count: number;
}

interface RawBatch {
  events: {
    v: number;
    offset: Uint64;
    time: Uint64;
    source: string;
    op: number;
    kind: string;
    key: string;
    body: Uint8Array;
  }[];
}

function decodeRaw(bytes: Uint8Array, where: string): RawBatch {
  let raw: RawBatch;
  try {
    raw = batchMessage().decode(bytes) as unknown as RawBatch;
  } catch (err) {
    throw new EventDecodeError(where, `not a weft.event.v1.Batch (${(err as Error).message})`, { cause: err });
  }
  if (raw.events.length === 0) throw new EventDecodeError(where, 'the batch holds no events');
  return raw;
}

function checkEnvelope(raw: RawBatch, where: string): number {
  let first = 0;
  for (let i = 0; i < raw.events.length; i++) {
    const e = raw.events[i]!;
    const at = `${where}, event #${i}`;
    if (e.v !== EVENT_SCHEMA_VERSION) throw new EventSchemaVersionError(e.v, at);
    const offset = toSafe(e.offset, 'offset', at);
    if (i === 0) first = offset;
    else if (offset !== first + i) {
      throw new EventDecodeError(at, `offset ${offset} breaks the batch's contiguous offsets (expected ${first + i})`);
    }
    if (e.op !== OP_UPSERT && e.op !== OP_DELETE) throw new EventDecodeError(at, `unknown op ${e.op}`);
    if (!KINDS.has(e.kind)) throw new EventDecodeError(at, `unknown kind ${JSON.stringify(e.kind)}`);
    if (e.key === '') throw new EventDecodeError(at, 'empty key');
    if (e.source === '') throw new EventDecodeError(at, 'empty source');
    if ((e.op === OP_UPSERT) !== e.body.length > 0) {
      throw new EventDecodeError(at, e.op === OP_UPSERT ? 'an upsert without body' : 'a delete with a body');
    }
  }
  return first;
}

/** Decodes and checks the envelope of a batch (schema version, ops, kinds, offsets) without parsing bodies. */
export function summarizeBatch(bytes: Uint8Array, where = 'event batch'): BatchSummary {
  const raw = decodeRaw(bytes, where);
  return { firstOffset: checkEnvelope(raw, where), count: raw.events.length };
}

/** Decodes a batch, validating the schema version, each op and kind, the offsets and the bodies. */
export function decodeBatch(bytes: Uint8Array, where = 'event batch'): LogBatch {
  const raw = decodeRaw(bytes, where);
  checkEnvelope(raw, where);
  const events: MeshEvent[] = new Array<MeshEvent>(raw.events.length);
  for (let i = 0; i < raw.events.length; i++) {
    const e = raw.events[i]!;
    const base = {
      v: e.v,
      offset: toSafe(e.offset, 'offset', where),
      time: toSafe(e.time, 'time', where),
      source: e.source,
      op: (e.op === OP_UPSERT ? 'upsert' : 'delete') as Op,
      kind: e.kind as ResourceKind,
      key: e.key,
    };
    if (e.body.length === 0) {
      events[i] = base;
    } else {
      let body: unknown;
      try {
        // The writer produced this from a JS string (well-formed UTF-8) and the CRC vouches for the bytes.
        body = JSON.parse(Buffer.from(e.body.buffer, e.body.byteOffset, e.body.byteLength).toString('utf8'));
      } catch (err) {
        throw new EventDecodeError(`${where}, event #${i}`, `body is not JSON (${(err as Error).message})`, {
          cause: err,
        });
      }
      events[i] = { ...base, body };
    }
  }
  return { events };
}
