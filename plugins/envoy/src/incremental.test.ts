/**
 * Work follows the change: in a mesh of 1,000 sidecars, a TrafficSplit weight change re-runs only the
 * outbound route derivation of the identity that calls the apex (and the cheap per-proxy sets holding it),
 * and changes the RDS set of exactly those proxies; an endpoint change re-runs only the affected load
 * assignment. Counts come from the engine's instrumentation; bytes are what a push would carry.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EncodedResource, ResourceSet, TrafficSplit, Endpoints } from '@weft/core';
import { ENVOY_TYPE_URLS } from './adapter.js';
import { apply, loadMesh, type Mesh } from './harness.js';

const CALLERS = 500;
const OTHERS = 500;

function uuid(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

function meshYaml(): string {
  const docs: string[] = [];
  for (const ns of ['buyers', 'others', 'store']) docs.push(`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n  labels:\n    openservicemesh.io/monitored-by: osm\n`);
  const service = (name: string, ip: string, selector: string): string =>
    `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: store\nspec:\n  clusterIP: ${ip}\n  selector:\n${selector}  ports:\n    - name: http\n      port: 14001\n      appProtocol: http\n`;
  docs.push(service('bookstore', '10.96.0.10', '    app: bookstore\n'));
  docs.push(service('bookstore-v1', '10.96.0.11', '    app: bookstore\n    version: v1\n'));
  docs.push(service('bookstore-v2', '10.96.0.12', '    app: bookstore\n    version: v2\n'));
  docs.push(service('warehouse', '10.96.0.20', '    app: warehouse\n'));
  const pod = (ns: string, name: string, sa: string, labels: string, ip: string, n: number): string =>
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n  labels:\n${labels}    osm-proxy-uuid: ${uuid(n)}\nspec:\n  serviceAccountName: ${sa}\n  containers:\n    - name: app\n      image: x\nstatus:\n  podIP: ${ip}\n`;
  docs.push(pod('store', 'bookstore-v1-0', 'bookstore', '    app: bookstore\n    version: v1\n', '10.244.2.11', 1));
  docs.push(pod('store', 'bookstore-v2-0', 'bookstore', '    app: bookstore\n    version: v2\n', '10.244.2.12', 2));
  docs.push(pod('store', 'warehouse-0', 'warehouse', '    app: warehouse\n', '10.244.2.20', 3));
  for (let i = 0; i < CALLERS; i++) docs.push(pod('buyers', `bookbuyer-${i}`, 'bookbuyer', '    app: bookbuyer\n', `10.245.${i >> 8}.${i & 255}`, 1000 + i));
  for (let i = 0; i < OTHERS; i++) docs.push(pod('others', `other-${i}`, 'other', '    app: other\n', `10.246.${i >> 8}.${i & 255}`, 2000 + i));
  const endpoints = (name: string, addrs: [string, string][]): string =>
    `apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: ${name}\n  namespace: store\nsubsets:\n  - addresses:\n${addrs
      .map(([ip, p]) => `      - ip: ${ip}\n        targetRef:\n          kind: Pod\n          name: ${p}\n          namespace: store\n`)
      .join('')}    ports:\n      - name: http\n        port: 14001\n`;
  docs.push(endpoints('bookstore', [['10.244.2.11', 'bookstore-v1-0'], ['10.244.2.12', 'bookstore-v2-0']]));
  docs.push(endpoints('bookstore-v1', [['10.244.2.11', 'bookstore-v1-0']]));
  docs.push(endpoints('bookstore-v2', [['10.244.2.12', 'bookstore-v2-0']]));
  docs.push(endpoints('warehouse', [['10.244.2.20', 'warehouse-0']]));
  docs.push(`apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata:\n  name: all\n  namespace: store\nspec:\n  matches:\n    - name: all\n      pathRegex: ".*"\n      methods: ["*"]\n`);
  const target = (name: string, dest: string, srcNs: string, src: string): string =>
    `apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\nmetadata:\n  name: ${name}\n  namespace: store\nspec:\n  destination:\n    kind: ServiceAccount\n    name: ${dest}\n    namespace: store\n  rules:\n    - kind: HTTPRouteGroup\n      name: all\n  sources:\n    - kind: ServiceAccount\n      name: ${src}\n      namespace: ${srcNs}\n`;
  docs.push(target('buyers-to-bookstore', 'bookstore', 'buyers', 'bookbuyer'));
  docs.push(target('others-to-warehouse', 'warehouse', 'others', 'other'));
  docs.push(`apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata:\n  name: bookstore-split\n  namespace: store\nspec:\n  service: bookstore\n  backends:\n    - service: bookstore-v1\n      weight: 50\n    - service: bookstore-v2\n      weight: 50\n`);
  return docs.join('---\n');
}

interface Snapshot {
  readonly hashes: Map<string, string>;
  readonly sets: Map<string, ResourceSet>;
}

function snapshot(mesh: Mesh): Snapshot {
  const hashes = new Map<string, string>();
  const sets = new Map<string, ResourceSet>();
  for (const p of mesh.proxies) {
    for (const t of ENVOY_TYPE_URLS) {
      const spec = mesh.adapter.resources(p, t);
      mesh.engine.retain(spec.id);
      const res = mesh.engine.get(spec);
      hashes.set(`${p.pod} ${t}`, res.hash);
      sets.set(`${p.pod} ${t}`, res.value);
    }
  }
  return { hashes, sets };
}

/** Proxies/types whose set changed, and the bytes of the changed resources a delta push would carry. */
function diff(before: Snapshot, after: Snapshot): { changed: string[]; bytes: number } {
  const changed: string[] = [];
  let bytes = 0;
  for (const [k, h] of after.hashes) {
    if (before.hashes.get(k) === h) continue;
    changed.push(k);
    const old = before.sets.get(k) ?? new Map<string, EncodedResource>();
    for (const [name, r] of after.sets.get(k) ?? new Map<string, EncodedResource>()) if (old.get(name)?.version !== r.version) bytes += r.any.length;
  }
  return { changed, bytes };
}

const RESOURCE = /^envoy\/(cluster|cluster-local|cluster-egress|cla|rds|listener|secret)\//;

describe('incremental behaviour (1,000 sidecars)', () => {
  const reruns: string[] = [];
  const started = process.hrtime.bigint();
  const mesh = loadMesh(meshYaml(), 'mesh.yaml', { onEvent: (e) => (e.type === 'recompute' || e.type === 'unchanged' ? reruns.push(e.id) : undefined) });
  assert.equal(mesh.proxies.length, CALLERS + OTHERS + 3);
  let current = snapshot(mesh);
  const initialMs = Number(process.hrtime.bigint() - started) / 1e6;

  it('shares derivations: one outbound route config per identity, not per proxy', () => {
    const stats = mesh.engine.stats();
    // 1,003 proxies x 5 types of roots plus one shape each; everything else is shared.
    assert.ok(stats.derivations < 1003 * 6 + 200, `too many derivations: ${stats.derivations}`);
    console.log(`# initial: ${stats.derivations} derivations, ${stats.computes} computes in ${initialMs.toFixed(0)} ms`);
  });

  it('a TrafficSplit weight change re-runs only the callers route derivation and changes only their RDS', () => {
    reruns.length = 0;
    const split = mesh.catalog.get('TrafficSplit', 'store/bookstore-split') as TrafficSplit;
    const t0 = process.hrtime.bigint();
    const invalidated = apply(mesh, [
      { op: 'upsert', kind: 'TrafficSplit', key: 'store/bookstore-split', body: { ...split, backends: [{ service: 'bookstore-v1', weight: 80 }, { service: 'bookstore-v2', weight: 20 }] } },
    ]);
    const next = snapshot(mesh);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const resourceReruns = reruns.filter((id) => RESOURCE.test(id));
    assert.deepEqual(resourceReruns, ['envoy/rds/outbound/14001@buyers/bookbuyer']);
    assert.ok(!reruns.some((id) => id.includes('others/other')), `re-ran something of the other identity: ${reruns.filter((id) => id.includes('others/other')).join(', ')}`);
    const { changed, bytes } = diff(current, next);
    assert.equal(changed.length, CALLERS);
    assert.ok(changed.every((k) => k.startsWith('bookbuyer-') && k.endsWith('RouteConfiguration')), changed.slice(0, 5).join(', '));
    console.log(`# split weight: ${invalidated.size} invalidated, ${reruns.length} re-runs (${resourceReruns.length} resource encodings), ${changed.length} proxies to push, ${bytes} bytes, ${ms.toFixed(1)} ms`);
    current = next;
  });

  it('an endpoint change re-runs only the affected load assignment', () => {
    reruns.length = 0;
    const ep = mesh.catalog.get('Endpoints', 'store/bookstore-v1') as Endpoints;
    const subset = ep.subsets[0];
    assert.ok(subset !== undefined);
    const moved: Endpoints = { ...ep, subsets: [{ ...subset, addresses: [{ ip: '10.244.2.99', workload: 'store/bookstore-v1-0' }] }] };
    const t0 = process.hrtime.bigint();
    apply(mesh, [{ op: 'upsert', kind: 'Endpoints', key: 'store/bookstore-v1', body: moved }]);
    const next = snapshot(mesh);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const resourceReruns = reruns.filter((id) => RESOURCE.test(id));
    assert.deepEqual(resourceReruns, ['envoy/cla/store/bookstore-v1|14001@buyers/bookbuyer']);
    const { changed, bytes } = diff(current, next);
    assert.equal(changed.length, CALLERS);
    assert.ok(changed.every((k) => k.startsWith('bookbuyer-') && k.endsWith('ClusterLoadAssignment')), changed.slice(0, 5).join(', '));
    const cla = [...(next.sets.get('bookbuyer-0 type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment') ?? new Map<string, EncodedResource>()).values()].find((r) => r.name === 'store/bookstore-v1|14001');
    assert.match(JSON.stringify(cla?.dump), /10\.244\.2\.99/);
    console.log(`# endpoint move: ${reruns.length} re-runs (${resourceReruns.length} resource encodings), ${changed.length} proxies to push, ${bytes} bytes, ${ms.toFixed(1)} ms`);
  });
});
