/**
 * The harness end to end at a small size, for Weft and for the floor: the server in its own process, 20
 * simulated proxies in a worker, the connect storm and an endpoint change repeated (1 cold, 2 warm-up, 5
 * warm). Proves the harness measures what it says (every proxy configured, every affected proxy converged,
 * nothing sent to the others, no NACKs, the warm figures counting the warm changes only).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs, runBenchmark } from './run.js';

for (const system of ['weft', 'floor'] as const) {
test(`harness: 20 proxies, ${system}, an endpoint change repeated: all converge with 0 NACKs`, { timeout: 60_000 }, async () => {
  const o = parseArgs(['--proxies', '20', '--services', '20', '--systems', system, '--scenarios', 'endpoint', '--repeats', '5', '--warmup', '2', '--gap-ms', '50', '--idle-ms', '200', '--quiet-ms', '200', '--timeout-s', '20', '--no-write', '--no-progress']);
  const run = await runBenchmark(o);
  assert.equal(run.systems.length, 1);
  const measured = run.systems[0]!;
  assert.equal(measured.error, undefined);
  assert.equal(measured.storm.configured, 20);
  assert.equal(measured.storm.nacks, 0);
  assert.equal(measured.storm.closedStreams, 0);
  // Every proxy gets at least CDS, LDS and the named types it subscribes to.
  assert.ok(measured.storm.responses >= 20 * 4, `storm responses ${measured.storm.responses}`);
  const ep = measured.scenarios.find((s) => s.scenario === 'endpoint');
  assert.ok(ep !== undefined);
  assert.ok(ep.affected > 0, 'the endpoint change must affect some proxies');
  // The warm figures count the 5 warm changes only: not the cold one, not the 2 warm-up ones.
  assert.equal(ep.steps, 8);
  assert.equal(ep.warmupSteps, 2);
  assert.equal(ep.perChangeMs.count, 5);
  assert.equal(ep.affected % 5, 0);
  assert.equal(ep.cold?.affected, ep.affected / 5);
  assert.equal(ep.converged, ep.affected);
  assert.equal(ep.nacks, 0);
  assert.equal(ep.responsesToUnaffected, 0);
  assert.ok(ep.latencyMs.p99 > 0 && ep.latencyMs.p99 <= ep.latencyMs.max);
  assert.deepEqual(Object.keys(ep.responsesByType), ['EDS']);
});
}
