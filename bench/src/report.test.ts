import assert from 'node:assert/strict';
import { test } from 'node:test';
import { distribution } from './measure.js';
import { floorNote, targets } from './report.js';
import type { RunResult, ScenarioResult, StormResult, SystemName, SystemResult } from './run.js';

const storm = (seconds: number): StormResult => ({
  proxies: 10,
  configured: 10,
  seconds,
  responses: 50,
  bytes: 1000,
  nacks: 0,
  serverCpuSeconds: 1,
  readySeconds: 1,
  serverRssBytes: 2 ** 20,
  readyRssBytes: 2 ** 19,
  rssPerProxyBytes: 1024,
  closedStreams: 0,
});

const endpoint = (p99Ms: number, cpuMs: number): ScenarioResult => ({
  scenario: 'endpoint',
  description: 'one endpoint moves',
  drive: 'repeat',
  applies: true,
  steps: 101,
  idleCpu: 0,
  affected: 100,
  converged: 100,
  latencyMs: distribution(Array.from({ length: 100 }, () => p99Ms)),
  perChangeMs: distribution([p99Ms]),
  finalConvergenceMs: p99Ms,
  responses: 100,
  responsesByType: {},
  responsesToUnaffected: 0,
  bytes: 1000,
  nacks: 0,
  cpuSecondsPerChange: cpuMs / 1000,
  cpuSecondsPerChangeRaw: cpuMs / 1000,
});

const system = (name: SystemName, stormSeconds: number, p99Ms: number, cpuMs: number): SystemResult => ({
  system: name,
  label: name,
  storm: storm(stormSeconds),
  idleCpu: 0,
  scenarios: [endpoint(p99Ms, cpuMs)],
});

const run = (systems: readonly SystemResult[]): RunResult =>
  ({
    date: '2026-12-07',
    machine: { cpus: 2, memoryGiB: 24, node: 'v20', platform: 'linux', loadAverage: [1, 1, 1] },
    options: { proxies: 10, mode: 'delta', systems: systems.map((s) => s.system), scenarios: ['endpoint'] },
    mesh: { services: 10, podsPerService: 1, proxies: 10, resources: 40 },
    systems,
  }) as unknown as RunResult;

test('a target the floor itself misses is marked out of reach; one it meets is within reach', () => {
  // p99: Weft 12, floor 6, gcp 5 (the floor misses it); CPU: Weft 4, floor 2, gcp 3 (the floor meets it).
  const lines = targets(run([system('weft', 30, 12, 4), system('floor', 25, 6, 2), system('gcp', 20, 5, 3)]));
  const p99 = lines.find((l) => l.includes('Weft p99 <= go-control-plane'))!;
  assert.match(p99, /NOT met \(the floor: 6\.0 ms, 1\.20x; the floor misses it too/);
  const cpu = lines.find((l) => l.includes('Weft CPU per change'))!;
  assert.match(cpu, /NOT met \(the floor: 2\.00 ms, 0\.67x; within reach\)/);
  const stormLine = lines.find((l) => l.startsWith('connect storm'))!;
  assert.match(stormLine, /30\.00 vs 20\.00 s \(1\.50x\): NOT met \(the floor: 25\.00 s, 1\.25x; the floor misses it too/);
});

test('without a floor in the run the verdicts stand alone', () => {
  const lines = targets(run([system('weft', 10, 4, 2), system('gcp', 20, 5, 3)]));
  const p99 = lines.find((l) => l.includes('Weft p99 <= go-control-plane'))!;
  assert.ok(p99.endsWith(': met'), p99);
  assert.equal(floorNote(undefined, 5, 'ms'), '');
  assert.equal(floorNote(Number.NaN, 5, 'ms'), '');
});
