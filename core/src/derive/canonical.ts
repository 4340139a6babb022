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
  return write(value, new Set<object>(), []);
}

/** sha256 (hex) of the canonical JSON of a value. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJsonOf(value)).digest('hex');
}

// Hot path (every upsert and every derivation is hashed): plain loops and string appends, and the
// location of a value is only turned into text when there is an error to report.
function write(value: unknown, open: Set<object>, path: (string | number)[]): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return `"${value.toString()}"`;
    case 'object':
      break;
    default:
      return 'null';
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (obj instanceof Uint8Array) return `"${Buffer.from(obj.buffer, obj.byteOffset, obj.byteLength).toString('hex')}"`;
  if (open.has(obj)) {
    const where = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
    throw new WeftError('CANONICAL_JSON_CYCLE', `cannot hash a value with a reference cycle at $${where}; derivation values must be trees`);
  }
  open.add(obj);
  let out: string;
  if (Array.isArray(obj)) {
    out = '[';
    for (let i = 0; i < obj.length; i++) {
      if (i > 0) out += ',';
      path.push(i);
      out += write(obj[i] as unknown, open, path);
      path.pop();
    }
    out += ']';
  } else if (obj instanceof Map) {
    const entries: string[] = [];
    for (const [k, v] of obj as Map<unknown, unknown>) {
      path.push('<map>');
      entries.push(`[${write(k, open, path)},${write(v, open, path)}]`);
      path.pop();
    }
    entries.sort();
    out = `[${entries.join(',')}]`;
  } else if (obj instanceof Set) {
    const items: string[] = [];
    for (const v of obj as Set<unknown>) {
      path.push('<set>');
      items.push(write(v, open, path));
      path.pop();
    }
    items.sort();
    out = `[${items.join(',')}]`;
  } else if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') {
    open.delete(obj);
    return write((obj as { toJSON: () => unknown }).toJSON(), open, path);
  } else {
    const rec = obj as Record<string, unknown>;
    const keys = Object.keys(rec).sort(); // default order is UTF-16 code units, as compareStrings
    out = '{';
    let first = true;
    for (const k of keys) {
      const v = rec[k];
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      if (!first) out += ',';
      first = false;
      path.push(k);
      out += `${JSON.stringify(k)}:${write(v, open, path)}`;
      path.pop();
    }
    out += '}';
  }
  open.delete(obj);
  return out;
}

/** Code-unit order, locale independent, so the same input sorts the same everywhere. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
