import { createHash } from 'node:crypto';
import { WeftError } from '../errors.js';

/**
 * Canonical JSON: object keys sorted, Map as sorted [key, value] pairs, Set as a sorted array, bytes
 * (Uint8Array, Buffer) as lower-case hex strings, bigint as a decimal string. Everything else follows
 * JSON.stringify (undefined and functions are dropped from objects and become null in arrays).
 * Two values with the same canonical JSON are the same content: that is what early cut-off and
 * "an upsert with an identical body changes nothing" compare.
 */
export function canonicalJsonOf(value: unknown): string {
  return write(value, new Set<object>(), '$');
}

/** sha256 (hex) of the canonical JSON of a value. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJsonOf(value)).digest('hex');
}

function write(value: unknown, path: Set<object>, where: string): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'undefined':
    case 'function':
    case 'symbol':
      return 'null';
    case 'object':
      break;
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (obj instanceof Uint8Array) return `"${Buffer.from(obj.buffer, obj.byteOffset, obj.byteLength).toString('hex')}"`;
  if (path.has(obj)) {
    throw new WeftError('CANONICAL_JSON_CYCLE', `cannot hash a value with a reference cycle at ${where}; derivation values must be trees`);
  }
  path.add(obj);
  try {
    if (Array.isArray(obj)) {
      return `[${obj.map((v: unknown, i) => write(v, path, `${where}[${i}]`)).join(',')}]`;
    }
    if (obj instanceof Map) {
      const entries = [...(obj as Map<unknown, unknown>).entries()].map(
        ([k, v]) => [write(k, path, `${where}<key>`), write(v, path, `${where}<value>`)] as const,
      );
      entries.sort((a, b) => compareStrings(a[0], b[0]));
      return `[${entries.map(([k, v]) => `[${k},${v}]`).join(',')}]`;
    }
    if (obj instanceof Set) {
      const items = [...(obj as Set<unknown>)].map((v) => write(v, path, `${where}<item>`));
      items.sort(compareStrings);
      return `[${items.join(',')}]`;
    }
    const withJson = obj as { toJSON?: unknown };
    if (typeof withJson.toJSON === 'function') {
      return write((withJson.toJSON as () => unknown).call(obj), path, where);
    }
    const rec = obj as Record<string, unknown>;
    const keys = Object.keys(rec).sort(compareStrings);
    const parts: string[] = [];
    for (const k of keys) {
      const v = rec[k];
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      parts.push(`${JSON.stringify(k)}:${write(v, path, `${where}.${k}`)}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    path.delete(obj);
  }
}

/** Code-unit order, locale independent, so the same input sorts the same everywhere. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
