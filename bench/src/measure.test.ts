import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coldAndWarm, cpuPerChange, distribution, idleRate, idleRateOf, observeStep } from './measure.js';
import type { ResponseRow } from './sim/worker.js';

const row = (proxy: number, ackMicros: number, bytes = 100, nack = 0): ResponseRow => [proxy, 2, bytes, ackMicros, nack, 1, 'v'];

test('p99 of 100 repeated changes is a percentile, not the maximum of one event', () => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100 ms
  const d = distribution(v);
  assert.equal(d.p50, 50);
  assert.equal(d.p99, 99);
  assert.equal(d.max, 100);
  // With one change (the old harness), p99 was that change's value.
  assert.equal(distribution([42]).p99, 42);
  assert.ok(Number.isNaN(distribution([]).p50));
});

test('one change: each affected proxy is graded by its last ACK after the change; others count as unaffected', () => {
  const at = 1_000_000;
  const rows = [row(1, at + 2000), row(1, at + 5000), row(2, at + 3000), row(7, at + 1000), row(3, at - 10)];
  const ob = observeStep(at, rows, new Set([1, 2, 3]));
  assert.equal(ob.affected, 3);
  assert.deepEqual([...ob.latenciesMs].sort((a, b) => a - b), [3, 5]); // proxy 3 answered only before the change
  assert.equal(ob.finalMs, 5);
  assert.equal(ob.responsesToUnaffected, 1);
  assert.equal(ob.responses, 5);
  assert.equal(ob.bytes, 500);
  assert.equal(ob.lastAckMicros, at + 5000);
});

test('cold is the first change, warm pools every later (change, proxy) pair', () => {
  const steps = [0, 1, 2, 3].map((k) => observeStep(k * 1e6, [row(1, k * 1e6 + (k === 0 ? 40_000 : 1000 * k)), row(2, k * 1e6 + 2000)], new Set([1, 2])));
  const { cold, warm } = coldAndWarm(steps);
  assert.equal(cold!.changes, 1);
  assert.equal(cold!.latencyMs.max, 40);
  assert.equal(warm.changes, 3);
  assert.equal(warm.affected, 6);
  assert.equal(warm.converged, 6);
  assert.equal(warm.latencyMs.max, 3); // the cold 40 ms is not in the warm figures
  assert.deepEqual(warm.perChangeMs.count, 3);
});

test('warm-up changes after the cold one are in no warm figure', () => {
  // Change 1 and 2 are warm-up: slow (a JIT still compiling); 3 and 4 are warm.
  const lat = [40_000, 30_000, 20_000, 1000, 2000];
  const steps = lat.map((l, k) => observeStep(k * 1e6, [row(1, k * 1e6 + l, 100, k === 2 ? 1 : 0)], new Set([1])));
  const { cold, warmup, warm } = coldAndWarm(steps, 2);
  assert.equal(cold!.latencyMs.max, 40);
  assert.equal(warmup.changes, 2);
  assert.equal(warmup.latencyMs.max, 30);
  assert.equal(warmup.nacks, 1);
  assert.equal(warm.changes, 2);
  assert.equal(warm.affected, 2);
  assert.equal(warm.latencyMs.max, 2);
  assert.equal(warm.nacks, 0);
});

test('idle CPU is subtracted as rate x window, the same way for every system, never below zero', () => {
  const rate = idleRate(0, 20_000, 1000); // 20 ms of CPU per second idle: 2%
  assert.equal(rate, 0.02);
  // 10 changes over 2 s used 140 ms of CPU; 40 ms of it is idle work.
  assert.ok(Math.abs(cpuPerChange(140_000, 2_000_000, rate, 10) - 0.01) < 1e-12);
  assert.ok(Math.abs(cpuPerChange(140_000, 2_000_000, 0, 10) - 0.014) < 1e-12);
  assert.equal(cpuPerChange(10_000, 2_000_000, rate, 1), 0);
  assert.ok(Number.isNaN(cpuPerChange(1, 1, rate, 0)));
});

test('the idle rate is the median over sub-windows: a one-off burst in the window is not taken for a rate', () => {
  // Readings every 500 ms; 10 ms of CPU per window (2%), but one window holds a 300 ms collection.
  const at = [0, 500, 1000, 1500, 2000, 2500, 3000];
  const steady = at.map((ms, i) => ({ ms, cpuMicros: i * 10_000 }));
  assert.ok(Math.abs(idleRateOf(steady) - 0.02) < 1e-12);
  const burst = steady.map((r, i) => ({ ms: r.ms, cpuMicros: r.cpuMicros + (i >= 3 ? 300_000 : 0) }));
  // Over the whole window the burst would read as 12% idle and be subtracted from every second of the scenario.
  assert.ok(Math.abs(idleRate(burst[0]!.cpuMicros, burst[6]!.cpuMicros, 3000) - 0.12) < 1e-12);
  assert.ok(Math.abs(idleRateOf(burst) - 0.02) < 1e-12);
  // Uneven windows are weighed by their own length; a single window is its own rate; fewer than two readings: none.
  assert.ok(Math.abs(idleRateOf([{ ms: 0, cpuMicros: 0 }, { ms: 250, cpuMicros: 5_000 }]) - 0.02) < 1e-12);
  assert.ok(Number.isNaN(idleRateOf([{ ms: 0, cpuMicros: 0 }])));
  // An even number of windows: the mean of the middle two.
  assert.ok(Math.abs(idleRateOf([0, 1, 2, 3, 4].map((i) => ({ ms: i * 100, cpuMicros: [0, 1_000, 3_000, 6_000, 10_000][i]! }))) - 0.025) < 1e-12);
});
