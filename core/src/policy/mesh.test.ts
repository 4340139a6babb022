import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Catalog } from '../catalog/catalog.js';
import { Engine } from '../derive/engine.js';
import type { DerivationSpec } from '../derive/types.js';
import { parseManifests } from '../model/parse.js';
import type { ProxyIdentity } from '../xds/adapter.js';
import { allowedDestinations, apexSplit, calledServices, identitiesBehind, meshServices, meshSettings, proxyWorkload, retryFor, upstreamSetting } from './mesh.js';

const NS = (name: string, monitored = true): string =>
  `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n${monitored ? '  labels:\n    openservicemesh.io/monitored-by: osm\n' : ''}`;
const SVC = (ns: string, name: string, app: string): string =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: ${ns}\nspec:\n  selector:\n    app: ${app}\n  ports:\n    - name: http\n      port: 80\n`;
const POD = (ns: string, name: string, sa: string, app: string, uuid: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n  labels:\n    app: ${app}\n    osm-proxy-uuid: ${uuid}\nspec:\n  serviceAccountName: ${sa}\n  containers:\n    - name: app\n      image: x\nstatus:\n  podIP: 10.0.0.1\n`;
const TARGET = (name: string, dest: string, srcNs: string, src: string): string =>
  `apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\nmetadata:\n  name: ${name}\n  namespace: store\nspec:\n  destination:\n    kind: ServiceAccount\n    name: ${dest}\n    namespace: store\n  rules:\n    - kind: HTTPRouteGroup\n      name: all\n  sources:\n    - kind: ServiceAccount\n      name: ${src}\n      namespace: ${srcNs}\n`;
const SPLIT = (name: string, weights: readonly [string, number][], matches: readonly string[] = []): string =>
  `apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata:\n  name: ${name}\n  namespace: store\nspec:\n  service: bookstore\n${
    matches.length > 0 ? `  matches:\n${matches.map((m) => `    - kind: HTTPRouteGroup\n      name: ${m}\n`).join('')}` : ''
  }  backends:\n${weights.map(([s, w]) => `    - service: ${s}\n      weight: ${w}\n`).join('')}`;

const BASE = [
  NS('buyers'),
  NS('store'),
  NS('outside', false),
  SVC('store', 'bookstore', 'bookstore'),
  SVC('store', 'bookstore-v1', 'bookstore'),
  SVC('store', 'bookstore-v2', 'bookstore-v2'),
  SVC('store', 'warehouse', 'warehouse'),
  SVC('outside', 'legacy', 'legacy'),
  POD('buyers', 'bookbuyer-0', 'bookbuyer', 'bookbuyer', 'u-buyer'),
  POD('store', 'bookstore-0', 'bookstore', 'bookstore', 'u-store'),
  POD('store', 'bookstore-v2-0', 'bookstore-v2', 'bookstore-v2', 'u-store-v2'),
  POD('store', 'warehouse-0', 'warehouse', 'warehouse', 'u-warehouse'),
  TARGET('buyers-to-bookstore', 'bookstore', 'buyers', 'bookbuyer'),
];

function engineFor(docs: readonly string[]): Engine {
  const parsed = parseManifests(docs.join('---\n'), 'policy.yaml');
  assert.deepEqual(parsed.errors.map((e) => e.message), []);
  const catalog = new Catalog();
  catalog.apply({ events: parsed.resources.map((r, i) => ({ v: 1, offset: i, time: 0, source: 'test', op: 'upsert' as const, kind: r.kind, key: r.key, body: r.body })) });
  return new Engine(catalog);
}

const value = <T>(engine: Engine, spec: DerivationSpec<T>): T => engine.get(spec).value;

function proxy(uuid: string, namespace: string, serviceAccount: string): ProxyIdentity {
  return { uuid, kind: 'test', namespace, serviceAccount, trustDomain: 'cluster.local' };
}

describe('mesh policy derivations', () => {
  it('defaults to strict mode without a MeshConfig and follows one when present', () => {
    assert.deepEqual(value(engineFor(BASE), meshSettings), { permissive: false, egress: false, trustDomain: 'cluster.local' });
    const config = `apiVersion: config.openservicemesh.io/v1alpha2\nkind: MeshConfig\nmetadata:\n  name: osm-mesh-config\n  namespace: osm-system\nspec:\n  traffic:\n    enablePermissiveTrafficPolicyMode: true\n    enableEgress: true\n`;
    const settings = value(engineFor([...BASE, config]), meshSettings);
    assert.equal(settings.permissive, true);
    assert.equal(settings.egress, true);
  });

  it('lets a caller reach only what its TrafficTargets name, and everything in the mesh when permissive', () => {
    const strict = engineFor(BASE);
    assert.deepEqual(value(strict, allowedDestinations('buyers/bookbuyer')), ['store/bookstore']);
    assert.deepEqual(value(strict, allowedDestinations('store/warehouse')), []);
    // bookstore-v1 selects the same pods as bookstore, so it is in front of the same identity.
    assert.deepEqual(value(strict, calledServices('buyers/bookbuyer')), ['store/bookstore', 'store/bookstore-v1']);
    assert.deepEqual(value(strict, meshServices), ['store/bookstore', 'store/bookstore-v1', 'store/bookstore-v2', 'store/warehouse']);

    const config = `apiVersion: config.openservicemesh.io/v1alpha2\nkind: MeshConfig\nmetadata:\n  name: osm-mesh-config\n  namespace: osm-system\nspec:\n  traffic:\n    enablePermissiveTrafficPolicyMode: true\n`;
    const open = engineFor([...BASE, config]);
    assert.equal(value(open, allowedDestinations('store/warehouse')), null);
    assert.deepEqual(value(open, calledServices('store/warehouse')), value(open, meshServices));
    assert.ok(!value(open, meshServices).includes('outside/legacy'), 'a service outside the monitored namespaces is not a mesh service');
  });

  it('merges every split of an apex, adding up weights, and answers null without one', () => {
    const engine = engineFor([...BASE, SPLIT('a', [['bookstore-v1', 10], ['bookstore-v2', 30]], ['all']), SPLIT('b', [['bookstore-v2', 5]])]);
    assert.deepEqual(value(engine, apexSplit('store/bookstore')), {
      backends: [
        { service: 'store/bookstore-v1', weight: 10 },
        { service: 'store/bookstore-v2', weight: 35 },
      ],
      matches: ['store/all'],
      splits: ['store/a', 'store/b'],
    });
    assert.equal(value(engine, apexSplit('store/warehouse')), null);
  });

  it('names the identities behind a service and finds no UpstreamTrafficSetting or Retry where none exists', () => {
    const engine = engineFor(BASE);
    assert.deepEqual(value(engine, identitiesBehind('store/bookstore')), ['store/bookstore']);
    assert.deepEqual(value(engine, identitiesBehind('store/nothing')), []);
    assert.equal(value(engine, upstreamSetting('store/bookstore')), null);
    const retry = engine.get({ id: 'test/retry', compute: (r) => retryFor(r, 'buyers/bookbuyer', 'store/bookstore') });
    assert.equal(retry.value, null);
  });

  it('finds an UpstreamTrafficSetting by FQDN host in the service namespace only, and the first Retry towards a service', () => {
    const uts = (ns: string): string =>
      `apiVersion: policy.openservicemesh.io/v1alpha1\nkind: UpstreamTrafficSetting\nmetadata:\n  name: limits\n  namespace: ${ns}\nspec:\n  host: bookstore.store.svc.cluster.local\n  connectionSettings:\n    http:\n      maxRequests: 7\n`;
    const retry = (name: string, svc: string): string =>
      `apiVersion: policy.openservicemesh.io/v1alpha1\nkind: Retry\nmetadata:\n  name: ${name}\n  namespace: buyers\nspec:\n  source:\n    kind: ServiceAccount\n    name: bookbuyer\n    namespace: buyers\n  destinations:\n    - kind: Service\n      name: ${svc}\n      namespace: store\n  retryPolicy:\n    retryOn: 5xx\n    numRetries: 3\n`;
    const engine = engineFor([...BASE, uts('buyers'), uts('store'), retry('b-retry', 'bookstore'), retry('a-retry', 'warehouse')]);
    assert.equal(value(engine, upstreamSetting('store/bookstore'))?.meta.namespace, 'store');
    const found = engine.get({ id: 'test/retry-found', compute: (r) => retryFor(r, 'buyers/bookbuyer', 'store/bookstore')?.meta.name ?? null });
    assert.equal(found.value, 'b-retry');
  });

  it('finds the workload behind a proxy only when the certificate identity matches it', () => {
    const engine = engineFor(BASE);
    const found = engine.get({ id: 'test/pw-ok', compute: (r) => proxyWorkload(r, proxy('u-store', 'store', 'bookstore')) }).value;
    assert.equal(found.key, 'store/bookstore-0');
    assert.deepEqual(found.services, ['store/bookstore', 'store/bookstore-v1']);
    const forged = engine.get({ id: 'test/pw-forged', compute: (r) => proxyWorkload(r, proxy('u-store', 'store', 'warehouse')) }).value;
    assert.deepEqual(forged, { identity: 'store/warehouse', key: null, workload: null, services: [] });
  });

  it('is one shared derivation per id, whichever adapter asks', () => {
    const engine = engineFor(BASE);
    engine.get(calledServices('buyers/bookbuyer'));
    const before = engine.stats().derivations;
    engine.get(calledServices('buyers/bookbuyer'));
    engine.get(allowedDestinations('buyers/bookbuyer'));
    assert.equal(engine.stats().derivations, before);
  });
});
