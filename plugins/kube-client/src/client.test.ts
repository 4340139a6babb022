/**
 * The shared client against the real kube-apiserver (deploy/kubernetes/start.sh): metadata-only lists and
 * informers (a Secret's data never arrives), paged lists, typed errors. Without an apiserver the tests are
 * skipped with the reason, except under CI=true, where that fails them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { connectKubernetes, isRetriableStatus, KubernetesApiError, toKubernetesApiError, type KubeObject } from './index.js';
import { Admin, findApiServer, type ApiServerLookup } from './testing.js';

const lookup: Promise<ApiServerLookup> = findApiServer();
after(async () => {
  await (await lookup).stop?.();
});

describe('typed errors', () => {
  it('names the request, keeps the status and the retry rule', () => {
    const e = toKubernetesApiError('GET https://k/api/v1/pods', { code: 403, body: JSON.stringify({ kind: 'Status', message: 'pods is forbidden' }) });
    assert.ok(e instanceof KubernetesApiError);
    assert.equal(e.message, 'GET https://k/api/v1/pods: HTTP 403: pods is forbidden');
    assert.equal(e.code, 'KUBERNETES_API_FAILED');
    assert.equal(e.status, 403);
    assert.equal(e.statusCode, 403, 'what client-node ListWatch looks at for 410');
    assert.equal(e.retriable, false);
    assert.equal(toKubernetesApiError('watch', new Error('socket hang up')).retriable, true);
    assert.deepEqual([500, 503, 408, 429, 400, 404, 410].map((s) => isRetriableStatus(s)), [true, true, true, true, false, false, false]);
  });
});

describe('kube-client against kube-apiserver', async () => {
  const found = await lookup;
  if (found.kubeconfig === null) {
    it('needs a kube-apiserver', (t) => {
      if (process.env['CI'] === 'true') throw new Error(`CI=true and ${found.reason}`);
      t.skip(found.reason);
    });
    return;
  }
  const admin = await Admin.open(found.kubeconfig);
  const client = await connectKubernetes({ kubeconfig: found.kubeconfig });
  const ns = `weft-kc-${randomBytes(3).toString('hex')}`;
  const label = `weft-kc-test-${ns}`;
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const secret = (name: string): object => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, labels: { [label]: 'yes' } }, stringData: { key: 'do-not-read' } });

  it('lists Secrets metadata only, across pages, and informs of them without their data', async () => {
    for (let i = 0; i < 3; i++) await admin.create(`/api/v1/namespaces/${ns}/secrets`, secret(`s-${i}`));
    const list = await client.list({ group: '', version: 'v1', plural: 'secrets' }, { labelSelector: label, metadataOnly: true });
    assert.deepEqual(list.items.map((s) => s.metadata?.name).sort(), ['s-0', 's-1', 's-2']);
    assert.ok(list.items.every((s) => s['data'] === undefined && s['stringData'] === undefined), 'no Secret data in a metadata-only list');
    assert.ok(list.items.every((s) => s.metadata?.labels?.[label] === 'yes'));
    assert.match(list.resourceVersion, /^\d+$/);
    const full = await client.list({ group: '', version: 'v1', plural: 'secrets' }, { labelSelector: label });
    assert.ok(full.items.every((s) => typeof (s['data'] as Record<string, string> | undefined)?.['key'] === 'string'), 'the same list without metadataOnly has the data: the test can fail');

    const seen: KubeObject[] = [];
    const informer = client.informer(
      { group: '', version: 'v1', plural: 'secrets' },
      { labelSelector: label, metadataOnly: true, watchTimeoutSeconds: 30, retryMs: 100 },
      { add: (o) => seen.push(o), update: (o) => seen.push(o), delete: () => undefined },
    );
    await informer.start();
    try {
      await admin.create(`/api/v1/namespaces/${ns}/secrets`, secret('s-watched'));
      const deadline = Date.now() + 10_000;
      while (!seen.some((o) => o.metadata?.name === 's-watched')) {
        if (Date.now() > deadline) assert.fail('the informer never saw the new Secret');
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(seen.length, 4, 'three listed, one watched');
      assert.ok(seen.every((s) => s['data'] === undefined), 'no Secret data through the informer');
      assert.ok(seen.every((s) => (s.metadata as Record<string, unknown>)['managedFields'] === undefined), 'managedFields dropped');
    } finally {
      await informer.stop();
    }
  });

  it('rejects the first list of a collection the API does not serve, with the status', async () => {
    const informer = client.informer({ group: 'example.invalid', version: 'v1', plural: 'nothings' }, { watchTimeoutSeconds: 30, retryMs: 100 }, { add: () => undefined, update: () => undefined, delete: () => undefined });
    await assert.rejects(informer.start(), (err: KubernetesApiError) => err.status === 404 && /nothings: HTTP 404/.test(err.message));
  });
});
