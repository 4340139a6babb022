/**
 * Caches of what is computed from the values derivations hand out. A derivation's value is never modified (a
 * change is a new value), so what is computed from one stays right for as long as that value lives, and a
 * WeakMap lets it go with the value.
 */

/** `compute` once per key object; `compute` never returns undefined. */
export function memoByValue<K extends object, V>(compute: (key: K) => V): (key: K) => V {
  return memoIn(new WeakMap<K, V>(), compute);
}

/** `compute` once per string, for keys of a small bounded set (type URLs, a plan's callers, port names). */
export function memoByString<V>(compute: (key: string) => V): (key: string) => V {
  return memoIn(new Map<string, V>(), compute);
}

function memoIn<K, V>(cache: { get(key: K): V | undefined; set(key: K, value: V): unknown }, compute: (key: K) => V): (key: K) => V {
  return (key) => {
    let value = cache.get(key);
    if (value === undefined) {
      value = compute(key);
      cache.set(key, value);
    }
    return value;
  };
}
