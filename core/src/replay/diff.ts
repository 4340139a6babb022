import { compareStrings } from '../derive/canonical.js';
import type { ConfigDump, DumpedResource } from './dump.js';

/**
 * Resource-level difference between two config dumps of one proxy: per type, resources added and removed,
 * and for each changed resource the fields that differ (paths in the dump, before and after).
 */

export interface FieldChange {
  /** Dotted path into the dump, with [i] for array elements; "" for the whole value. */
  readonly path: string;
  readonly before?: unknown;
  readonly after?: unknown;
}

export interface ResourceChange {
  readonly name: string;
  readonly versions: { readonly before: string; readonly after: string };
  readonly fields: readonly FieldChange[];
}

export interface TypeDiff {
  readonly typeUrl: string;
  readonly type: string;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly ResourceChange[];
}

export interface ConfigDiff {
  readonly proxy: ConfigDump['proxy'];
  readonly from: ConfigDump['at'];
  readonly to: ConfigDump['at'];
  /** Only the types with a difference. */
  readonly types: readonly TypeDiff[];
  readonly identical: boolean;
}

export function diffDumps(a: ConfigDump, b: ConfigDump): ConfigDiff {
  const types: TypeDiff[] = [];
  const urls = [...a.types.map((t) => t.typeUrl), ...b.types.map((t) => t.typeUrl).filter((u) => !a.types.some((t) => t.typeUrl === u))];
  for (const typeUrl of urls) {
    const before = new Map((a.types.find((t) => t.typeUrl === typeUrl)?.resources ?? []).map((r) => [r.name, r] as const));
    const after = new Map((b.types.find((t) => t.typeUrl === typeUrl)?.resources ?? []).map((r) => [r.name, r] as const));
    const added = [...after.keys()].filter((n) => !before.has(n)).sort(compareStrings);
    const removed = [...before.keys()].filter((n) => !after.has(n)).sort(compareStrings);
    const changed: ResourceChange[] = [];
    for (const [name, x] of before) {
      const y = after.get(name);
      if (y === undefined || same(x, y)) continue;
      changed.push({ name, versions: { before: x.version, after: y.version }, fields: diffValues(x.resource, y.resource) });
    }
    changed.sort((p, q) => compareStrings(p.name, q.name));
    if (added.length + removed.length + changed.length === 0) continue;
    const type = (b.types.find((t) => t.typeUrl === typeUrl) ?? a.types.find((t) => t.typeUrl === typeUrl))!.type;
    types.push({ typeUrl, type, added, removed, changed });
  }
  return { proxy: b.proxy, from: a.at, to: b.at, types, identical: types.length === 0 };
}

function same(x: DumpedResource, y: DumpedResource): boolean {
  // Secrets have no comparable version (it would be a hash of key bytes); their dumps hold the fingerprints.
  if (x.version !== y.version) return false;
  return x.version !== 'redacted' || JSON.stringify(x.resource) === JSON.stringify(y.resource);
}

export function diffValues(a: unknown, b: unknown, path = ''): FieldChange[] {
  if (Object.is(a, b)) return [];
  if (Array.isArray(a) && Array.isArray(b)) {
    const out: FieldChange[] = [];
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const p = `${path}[${i}]`;
      if (i >= a.length) out.push({ path: p, after: b[i] });
      else if (i >= b.length) out.push({ path: p, before: a[i] });
      else out.push(...diffValues(a[i], b[i], p));
    }
    return out;
  }
  if (isRecord(a) && isRecord(b)) {
    const out: FieldChange[] = [];
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(compareStrings);
    for (const k of keys) {
      const p = path === '' ? k : `${path}.${k}`;
      if (!(k in a)) out.push({ path: p, after: b[k] });
      else if (!(k in b)) out.push({ path: p, before: a[k] });
      else out.push(...diffValues(a[k], b[k], p));
    }
    return out;
  }
  return [{ path, before: a, after: b }];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
