import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '@weft/core';
import { ENDPOINT_SLICES, WATCHED_KINDS, type WatchedKind } from './kinds.js';
import { ClusterState, diffHeld, idOfObject, normalizeObject, type Held } from './state.js';
import { plugin, validateKubernetesConfig } from './index.js';

const kind = (k: string): WatchedKind => WATCHED_KINDS.find((w) => w.kind === k)!;

// As the API lists them: no apiVersion/kind on items, server-set metadata, fields the model does not read.
const svcItem = (name: string, port: number, rv = '10'): object => ({
  metadata: { name, namespace: 'shop', uid: `uid-${name}`, resourceVersion: rv, managedFields: [] },
  spec: { clusterIP: '10.96.0.10', selector: { app: name }, ports: [{ name: 'http', port, protocol: 'TCP', targetPort: 8080 }] },
  status: { loadBalancer: {} },
});
const splitItem = (weight: unknown): object => ({
  apiVersion: 'split.smi-spec.io/v1alpha2',
  kind: 'TrafficSplit',
  metadata: { name: 'web-split', namespace: 'shop', resourceVersion: '42' },
  spec: { service: 'web', backends: [{ service: 'web-v1', weight }] },
});

describe('normalizeObject', () => {
  it('normalizes a list item through the model, filling in apiVersion and kind', () => {
    const n = normalizeObject(kind('Service'), svcItem('web', 80));
    assert.ok(n.ok);
    assert.equal(n.resource.kind, 'Service');
    assert.equal(n.resource.key, 'shop/web');
    assert.equal((n.resource.body as { ports: { port: number }[] }).ports[0]!.port, 80);
  });

  it('rejects an invalid object with the model rule, the object and its resourceVersion', () => {
    const n = normalizeObject(kind('TrafficSplit'), splitItem(-5));
    assert.equal(n.ok, false);
    if (n.ok) return;
    assert.equal(n.id, 'TrafficSplit/shop/web-split');
    assert.equal(n.error.code, 'KUBERNETES_OBJECT_INVALID');
    assert.match(
      n.error.message,
      /^TrafficSplit shop\/web-split \(resourceVersion 42\) rejected \(its last good version stays in force\): spec\.backends\[0\]\.weight: must be a non-negative integer/,
    );
  });

  it('names the id of a cluster-scoped object without a namespace', () => {
    assert.equal(idOfObject(kind('Namespace'), { metadata: { name: 'shop' } }), 'Namespace/shop');
  });
});

describe('ClusterState', () => {
  it('keeps the last good version of an object that turns invalid, and drops it when it is deleted', () => {
    const s = new ClusterState();
    s.upsert(kind('TrafficSplit'), splitItem(30));
    const bad = s.upsert(kind('TrafficSplit'), splitItem('heavy'));
    assert.equal(bad.rejected.length, 1);
    assert.deepEqual(bad.touched, []);
    assert.equal((s.desired.get('TrafficSplit/shop/web-split')!.body as { backends: { weight: number }[] }).backends[0]!.weight, 30);
    assert.deepEqual(s.remove(kind('TrafficSplit'), splitItem('heavy')).touched, ['TrafficSplit/shop/web-split']);
    assert.equal(s.desired.size, 0);
  });

  it('replaces one kind from a full list: gone ids go, invalid items keep what the log held', () => {
    const s = new ClusterState();
    s.upsert(kind('Service'), svcItem('web', 80));
    s.upsert(kind('Service'), svcItem('db', 5432));
    s.upsert(kind('TrafficSplit'), splitItem(30));
    const logHeld = new Map<string, Held>([...s.desired].filter(([id]) => id.startsWith('TrafficSplit/')));
    const fresh = new ClusterState();
    const a = fresh.replaceKind(kind('TrafficSplit'), [splitItem(-1)], logHeld);
    assert.equal(a.rejected.length, 1);
    assert.deepEqual([...fresh.desired.keys()], ['TrafficSplit/shop/web-split'], 'the last good version from the log stays');

    const r = s.replaceKind(kind('Service'), [svcItem('web', 81)]);
    assert.deepEqual([...r.touched].sort(), ['Service/shop/db', 'Service/shop/web']);
    assert.deepEqual([...s.desired.keys()].sort(), ['Service/shop/web', 'TrafficSplit/shop/web-split'], 'other kinds are untouched');
  });
});

describe('diffHeld', () => {
  const held = (key: string, port: number): Held => ({ kind: 'Service', key, body: { meta: { name: key }, ports: [{ port }] } });
  it('upserts what differs or is new, deletes what is gone, sorted by id, nothing for equal content', () => {
    const published = new Map([
      ['Service/shop/a', held('shop/a', 1)],
      ['Service/shop/b', held('shop/b', 2)],
      ['Service/shop/c', held('shop/c', 3)],
    ]);
    const desired = new Map([
      ['Service/shop/c', held('shop/c', 3)],
      ['Service/shop/b', held('shop/b', 20)],
      ['Service/shop/d', held('shop/d', 4)],
    ]);
    assert.deepEqual(
      diffHeld('k', published, desired).map((e) => `${e.op} ${e.key}`),
      ['delete shop/a', 'upsert shop/b', 'upsert shop/d'],
    );
    assert.deepEqual(diffHeld('k', published, desired, ['Service/shop/c']), []);
  });
});

describe('kubernetes plugin config', () => {
  it('fills defaults and rejects bad fields with their path', () => {
    assert.deepEqual(validateKubernetesConfig(undefined), {
      name: 'kubernetes',
      watchTimeoutSeconds: 300,
      retryMs: 1000,
      missingKindRetryMs: 30000,
      endpointSource: 'endpointslices',
    });
    assert.equal(validateKubernetesConfig({ endpointSource: 'endpoints' }).endpointSource, 'endpoints');
    assert.throws(() => validateKubernetesConfig({ endpointSource: 'slices' }), /endpointSource: must be endpointslices \(the default\) or endpoints/);
    assert.equal(validateKubernetesConfig({ kubeconfig: 'kc.yaml', context: 'dev' }).kubeconfig, 'kc.yaml');
    assert.throws(() => validateKubernetesConfig({ watchTimeoutSeconds: 0 }), /watchTimeoutSeconds: must be an integer from 1 to 3600/);
    assert.throws(() => validateKubernetesConfig({ namespace: 'x' }), /namespace: unknown field/);
    assert.throws(() => validateKubernetesConfig({ kubeconfig: '' }), /kubeconfig: must be the path of a kubeconfig file/);
    assert.throws(() => validateKubernetesConfig(['x']), /must be a mapping/);
  });

  it('refuses a kubeconfig that does not exist when registering', async () => {
    await assert.rejects(
      async () =>
        plugin.register(
          { register: () => undefined } as never,
          { kubeconfig: 'missing.yaml', name: 'kubernetes', watchTimeoutSeconds: 1, retryMs: 10, missingKindRetryMs: 100, endpointSource: 'endpointslices' },
          { logger: silentLogger, dataDir: '/nonexistent', configDir: '/nonexistent', trustDomain: 'cluster.local' },
        ),
      /kubeconfig: \/nonexistent\/missing\.yaml does not exist/,
    );
  });
});

describe('EndpointSlices merged into the Endpoints of their Service', () => {
  const slice = (name: string, service: string | undefined, extra: Record<string, unknown>): unknown => ({
    metadata: { namespace: 'shop', name, ...(service === undefined ? {} : { labels: { 'kubernetes.io/service-name': service } }) },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    ...extra,
  });
  const ep = (ip: string, conditions?: Record<string, boolean>): unknown => ({ addresses: [ip], ...(conditions === undefined ? {} : { conditions }), targetRef: { kind: 'Pod', name: `p-${ip}` } });
  const ips = (state: ClusterState): string[][] =>
    ((state.desired.get('Endpoints/shop/web')?.body as { subsets: { addresses: { ip: string }[] }[] } | undefined)?.subsets ?? []).map((s) => s.addresses.map((a) => a.ip));

  it('merges the slices of a Service, honours ready, drops draining endpoints and follows slices added, moved and removed', () => {
    const state = new ClusterState();
    const a = slice('web-a', 'web', { endpoints: [ep('10.0.0.2', { ready: true }), ep('10.0.0.1'), ep('10.0.0.9', { ready: false })] });
    assert.deepEqual(state.upsert(ENDPOINT_SLICES, a).touched, ['Endpoints/shop/web']);
    assert.deepEqual(ips(state), [['10.0.0.1', '10.0.0.2']], 'unset ready is ready; not ready is left out; sorted');
    // A second slice with the same ports joins the subset; a draining endpoint (serving, terminating) is left out.
    state.upsert(ENDPOINT_SLICES, slice('web-b', 'web', { endpoints: [ep('10.0.0.3'), ep('10.0.0.4', { ready: false, serving: true, terminating: true }), ep('10.0.0.1')] }));
    assert.deepEqual(ips(state), [['10.0.0.1', '10.0.0.2', '10.0.0.3']], 'an address in two slices counts once');
    // IPv6 slice with the same ports (dual-stack): same subset. Other ports: a subset of their own. FQDN: ignored.
    state.upsert(ENDPOINT_SLICES, slice('web-v6', 'web', { addressType: 'IPv6', endpoints: [ep('fd00::1')] }));
    state.upsert(ENDPOINT_SLICES, slice('web-grpc', 'web', { ports: [{ name: 'grpc', port: 9090, protocol: 'TCP', appProtocol: 'grpc' }], endpoints: [ep('10.0.1.1')] }));
    state.upsert(ENDPOINT_SLICES, slice('web-fqdn', 'web', { addressType: 'FQDN', endpoints: [ep('example.com')] }));
    const body = state.desired.get('Endpoints/shop/web')?.body as { subsets: { addresses: { ip: string; workload: string | null }[]; ports: unknown[] }[] };
    assert.deepEqual(ips(state), [['10.0.1.1'], ['10.0.0.1', '10.0.0.2', '10.0.0.3', 'fd00::1']]);
    assert.deepEqual(body.subsets[0]!.ports, [{ name: 'grpc', port: 9090, protocol: 'TCP', appProtocol: 'grpc' }]);
    assert.equal(body.subsets[1]!.addresses[0]!.workload, 'shop/p-10.0.0.1');
    // A slice without the service-name label belongs to no Service.
    assert.deepEqual(state.upsert(ENDPOINT_SLICES, slice('loose', undefined, { endpoints: [ep('10.9.9.9')] })).touched, []);
    // Deleting slices removes their endpoints; the last one removes the Endpoints resource.
    state.remove(ENDPOINT_SLICES, slice('web-grpc', 'web', {}));
    state.remove(ENDPOINT_SLICES, slice('web-v6', 'web', {}));
    state.remove(ENDPOINT_SLICES, slice('web-b', 'web', {}));
    state.remove(ENDPOINT_SLICES, slice('web-fqdn', 'web', {}));
    assert.deepEqual(ips(state), [['10.0.0.1', '10.0.0.2']]);
    // A slice relabelled to another Service moves its endpoints there.
    state.upsert(ENDPOINT_SLICES, slice('web-a', 'api', { endpoints: [ep('10.0.0.1')] }));
    assert.equal(state.desired.get('Endpoints/shop/web'), undefined);
    assert.ok(state.desired.get('Endpoints/shop/api'));
  });

  it('rejects a merge the model refuses, naming the slices, and keeps the last good Endpoints', () => {
    const state = new ClusterState();
    state.upsert(ENDPOINT_SLICES, slice('web-a', 'web', { endpoints: [ep('10.0.0.1')] }));
    const bad = state.upsert(ENDPOINT_SLICES, slice('web-a', 'web', { endpoints: [ep('10.0.0.300')] }));
    assert.equal(bad.rejected.length, 1);
    assert.match(bad.rejected[0]!.message, /^EndpointSlice shop\/web-a of Service web .*rejected \(its last good version stays in force\): subsets\[0\]\.addresses\[0\]\.ip/);
    assert.deepEqual(ips(state), [['10.0.0.1']]);
  });
});
