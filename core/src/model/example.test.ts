/** The example mesh in deploy/examples/bookstore loads cleanly and is internally consistent. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseManifests } from './parse.js';
import type { NormalizedResource } from './validate.js';
import type { ResourceKind, ResourceOf } from './types.js';

const DIR = resolve(__dirname, '../../../deploy/examples/bookstore');

function load(): { resources: NormalizedResource[]; errors: string[]; ignored: number } {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
  const resources: NormalizedResource[] = [];
  const errors: string[] = [];
  let ignored = 0;
  for (const f of files) {
    const r = parseManifests(readFileSync(join(DIR, f), 'utf8'), f);
    resources.push(...r.resources);
    errors.push(...r.errors.map((e) => e.message));
    ignored += r.ignored.length;
  }
  return { resources, errors, ignored };
}

function all<K extends ResourceKind>(resources: NormalizedResource[], kind: K): ResourceOf<K>[] {
  return resources.filter((r) => r.kind === kind).map((r) => r.body as ResourceOf<K>);
}

test('the bookstore example parses with zero errors and the expected counts', () => {
  const { resources, errors, ignored } = load();
  assert.deepEqual(errors, []);
  assert.equal(ignored, 0);
  const counts: Record<string, number> = {};
  for (const r of resources) counts[r.kind] = (counts[r.kind] ?? 0) + 1;
  assert.deepEqual(counts, {
    Namespace: 5,
    ServiceAccount: 5,
    Service: 7,
    Workload: 7,
    Endpoints: 7,
    TrafficTarget: 3,
    HTTPRouteGroup: 2,
    TCPRoute: 1,
    TrafficSplit: 1,
    Retry: 1,
    UpstreamTrafficSetting: 1,
    MeshConfig: 1,
  });
  const keys = resources.map((r) => `${r.kind} ${r.key}`);
  assert.equal(new Set(keys).size, keys.length, 'no resource is given twice across files');
});

test('the bookstore example is consistent: selectors, endpoints, identities, policy references', () => {
  const { resources } = load();
  const pods = all(resources, 'Workload');
  const services = all(resources, 'Service');
  const endpoints = all(resources, 'Endpoints');
  const accounts = new Set(all(resources, 'ServiceAccount').map((s) => `${s.meta.namespace}/${s.meta.name}`));
  const meshNamespaces = all(resources, 'Namespace')
    .filter((n) => n.monitoredBy === 'osm')
    .map((n) => n.meta.name)
    .sort();
  assert.deepEqual(meshNamespaces, ['bookbuyer', 'bookstore', 'bookthief', 'bookwarehouse']);

  const uuids = pods.map((p) => p.proxyUuid);
  assert.ok(uuids.every((u) => u !== null && /^[0-9a-f-]{36}$/.test(u)));
  assert.equal(new Set(uuids).size, pods.length, 'proxy uuids are unique');
  for (const p of pods) {
    assert.ok(p.ready, `${p.meta.name} ready`);
    assert.equal(p.ips.length, 1);
    assert.match(p.ips[0]!, /^10\.244\.\d+\.\d+$/);
    assert.ok(accounts.has(`${p.meta.namespace}/${p.serviceAccount}`), `${p.meta.name}'s service account exists`);
  }
  assert.equal(pods.filter((p) => p.meta.labels.app === 'bookstore' && p.meta.labels.version === 'v1').length, 2);

  for (const svc of services) {
    const selected = pods.filter(
      (p) =>
        p.meta.namespace === svc.meta.namespace &&
        Object.entries(svc.selector ?? {}).every(([k, v]) => p.meta.labels[k] === v),
    );
    assert.ok(selected.length >= 1, `${svc.meta.name} selects a pod`);
    const ep = endpoints.find((e) => e.meta.namespace === svc.meta.namespace && e.meta.name === svc.meta.name);
    assert.ok(ep, `${svc.meta.name} has endpoints`);
    const epIps = ep.subsets.flatMap((s) => s.addresses.map((a) => a.ip)).sort();
    assert.deepEqual(epIps, selected.flatMap((p) => p.ips).sort(), `${svc.meta.name} endpoints = selected pods`);
    const epWorkloads = ep.subsets.flatMap((s) => s.addresses.map((a) => a.workload)).sort();
    assert.deepEqual(epWorkloads, selected.map((p) => `${p.meta.namespace}/${p.meta.name}`).sort());
    const epPorts = ep.subsets.flatMap((s) => s.ports.map((p) => p.port));
    assert.deepEqual(epPorts, svc.ports.map((p) => p.targetPort));
  }
  const bookstorePorts = services.filter((s) => s.meta.namespace !== 'bookwarehouse' || s.meta.name !== 'mysql');
  for (const s of bookstorePorts) assert.deepEqual(s.ports.map((p) => [p.port, p.appProtocol]), [[14001, 'http']]);

  const groups = all(resources, 'HTTPRouteGroup');
  const tcpRoutes = all(resources, 'TCPRoute');
  for (const t of all(resources, 'TrafficTarget')) {
    for (const id of [t.destination, ...t.sources]) {
      assert.ok(accounts.has(`${id.namespace}/${id.name}`), `${t.meta.name}: ${id.namespace}/${id.name} exists`);
    }
    for (const rule of t.rules) {
      if (rule.kind === 'HTTPRouteGroup') {
        const g = groups.find((x) => x.meta.namespace === t.meta.namespace && x.meta.name === rule.name);
        assert.ok(g, `${t.meta.name}: route group ${rule.name} exists`);
        for (const m of rule.matches) assert.ok(g.matches.some((x) => x.name === m), `match ${m} exists`);
      } else {
        assert.ok(tcpRoutes.some((x) => x.meta.namespace === t.meta.namespace && x.meta.name === rule.name));
      }
    }
  }
  const booksBought = groups.flatMap((g) => g.matches).find((m) => m.name === 'books-bought');
  assert.deepEqual(booksBought?.headers, { 'client-app': 'bookbuyer', 'user-agent': '.*-http-client/*.*' });

  const [split] = all(resources, 'TrafficSplit');
  assert.equal(split?.service, 'bookstore');
  assert.deepEqual(split?.backends, [
    { service: 'bookstore-v1', weight: 50 },
    { service: 'bookstore-v2', weight: 50 },
  ]);
  for (const b of split?.backends ?? []) {
    assert.ok(services.some((s) => s.meta.namespace === 'bookstore' && s.meta.name === b.service));
  }

  const [mesh] = all(resources, 'MeshConfig');
  assert.equal(mesh?.meta.namespace, 'osm-system');
  assert.equal(mesh?.meta.name, 'osm-mesh-config');
  assert.equal(mesh?.traffic.enablePermissiveTrafficPolicyMode, false);
  assert.equal(mesh?.traffic.enableEgress, false);
  assert.equal(mesh?.certificate.serviceCertValidityMs, 24 * 3600 * 1000);
});
