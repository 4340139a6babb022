import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildScenarios, generateMesh, resolveMeshOptions, SCENARIOS } from './mesh.js';

test('the mesh is deterministic from its seed and covers every proxy with a pod', () => {
  const a = generateMesh({ services: 30, proxies: 100, seed: 7 });
  const b = generateMesh({ services: 30, proxies: 100, seed: 7 });
  const c = generateMesh({ services: 30, proxies: 100, seed: 8 });
  assert.deepEqual(a.initial, b.initial);
  assert.notDeepEqual([...a.callers], [...c.callers]);
  assert.equal(a.podsPerService, 4); // ceil(100 / 30) > the default 3
  assert.equal(a.proxies.length, 100);
  assert.equal(new Set(a.proxies.map((p) => p.uuid)).size, 100);
  // Each service calls exactly `calls` others.
  const calls = new Map<string, number>();
  for (const from of a.callers.values()) for (const s of from) calls.set(s, (calls.get(s) ?? 0) + 1);
  assert.ok([...calls.values()].every((n) => n === 5));
  assert.equal(a.initial.filter((e) => e.kind === 'Workload').length, 30 * 4);
});

test('scenarios: the policy change targets 1% of the services', () => {
  const mesh = generateMesh({ services: 200, proxies: 200 });
  const sc = buildScenarios(mesh);
  assert.deepEqual(sc.map((s) => s.name), [...SCENARIOS]);
  const policy = sc.find((s) => s.name === 'policy')!;
  assert.equal(policy.expectedNodes?.size, 2);
  assert.equal(sc.find((s) => s.name === 'burst')!.steps.length, 100);
});

test('bad mesh options are refused with the option named', () => {
  assert.throws(() => resolveMeshOptions({ services: 5, calls: 5 }), /calls \(5\) must be below services \(5\)/);
  assert.throws(() => resolveMeshOptions({ proxies: 0 }), /proxies must be an integer >= 1/);
});
