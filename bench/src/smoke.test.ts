/**
 * The harness end to end at a small size: Weft (and the floor) in its own process, 20 simulated proxies in a worker, the
 * connect storm and one endpoint change. Proves the harness measures what it says (every proxy configured,
 * every affected proxy converged, nothing sent to the others, no NACKs).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs, runBenchmark } from './run.js';

for (const system of ['weft', 'floor'] as const) {
test(`harness: 20 proxies, ${system}, one endpoint change: all converge with 0 NACKs`, { timeout: 60_000 }, async () => {
  const o = parseArgs(['--proxies', '20', '--services', '20', '--systems', system, '--scenarios', 'endpoint', '--repeats', '5', '--gap-ms', '50', '--idle-ms', '200', '--quiet-ms', '200', '--timeout-s', '20', '--no-write', '--no-progress']);
  const run = await runBenchmark(o);
  assert.equal(run.systems.length, 1);
  const weft = run.systems[0]!;
  assert.equal(weft.error, undefined);
  assert.equal(weft.storm.configured, 20);
  assert.equal(weft.storm.nacks, 0);
  assert.equal(weft.storm.closedStreams, 0);
  // Every proxy gets at least CDS, LDS and the named types it subscribes to.
  assert.ok(weft.storm.responses >= 20 * 4, `storm responses ${weft.storm.responses}`);
  const ep = weft.scenarios.find((s) => s.scenario === 'endpoint');
  assert.ok(ep !== undefined);
  assert.ok(ep.affected > 0, 'the endpoint change must affect some proxies');
  assert.equal(ep.converged, ep.affected);
  assert.equal(ep.nacks, 0);
  assert.equal(ep.responsesToUnaffected, 0);
  assert.ok(ep.latencyMs.p99 > 0 && ep.latencyMs.p99 <= ep.latencyMs.max);
  assert.deepEqual(Object.keys(ep.responsesByType), ['EDS']);
});
}
