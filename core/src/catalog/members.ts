/**
 * A set of keys that is usually a single key: a proxy uuid names one workload, a workload is selected by
 * one or two services, most index entries hold one member. A lone member is held as the string itself and
 * a Set is made only for the second one; at 100k workloads that is ~300k fewer Sets to allocate, keep and
 * collect. Values are replaced, not mutated, on the way from one member to two: callers store what add()
 * and remove() return.
 */
export type Members = string | Set<string>;

export function has(m: Members | undefined, key: string): boolean {
  if (m === undefined) return false;
  return typeof m === 'string' ? m === key : m.has(key);
}

/** `m` with `key` in it (the same Set when it already was one). */
export function add(m: Members | undefined, key: string): Members {
  if (m === undefined) return key;
  if (typeof m === 'string') return m === key ? m : new Set([m, key]);
  m.add(key);
  return m;
}

/** `m` without `key`; undefined once empty. A Set stays a Set down to one member (no churn back and forth). */
export function remove(m: Members | undefined, key: string): Members | undefined {
  if (m === undefined) return undefined;
  if (typeof m === 'string') return m === key ? undefined : m;
  m.delete(key);
  return m.size === 0 ? undefined : m;
}

export function size(m: Members | undefined): number {
  if (m === undefined) return 0;
  return typeof m === 'string' ? 1 : m.size;
}

export function values(m: Members | undefined): Iterable<string> {
  if (m === undefined) return [];
  return typeof m === 'string' ? [m] : m;
}

/** Adds `key` to the members under `k`. */
export function mapAdd(map: Map<string, Members>, k: string, key: string): void {
  const m = map.get(k);
  const next = add(m, key);
  if (next !== m) map.set(k, next);
}

/** Removes `key` from the members under `k`, dropping `k` once empty. */
export function mapRemove(map: Map<string, Members>, k: string, key: string): void {
  const m = map.get(k);
  if (m === undefined) return;
  const next = remove(m, key);
  if (next === undefined) map.delete(k);
  else if (next !== m) map.set(k, next);
}
