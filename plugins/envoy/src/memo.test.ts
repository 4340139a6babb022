import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoByString, memoByValue } from './memo.js';

test('memoByValue computes once per key object, again for another object with the same content', () => {
  let runs = 0;
  const sizeOf = memoByValue((xs: readonly number[]) => (runs++, xs.length));
  const a = [1, 2];
  assert.equal(sizeOf(a), 2);
  assert.equal(sizeOf(a), 2);
  assert.equal(runs, 1);
  assert.equal(sizeOf([1, 2]), 2);
  assert.equal(runs, 2, 'a new value is a new key: nothing is shared by content');
});

test('memoByString computes once per string', () => {
  let runs = 0;
  const upper = memoByString((s) => (runs++, s.toUpperCase()));
  assert.equal(upper('a'), 'A');
  assert.equal(upper('a'), 'A');
  assert.equal(upper('b'), 'B');
  assert.equal(runs, 2);
});
