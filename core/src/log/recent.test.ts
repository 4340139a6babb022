import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentBatches } from './follow.js';

const entry = (first: number, bytes: number): { first: number; payload: Uint8Array } => ({ first, payload: new Uint8Array(bytes) });

test('RecentBatches keeps the newest entries within both bounds, always the newest one', () => {
  const r = new RecentBatches<{ first: number; payload: Uint8Array }>(3, 100);
  for (let i = 0; i < 5; i++) r.push(entry(i * 10, 10));
  assert.deepEqual(r.entries.map((e) => e.first), [20, 30, 40], 'at most 3 entries');
  const before = r.entries;
  r.push(entry(50, 90));
  assert.deepEqual(r.entries.map((e) => e.first), [40, 50], 'at most 100 bytes');
  assert.deepEqual(before.map((e) => e.first), [20, 30, 40, 50], 'a trim replaces the array: an iteration in progress saw it whole');
  r.push(entry(60, 500));
  assert.deepEqual(r.entries.map((e) => e.first), [60], 'the newest entry stays even over the byte bound');
});

test('RecentBatches.lastAtOrBefore finds the newest entry starting at or before an offset', () => {
  const r = new RecentBatches<{ first: number; payload: Uint8Array }>(10, 1000);
  for (const first of [5, 8, 20]) r.push(entry(first, 1));
  const at = (offset: number): number => r.lastAtOrBefore(offset, (e) => e.first);
  assert.equal(at(4), -1);
  assert.equal(at(5), 0);
  assert.equal(at(7), 0);
  assert.equal(at(8), 1);
  assert.equal(at(19), 1);
  assert.equal(at(20), 2);
  assert.equal(at(1000), 2);
});
