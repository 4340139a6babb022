import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCidr, isDnsLabel, parseDuration } from './values.js';

test('parseDuration reads Go duration syntax into milliseconds', () => {
  const table: [string, number | null][] = [
    ['0', 0],
    ['1s', 1000],
    ['500ms', 500],
    ['24h', 86_400_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['0.1s', 100],
    ['.5s', 500],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['1000000ns', 1],
    ['+2m', 120_000],
    ['2h45m30.5s', 9_930_500],
    ['', null],
    ['1', null],
    ['s', null],
    ['-1s', null],
    ['1 s', null],
    ['1d', null],
    ['1s ', null],
    ['1.s', 1000],
  ];
  for (const [text, ms] of table) assert.equal(parseDuration(text), ms, text);
});

test('isCidr follows net.ParseCIDR', () => {
  assert.equal(isCidr('10.0.0.0/8'), true);
  assert.equal(isCidr('10.0.0.1/8'), true); // host bits set are allowed
  assert.equal(isCidr('0.0.0.0/0'), true);
  assert.equal(isCidr('2001:db8::/32'), true);
  assert.equal(isCidr('::/0'), true);
  assert.equal(isCidr('10.0.0.0'), false);
  assert.equal(isCidr('10.0.0.0/33'), false);
  assert.equal(isCidr('2001:db8::/129'), false);
  assert.equal(isCidr('10.0.0/8'), false);
  assert.equal(isCidr('10.0.0.0/'), false);
  assert.equal(isCidr('10.0.0.0/-1'), false);
  assert.equal(isCidr('host/8'), false);
});

test('isDnsLabel', () => {
  assert.equal(isDnsLabel('bookstore-v1'), true);
  assert.equal(isDnsLabel('a'.repeat(63)), true);
  assert.equal(isDnsLabel('a'.repeat(64)), false);
  assert.equal(isDnsLabel('-a'), false);
  assert.equal(isDnsLabel('A'), false);
  assert.equal(isDnsLabel('a.b'), false);
});
