import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median } from './measure.js';
import { translateBench } from './translate-bench.js';

test('the translation benchmark touches the affected roots of each change and stops replaying a burst that changes nothing', async () => {
  const results = await translateBench({ proxies: 60, scenarios: ['endpoint', 'burst'], changes: 3, rounds: 3 });
  const endpoint = results.find((r) => r.scenario === 'endpoint');
  const burst = results.find((r) => r.scenario === 'burst');
  assert.ok(endpoint !== undefined && burst !== undefined);
  assert.ok(endpoint.rootsPerChange > 0, 'an endpoint move reaches its callers');
  assert.equal(endpoint.cpuMs.length, 2, 'rounds after the first are the samples');
  assert.ok(endpoint.cpuMs.every((ms) => ms > 0));
  assert.equal(burst.cpuMs.length, 1, 'a replayed burst ends where it started: only its first round counts');
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
});
