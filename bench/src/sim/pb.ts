/**
 * Just enough protobuf for simulated proxies and the floor server: a field walker over encoded bytes and a
 * writer for the few messages they send. Decoding the whole DiscoveryResponse with a generated codec would
 * cost the shared CPU more than the server under test; the envelope is all a simulated proxy needs.
 */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export class ProtoError extends Error {}

/**
 * Calls `visit` for each top-level field in buf[start, end). For length-delimited fields [s, e) is the
 * payload; for varints `v` is the value (exact up to 2^53).
 */
export function walk(
  buf: Uint8Array,
  start: number,
  end: number,
  visit: (field: number, wire: number, s: number, e: number, v: number) => void,
): void {
  let p = start;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (p >= end) throw new ProtoError('truncated varint');
      const b = buf[p++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
      if (mul > 2 ** 63) throw new ProtoError('varint too long');
    }
  };
  while (p < end) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    switch (wire) {
      case WIRE_VARINT: {
        const v = varint();
        visit(field, wire, p, p, v);
        break;
      }
      case WIRE_I64:
        if (p + 8 > end) throw new ProtoError('truncated fixed64');
        visit(field, wire, p, p + 8, 0);
        p += 8;
        break;
      case WIRE_LEN: {
        const len = varint();
        if (p + len > end) throw new ProtoError(`field ${field}: length ${len} runs past the message`);
        visit(field, wire, p, p + len, len);
        p += len;
        break;
      }
      case WIRE_I32:
        if (p + 4 > end) throw new ProtoError('truncated fixed32');
        visit(field, wire, p, p + 4, 0);
        p += 4;
        break;
      default:
        throw new ProtoError(`unsupported wire type ${wire} (field ${field})`);
    }
  }
}

const utf8 = new TextDecoder();
export function str(buf: Uint8Array, s: number, e: number): string {
  return utf8.decode(buf.subarray(s, e));
}

/** Payloads of every occurrence of a length-delimited field. */
export function subs(buf: Uint8Array, s: number, e: number, field: number): [number, number][] {
  const out: [number, number][] = [];
  walk(buf, s, e, (f, w, a, b) => {
    if (f === field && w === WIRE_LEN) out.push([a, b]);
  });
  return out;
}

/** Payload ranges reached by following a path of length-delimited fields (repeated fields fan out). */
export function path(buf: Uint8Array, s: number, e: number, fields: readonly number[]): [number, number][] {
  let ranges: [number, number][] = [[s, e]];
  for (const f of fields) {
    const next: [number, number][] = [];
    for (const [a, b] of ranges) next.push(...subs(buf, a, b, f));
    ranges = next;
  }
  return ranges;
}

export function firstString(buf: Uint8Array, s: number, e: number, field: number): string | undefined {
  const r = subs(buf, s, e, field)[0];
  return r === undefined ? undefined : str(buf, r[0], r[1]);
}

export function varintField(buf: Uint8Array, s: number, e: number, field: number): number | undefined {
  let out: number | undefined;
  walk(buf, s, e, (f, w, _a, _b, v) => {
    if (f === field && w === WIRE_VARINT) out = v;
  });
  return out;
}

function varintBytes(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** Builds a message field by field. */
export class Writer {
  private readonly parts: Uint8Array[] = [];
  private size = 0;
  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.size += b.length;
  }
  bytes(field: number, value: Uint8Array): this {
    this.push(Uint8Array.from([...varintBytes(field * 8 + WIRE_LEN), ...varintBytes(value.length)]));
    this.push(value);
    return this;
  }
  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }
  /** proto3: empty strings are not written. */
  stringIfSet(field: number, value: string | undefined): this {
    return value === undefined || value === '' ? this : this.string(field, value);
  }
  uint(field: number, value: number): this {
    this.push(Uint8Array.from([...varintBytes(field * 8 + WIRE_VARINT), ...varintBytes(value)]));
    return this;
  }
  finish(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}
