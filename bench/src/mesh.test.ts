import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDump, dumpMismatches } from './dump.js';
import { buildScenarios, callersOf, generateMesh, proxiesOf, resolveMeshOptions, SCENARIOS, type Scenario } from './mesh.js';

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

test('single-change scenarios repeat: 1 cold + 100 warm changes by default, each a real change', () => {
  const mesh = generateMesh({ services: 50, proxies: 50 });
  const sc = buildScenarios(mesh);
  for (const s of sc) {
    if (s.name === 'burst') {
      assert.equal(s.drive, 'burst');
      continue;
    }
    assert.equal(s.drive, 'repeat');
    assert.equal(s.steps.length, 101, s.name);
    assert.equal(s.expected.length, 101, s.name);
    // Consecutive steps differ (a repeat of the same bytes would change nothing).
    for (let k = 1; k < s.steps.length; k++) assert.notDeepEqual(s.steps[k], s.steps[k - 1], `${s.name} step ${k}`);
  }
  assert.equal(buildScenarios(mesh, ['endpoint'], { repeats: 3 })[0]!.steps.length, 4);
  assert.throws(() => buildScenarios(mesh, ['endpoint'], { repeats: -1 }), /repeats/);
});

test('the expectation comes from the mesh: callers of the moved service, the targets of the policy', () => {
  const mesh = generateMesh({ services: 40, proxies: 120 }); // every pod has a proxy
  const [ep, pol] = buildScenarios(mesh, ['endpoint', 'policy'], { repeats: 1 }) as [Scenario, Scenario];
  const svc = ep.description.split(' ')[3]!;
  assert.deepEqual(ep.expected[0], callersOf(mesh, svc));
  assert.equal(ep.expected[0]!.size, mesh.callers.get(svc)!.length * mesh.podsPerService);
  assert.deepEqual(pol.expected[1], proxiesOf(mesh, [mesh.services[0]!]));
});

test("Weft's dump changes exactly the proxies the mesh expects, in every scenario and step (small N)", { timeout: 120_000 }, async () => {
  const mesh = generateMesh({ services: 40, proxies: 80 });
  const sc = buildScenarios(mesh, SCENARIOS, { repeats: 2 });
  const dump = await buildDump(mesh, sc);
  assert.deepEqual(dumpMismatches(dump, sc), []);
  // And the check can fail: an expectation that leaves out one proxy (or names another) is reported.
  const [first] = sc[0]!.expected[0]!;
  const wrong = sc.map((s, i) => (i === 0 ? { ...s, expected: s.expected.map((e, k) => (k === 0 ? new Set([...e].filter((n) => n !== first)) : e)) } : s));
  const bad = dumpMismatches(dump, wrong);
  assert.equal(bad.length, 1);
  assert.match(bad[0]!, /endpoint step 0: .* not expected: 1/);
});

test('bad mesh options are refused with the option named', () => {
  assert.throws(() => resolveMeshOptions({ services: 5, calls: 5 }), /calls \(5\) must be below services \(5\)/);
  assert.throws(() => resolveMeshOptions({ proxies: 0 }), /proxies must be an integer >= 1/);
});
