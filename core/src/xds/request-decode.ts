/**
 * A lean reader of the two ADS request envelopes. A proxy sends one request per response, each carrying its
 * node (Envoy's default) with metadata, and the server reads the node of a stream's first request only; so
 * the envelope's own fields (type, version, nonce, names, error detail) are read by hand and the node is kept
 * as bytes, decoded when read. Anything unusual in the envelope (a known field with another wire type,
 * groups) is left to the full protobufjs decoder, so what is accepted or refused does not change.
 */

/** The envelope is not protobuf at all (truncated, bad varint, bad wire type): the message protobufjs would give. */
export class EnvelopeError extends Error {}

/** The full decoder must decide (the envelope is legal but unusual). */
export class NeedsFullDecode extends Error {}

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** A cursor over protobuf bytes that checks every length against the end. */
export class ProtoReader {
  pos = 0;
  private readonly buf: Buffer;

  constructor(bytes: Uint8Array) {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** A varint as a number (exact up to 2^53; larger values only need to be skipped or rejected). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new EnvelopeError(`index out of range: ${this.pos} + 1 > ${this.buf.length}`);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new EnvelopeError('invalid varint encoding');
  }

  /** An int32 varint: its low 32 bits, signed (negative values take ten bytes on the wire). */
  int32(): number {
    let low = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new EnvelopeError(`index out of range: ${this.pos} + 1 > ${this.buf.length}`);
      const b = this.buf[this.pos++]!;
      if (i < 5) low |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) === 0) return low | 0;
    }
    throw new EnvelopeError('invalid varint encoding');
  }

  /** A length-delimited field's bytes (a view, not a copy). */
  bytes(): Buffer {
    const length = this.varint();
    const end = this.pos + length;
    if (end > this.buf.length) throw new EnvelopeError(`index out of range: ${this.pos} + ${length} > ${this.buf.length}`);
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  string(): string {
    const length = this.varint();
    const end = this.pos + length;
    // protobufjs cuts a string running past the end short instead of refusing it: its call.
    if (end > this.buf.length) throw new NeedsFullDecode('a string past the end');
    const out = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return out;
  }

  /** Skips a field of an unknown number; groups (deprecated) go to the full decoder. */
  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_I64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.bytes();
        return;
      case WIRE_I32:
        this.advance(4);
        return;
      case 3:
      case 4:
        throw new NeedsFullDecode('group');
      default:
        throw new EnvelopeError(`invalid wire type ${wireType} at offset ${this.pos}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new EnvelopeError(`index out of range: ${this.pos} + ${n} > ${this.buf.length}`);
    this.pos += n;
  }
}

/** Reads the fields of a message: `field` returns false for a field it does not read (skipped). */
export function readFields(bytes: Uint8Array, field: (r: ProtoReader, number: number, wireType: number) => boolean): void {
  const r = new ProtoReader(bytes);
  while (!r.done) {
    const tag = r.varint();
    // protobufjs reads tags as uint32 and skips field 0: such oddities are its to judge.
    if (tag > 0xffffffff || tag < 8) throw new NeedsFullDecode('an unusual tag');
    const number = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (!field(r, number, wireType)) r.skip(wireType);
  }
}

/** A string field: its wire type must be length-delimited, or the full decoder decides. */
export function expectLen(wireType: number): void {
  if (wireType !== WIRE_LEN) throw new NeedsFullDecode('a known field with another wire type');
}

/** google.rpc.Status { int32 code = 1; string message = 2; repeated Any details = 3 }. */
export function readStatus(bytes: Uint8Array): { code: number; message: string } {
  let code = 0;
  let message = '';
  readFields(bytes, (r, n, wt) => {
    if (n === 1) {
      if (wt !== WIRE_VARINT) throw new NeedsFullDecode('status code');
      code = r.int32();
      return true;
    }
    if (n === 2) {
      expectLen(wt);
      message = r.string();
      return true;
    }
    return false;
  });
  return { code, message };
}

/** A map<string, string> entry { key = 1; value = 2 }. */
export function readStringMapEntry(bytes: Uint8Array): [string, string] {
  let key = '';
  let value = '';
  readFields(bytes, (r, n, wt) => {
    if (n !== 1 && n !== 2) return false;
    expectLen(wt);
    if (n === 1) key = r.string();
    else value = r.string();
    return true;
  });
  return [key, value];
}
