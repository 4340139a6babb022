import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson } from '../log/codec.js';
import { assertTree, canonicalJsonOf, sameCanonicalJson } from './canonical.js';

// Two serializers exist on purpose: the log's (strict: refuses what JSON cannot carry) and the engine's
// (total: Map, Set, bytes, bigint). The catalog compares bodies decoded from the log with bodies built in
// memory, so on plain JSON the two must agree to the byte.
test('property: the log and engine canonical JSON agree on every plain JSON value', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      assert.equal(canonicalJson(v), canonicalJsonOf(v));
    }),
    { numRuns: 500 },
  );
});

test('property: canonical JSON is independent of key order and a fixed point of parse + serialize', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const text = canonicalJsonOf(v);
      assert.equal(canonicalJsonOf(JSON.parse(text)), text);
      assert.equal(canonicalJsonOf(reversedKeys(v)), text);
    }),
    { numRuns: 300 },
  );
});

/** The same value with every object's keys inserted in reverse order. */
function reversedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reversedKeys);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).reverse()) {
    Object.defineProperty(out, k, { value: reversedKeys((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

// Values the walk must hand over to the serializer, mixed into plain data.
const exotic = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom(NaN, Infinity, -Infinity, -0),
  fc.bigInt({ min: -5n, max: 5n }),
  fc.constant(() => 1),
  fc.uint8Array({ maxLength: 3 }),
  fc.date({ min: new Date(0), max: new Date(1000) }),
  fc.constantFrom('0', '1', 'null', '00ff', '1970-01-01T00:00:00.000Z'),
);
const { value: anyValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.constant(null), fc.boolean(), fc.integer({ min: -2, max: 2 }), fc.constantFrom('a', 'b', ''), exotic),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c', '__proto__', 'toJSON'), tie('value'), { maxKeys: 3 }),
    fc.array(fc.tuple(fc.constantFrom('a', 'b'), tie('value')), { maxLength: 2 }).map((e) => new Map(e)),
    fc.array(tie('value'), { maxLength: 2 }).map((e) => new Set(e)),
  ),
}));

test('property: sameCanonicalJson answers exactly whether the canonical JSON texts are equal', () => {
  const check = (a: unknown, b: unknown): void => {
    assert.equal(sameCanonicalJson(a, b), canonicalJsonOf(a) === canonicalJsonOf(b), `${canonicalJsonOf(a)} vs ${canonicalJsonOf(b)}`);
  };
  fc.assert(
    fc.property(anyValue, anyValue, (a, b) => {
      check(a, b);
      check(a, reversedKeys(structuredCloneJsonish(a)));
    }),
    { numRuns: 1000 },
  );
  // Found by the property above: an own "__proto__" member against an object without one.
  const own: Record<string, unknown> = {};
  Object.defineProperty(own, '__proto__', { value: {}, enumerable: true, writable: true, configurable: true });
  check(own, { a: new Uint8Array(0) });
  check(own, {});
  check({}, own);
  // Plain pairs that differ in one place, and equal ones built separately.
  fc.assert(
    fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
      check(a, b);
      check(a, JSON.parse(JSON.stringify(a)));
      check({ x: a, y: 1 }, { y: 1, x: b });
      check([a, b], [a, a]);
    }),
    { numRuns: 500 },
  );
});

/** A copy that keeps exotic leaves (shared) but rebuilds plain arrays and objects. */
function structuredCloneJsonish(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(structuredCloneJsonish);
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    Object.defineProperty(out, k, { value: structuredCloneJsonish((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

test('assertTree refuses a cycle like the serializer does, and accepts shared and deep trees', () => {
  const cyclic: { a: unknown[] } = { a: [] };
  cyclic.a.push({ back: cyclic });
  assert.throws(() => assertTree(cyclic), /reference cycle at \$\.a\[0\]\.back/);
  assert.throws(() => assertTree(new Map([['k', cyclic]])), /cycle/);
  const shared = { x: 1 };
  assert.doesNotThrow(() => assertTree({ a: shared, b: [shared, shared] }));
  let deep: unknown = 'leaf';
  for (let i = 0; i < 500; i++) deep = { d: deep };
  assert.doesNotThrow(() => assertTree(deep));
  assert.equal(sameCanonicalJson(deep, JSON.parse(JSON.stringify(deep))), true);
  // Two look-alike cycles: the walk never finds a difference, so it hands over to the serializer.
  const c1: { s?: unknown } = {};
  c1.s = c1;
  const c2: { s?: unknown } = {};
  c2.s = c2;
  assert.throws(() => sameCanonicalJson(c1, c2), /cycle/);
});
