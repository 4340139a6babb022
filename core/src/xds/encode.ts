import { createHash } from 'node:crypto';
import { envoyType } from '@weft/protos';
import type { EncodedResource } from './adapter.js';

/**
 * Encodes a resource once into a google.protobuf.Any and keeps the bytes. Translators call this inside
 * their derivation, so the bytes are shared by every proxy whose derivation id is the same.
 *
 * `message` uses protobufjs object form (camelCase fields; nested Any as { typeUrl, value: Uint8Array },
 * see `packAny`). `dump` is what config dumps show; pass a redacted copy for secrets.
 */
export function encodeResource(typeUrl: string, name: string, message: object, dump: unknown = message): EncodedResource {
  const type = envoyType(typeUrl);
  const problem = type.verify(message);
  if (problem !== null) {
    throw new TypeError(`cannot encode ${typeUrl} "${name}": ${problem}`);
  }
  const value = type.encode(type.fromObject(message)).finish();
  const any = encodeAnyBytes(typeUrl, value);
  const version = createHash('sha256').update(any).digest('hex').slice(0, 16);
  return { name, typeUrl, version, any, dump };
}

/**
 * A nested Any in protobufjs object form, for typed_config and friends. protobufjs defines
 * google.protobuf.Any with the field name `type_url` (its built-in definition keeps proto case), so that is
 * the key fromObject reads; `typeUrl` stays for callers that read it back.
 */
export function packAny(typeUrl: string, message: object): { typeUrl: string; type_url: string; value: Uint8Array } {
  const type = envoyType(typeUrl);
  const problem = type.verify(message);
  if (problem !== null) throw new TypeError(`cannot encode nested ${typeUrl}: ${problem}`);
  return { typeUrl, type_url: typeUrl, value: type.encode(type.fromObject(message)).finish() };
}

/** google.protobuf.Any { type_url = 1; value = 2 } written by hand: two length-delimited fields. */
export function encodeAnyBytes(typeUrl: string, value: Uint8Array): Uint8Array {
  const url = Buffer.from(typeUrl, 'utf8');
  const parts = [Buffer.from([0x0a]), varint(url.length), url, Buffer.from([0x12]), varint(value.length), value];
  return Buffer.concat(parts);
}

export function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}
