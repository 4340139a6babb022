import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '@weft/core';
import { WATCHED_KINDS, type WatchedKind } from './kinds.js';
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
    });
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
          { kubeconfig: 'missing.yaml', name: 'kubernetes', watchTimeoutSeconds: 1, retryMs: 10, missingKindRetryMs: 100 },
          { logger: silentLogger, dataDir: '/nonexistent', configDir: '/nonexistent', trustDomain: 'cluster.local' },
        ),
      /kubeconfig: \/nonexistent\/missing\.yaml does not exist/,
    );
  });
});
