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

const SAME = 0;
const DIFFERENT = 1;
const UNSURE = 2;

/** Past this depth the walk hands over to the serializer, which reports a cycle properly. */
const SAME_MAX_DEPTH = 100;

/**
 * Whether two values have the same canonical JSON, i.e. `canonicalJsonOf(a) === canonicalJsonOf(b)`, without
 * serializing them in the common case: plain data (objects, arrays, strings, finite numbers, booleans, null)
 * is compared by a walk that stops at the first difference. Whatever the walk cannot decide on its own (Map,
 * Set, bytes, toJSON, bigint, undefined or functions as values, non-finite numbers, two values of different
 * types, very deep values) is settled by comparing the canonical JSON texts. Since the walk may stop before it
 * reaches a cycle, a cyclic value is only reported when the comparison gets to it.
 */
export function sameCanonicalJson(a: unknown, b: unknown): boolean {
  const r = walkSame(a, b, 0);
  return r === UNSURE ? canonicalJsonOf(a) === canonicalJsonOf(b) : r === SAME;
}

// Each DIFFERENT answer is final: canonical JSON parses back to the value it came from, so two values whose
// texts agree agree member by member, and a difference anywhere means the texts differ.
function walkSame(a: unknown, b: unknown, depth: number): number {
  if (a === b) return SAME; // one object, or equal primitives (NaN never gets here)
  const t = typeof a;
  if (t !== typeof b) return UNSURE;
  switch (t) {
    case 'string':
    case 'boolean':
      return DIFFERENT;
    case 'number':
      // Distinct finite numbers have distinct shortest round-trip forms; -0 === 0 was handled above.
      return Number.isFinite(a) && Number.isFinite(b) ? DIFFERENT : UNSURE;
    case 'object':
      break;
    default:
      return UNSURE;
  }
  if (a === null || b === null || depth > SAME_MAX_DEPTH) return UNSURE;
  if (Array.isArray(a)) {
    if (!Array.isArray(b)) return UNSURE;
    if (a.length !== b.length) return DIFFERENT;
    for (let i = 0; i < a.length; i++) {
      const r = walkSame(a[i] as unknown, b[i] as unknown, depth + 1);
      if (r !== SAME) return r;
    }
    return SAME;
  }
  if (!isPlainRecord(a as object) || !isPlainRecord(b as object)) return UNSURE;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let n = 0;
  for (const k in ra) {
    const va = ra[k];
    if (va === undefined || typeof va === 'function' || typeof va === 'symbol') return UNSURE;
    // b["__proto__"] would read b's prototype when b has no such member of its own.
    if (k === '__proto__') return UNSURE;
    n++;
    const vb = rb[k];
    if (vb === undefined) return DIFFERENT; // `k` is in a's text and not in b's
    const r = walkSame(va, vb, depth + 1);
    if (r !== SAME) return r;
  }
  // Every member of a is in b with the same text; b has no other (serialized) member iff it has as many.
  let m = 0;
  for (const k in rb) {
    const vb = rb[k];
    if (typeof vb === 'function' || typeof vb === 'symbol') return UNSURE;
    if (vb !== undefined) m++;
  }
  return m === n ? SAME : DIFFERENT;
}

/** An object serialized member by member: no Map, Set, bytes, Date or other class, and no toJSON. */
function isPlainRecord(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/**
 * Throws what canonicalJsonOf would throw for a value that is not a tree (a reference cycle), without
 * serializing it: a walk of its objects and arrays that hands over to the serializer only past a depth no
 * resource reaches.
 */
export function assertTree(value: unknown): void {
  if (!shallowerThan(value, SAME_MAX_DEPTH)) canonicalJsonOf(value);
}

function shallowerThan(v: unknown, budget: number): boolean {
  if (typeof v !== 'object' || v === null) return true;
  if (budget === 0) return false;
  if (ArrayBuffer.isView(v)) return true; // bytes hold no references
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!shallowerThan(v[i] as unknown, budget - 1)) return false;
    return true;
  }
  if (v instanceof Map) {
    for (const [k, x] of v as Map<unknown, unknown>) if (!shallowerThan(k, budget - 1) || !shallowerThan(x, budget - 1)) return false;
    return true;
  }
  if (v instanceof Set) {
    for (const x of v as Set<unknown>) if (!shallowerThan(x, budget - 1)) return false;
    return true;
  }
  const r = v as Record<string, unknown>;
  for (const k in r) if (!shallowerThan(r[k], budget - 1)) return false;
  return true;
}
