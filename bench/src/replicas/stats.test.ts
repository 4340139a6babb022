import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ms, parseWeftLine, quantile, summarize } from './stats.js';

test('quantile: nearest rank, a measured sample, order of input irrelevant', () => {
  const v = [5, 1, 4, 2, 3];
  assert.equal(quantile(v, 0.5), 3);
  assert.equal(quantile(v, 0), 1);
  assert.equal(quantile(v, 1), 5);
  // 100 samples 1..100: p99 is the 99th, p50 the 50th.
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(quantile(hundred, 0.99), 99);
  assert.equal(quantile(hundred, 0.5), 50);
  // Few samples: p99 is the largest, never an interpolated value.
  assert.equal(quantile([10, 20], 0.99), 20);
  assert.ok(Number.isNaN(quantile([], 0.5)));
  assert.throws(() => quantile([1], 1.5), RangeError);
  assert.deepEqual(v, [5, 1, 4, 2, 3], 'input left unsorted');
});

test('summarize and ms', () => {
  assert.deepEqual(summarize([3, 1, 2]), { n: 3, p50: 2, p99: 3, max: 3 });
  assert.equal(ms(4.26), '4.3');
  assert.equal(ms(12.6), '13');
  assert.equal(ms(Number.NaN), '-');
});

test('parseWeftLine: ready, change applied, other, and junk', () => {
  assert.deepEqual(parseWeftLine('{"time":"2026-12-07T06:00:00.000Z","level":"info","msg":"ready","xds":"127.0.0.1:1","debug":"127.0.0.1:2"}'), {
    kind: 'ready',
    xds: '127.0.0.1:1',
    debug: '127.0.0.1:2',
  });
  assert.deepEqual(parseWeftLine('{"time":"2026-12-07T06:00:01.234Z","level":"info","msg":"change applied","offset":41,"source":"bench","events":3,"resources":[]}'), {
    kind: 'applied',
    offset: 41,
    at: Date.UTC(2026, 11, 7, 6, 0, 1, 234),
    events: 3,
  });
  assert.deepEqual(parseWeftLine('{"level":"warn","msg":"something"}'), { kind: 'other', level: 'warn', msg: 'something' });
  // An applied line without a readable time or offset is not taken as a measurement.
  assert.deepEqual(parseWeftLine('{"time":"soon","level":"info","msg":"change applied","offset":1}'), null);
  assert.equal(parseWeftLine('{"msg":"change applied","time":"2026-12-07T06:00:00.000Z"}')?.kind, 'other');
  assert.equal(parseWeftLine('    at Object.<anonymous> (x.js:1:1)'), null);
  assert.equal(parseWeftLine('{not json'), null);
});
