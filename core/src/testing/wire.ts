/**
 * The wire form of encoded resources for golden files: each resource's Any bytes decoded back with the
 * Envoy protos, so a golden shows what a proxy receives (fields the encoder dropped, defaults proto3 never
 * sends and a misspelt field all show up as a difference), not the tree a translator meant to send.
 */
import { envoyType } from '@weft/protos';
import type { EncodedResource } from '../xds/adapter.js';
import { pemFingerprint } from '../xds/encode.js';

const ANY = 'google.protobuf.Any';

/**
 * One resource decoded from its Any bytes (the message, its type being the golden file's): protobufjs object form (camelCase, enums by name, 64-bit integers
 * as numbers), nested Anys as `{ '@type': <type URL>, ...fields }` with `@type` first. Bytes that hold PEM
 * blocks show each block's type and SHA-256 (keys only as redacted), other bytes as base64.
 */
export function decodeResource(resource: EncodedResource): unknown {
  const any = envoyType(ANY).decode(resource.any) as unknown as { type_url: string; value: Uint8Array };
  const type = envoyType(any.type_url);
  return readable(type.toObject(type.decode(any.value), { json: true, enums: String, longs: Number }));
}

function readable(value: unknown): unknown {
  if (value instanceof Uint8Array) return readableBytes(value);
  if (Array.isArray(value)) return value.map(readable);
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if ('@type' in obj) out['@type'] = obj['@type'];
  for (const [k, v] of Object.entries(obj)) if (k !== '@type') out[k] = readable(v);
  return out;
}

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g;

function readableBytes(bytes: Uint8Array): unknown {
  const text = Buffer.from(bytes).toString('utf8');
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) return Buffer.from(bytes).toString('base64');
  return blocks.map(([pem, label]) => (label?.includes('PRIVATE KEY') ? `${label} [redacted]` : `${label} sha256:${pemFingerprint(pem)}`));
}
