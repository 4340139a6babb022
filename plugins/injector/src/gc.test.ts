/**
 * The Secret collector against a recording fake of the Kubernetes API: which Secrets a sweep deletes, what a
 * pod deletion seen on the watch deletes, the watch's resume and relist, and failures logged, not thrown.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { captureLogger, MONITORED_BY_LABEL, PROXY_UUID_LABEL } from '@weft/core';
import { validateInjectorConfig } from './config.js';
import { injectorSecretUuid, SecretCollector } from './gc.js';
import { KubernetesApiError } from '@weft/kube-client';
import { type InjectorKube, type MetadataCollection, type ObjectMetadata, type WatchEvent } from './cluster.js';

const MESH = 'osm';
const NOW = Date.parse('2026-01-01T12:00:00Z');
const GRACE = 60_000;
let uids = 0;

function obj(namespace: string, name: string, labels: Record<string, string>, ageMs = 10 * GRACE): ObjectMetadata {
  return { namespace, name, uid: `uid-${++uids}`, resourceVersion: String(uids), creationTimestamp: new Date(NOW - ageMs).toISOString(), labels };
}
const ours = (namespace: string, uuid: string, ageMs?: number): ObjectMetadata =>
  obj(namespace, `envoy-bootstrap-config-${uuid}`, { [PROXY_UUID_LABEL]: uuid, [MONITORED_BY_LABEL]: MESH }, ageMs);
const pod = (namespace: string, name: string, uuid: string): ObjectMetadata => obj(namespace, name, { [PROXY_UUID_LABEL]: uuid });

interface Watch {
  readonly resourceVersion: string;
  readonly onEvent: (e: WatchEvent) => void;
  readonly onDone: (err?: KubernetesApiError) => void;
  stopped: boolean;
}

/** The API: pods and Secrets in memory, label selectors of the forms the collector sends. */
class FakeKube implements Pick<InjectorKube, 'listMetadata' | 'watchPods' | 'deleteSecret'> {
  pods: ObjectMetadata[] = [];
  secrets: ObjectMetadata[] = [];
  readonly deleted: string[] = [];
  readonly watches: Watch[] = [];
  failDeletes = 0;
  failLists = 0;

  async listMetadata(collection: MetadataCollection, labelSelector: string): Promise<{ items: ObjectMetadata[]; resourceVersion: string }> {
    if (this.failLists > 0) {
      this.failLists--;
      throw new KubernetesApiError(`GET /api/v1/${collection}: HTTP 403: forbidden`, 403);
    }
    const terms = labelSelector.split(',').map((t) => t.split('=') as [string, string?]);
    const items = (collection === 'pods' ? this.pods : this.secrets).filter((o) => terms.every(([k, v]) => (v === undefined ? k in o.labels : o.labels[k] === v)));
    return { items, resourceVersion: String(++uids) };
  }

  watchPods(_selector: string, resourceVersion: string, _timeout: number, onEvent: (e: WatchEvent) => void, onDone: (err?: KubernetesApiError) => void): { stop(): void } {
    const w: Watch = { resourceVersion, onEvent, onDone, stopped: false };
    this.watches.push(w);
    return { stop: () => void (w.stopped = true) };
  }

  async deleteSecret(namespace: string, name: string, uid: string): Promise<boolean> {
    if (this.failDeletes > 0) {
      this.failDeletes--;
      throw new KubernetesApiError(`DELETE .../secrets/${name}: HTTP 500: etcd unavailable`, 500);
    }
    const before = this.secrets.length;
    this.secrets = this.secrets.filter((s) => !(s.namespace === namespace && s.name === name && s.uid === uid));
    this.deleted.push(`${namespace}/${name}`);
    return this.secrets.length < before;
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function collector(kube: FakeKube, logger = captureLogger('debug')): SecretCollector {
  return new SecretCollector({ kube, meshName: MESH, sweepMs: 3_600_000, graceMs: GRACE, logger, retryMs: 10, now: () => NOW });
}

describe('config of the Secret collection', () => {
  it('defaults to a 10 minute sweep and a 5 minute grace period, and names a bad field', () => {
    const c = validateInjectorConfig({});
    assert.equal(c.secretSweepMs, 600_000);
    assert.equal(c.secretGraceMs, 300_000);
    assert.equal(validateInjectorConfig({ secretSweepMs: 5_000, secretGraceMs: 2_000, timeoutSeconds: 2 }).secretGraceMs, 2_000);
    assert.throws(() => validateInjectorConfig({ secretSweepMs: 10 }), /secretSweepMs.*integer from 1000/);
    assert.throws(() => validateInjectorConfig({ secretSweepMs: '10m' }), /secretSweepMs/);
    assert.throws(() => validateInjectorConfig({ secretGraceMs: -1 }), /secretGraceMs/);
    assert.throws(() => validateInjectorConfig({ secretGraceMs: 5_000 }), /secretGraceMs.*at least timeoutSeconds \(10 s/);
  });
});

describe('SecretCollector', () => {
  it("tells the injector's Secrets by both labels and the name it gives them", () => {
    assert.equal(injectorSecretUuid(ours('a', 'u1'), MESH), 'u1');
    assert.equal(injectorSecretUuid(ours('a', 'u1'), 'other'), undefined, 'another mesh');
    assert.equal(injectorSecretUuid(obj('a', 'envoy-bootstrap-config-u1', { [PROXY_UUID_LABEL]: 'u1' }), MESH), undefined, 'no mesh label');
    assert.equal(injectorSecretUuid(obj('a', 'creds', { [PROXY_UUID_LABEL]: 'u1', [MONITORED_BY_LABEL]: MESH }), MESH), undefined, 'another name');
    assert.equal(injectorSecretUuid(obj('a', 'envoy-bootstrap-config-u2', { [PROXY_UUID_LABEL]: 'u1', [MONITORED_BY_LABEL]: MESH }), MESH), undefined, 'name of another uuid');
  });

  it('sweeps orphans older than the grace period only, keeps Secrets of existing pods and young ones, never touches others', async () => {
    const kube = new FakeKube();
    kube.pods = [pod('a', 'web-1', 'alive'), pod('b', 'web-2', 'elsewhere')];
    const untouched = [
      ours('a', 'young', GRACE - 1_000),
      ours('a', 'alive'),
      obj('a', 'envoy-bootstrap-config-x', {}),
      obj('a', 'creds', { [PROXY_UUID_LABEL]: 'x', [MONITORED_BY_LABEL]: MESH }),
      obj('a', 'envoy-bootstrap-config-y', { [PROXY_UUID_LABEL]: 'y', [MONITORED_BY_LABEL]: 'other-mesh' }),
    ];
    // The pod with uuid "elsewhere" is in namespace b: the Secret in namespace a is an orphan.
    kube.secrets = [...untouched, ours('a', 'old'), ours('a', 'elsewhere')];
    const c = collector(kube);
    const result = await c.sweep();
    assert.deepEqual([...result.deleted].sort(), ['a/envoy-bootstrap-config-elsewhere', 'a/envoy-bootstrap-config-old']);
    assert.equal(result.kept, 2);
    assert.equal(result.failed, 0);
    assert.deepEqual(kube.secrets, untouched);
  });

  it('logs a failed deletion with the Secret and the reason, never throws, and the next sweep retries', async () => {
    const kube = new FakeKube();
    kube.secrets = [ours('a', 'old')];
    const logger = captureLogger('debug');
    const c = collector(kube, logger);
    kube.failDeletes = 1;
    const first = await c.sweep();
    assert.deepEqual(first, { deleted: [], kept: 0, failed: 1 });
    const err = logger.records.find((r) => r.level === 'error');
    assert.equal(err?.['secret'], 'envoy-bootstrap-config-old');
    assert.equal(err?.['namespace'], 'a');
    assert.match(String(err?.['error']), /etcd unavailable/);
    kube.failLists = 1;
    assert.equal((await c.sweep()).failed, 1, 'a failed list is counted, not thrown');
    const second = await c.sweep();
    assert.deepEqual(second.deleted, ['a/envoy-bootstrap-config-old']);
    const info = logger.records.find((r) => r.msg === 'proxy bootstrap Secret deleted');
    assert.deepEqual(Object.keys(info ?? {}).filter((k) => !['level', 'msg', 'time'].includes(k)).sort(), ['namespace', 'reason', 'secret', 'uuid']);
  });

  it("deletes a pod's Secret when the watch sees it deleted, unless a pod of that namespace still has the uuid", async () => {
    const kube = new FakeKube();
    const p1 = pod('a', 'web-1', 'u1');
    const p2 = pod('a', 'web-2', 'u2');
    kube.pods = [p1, p2];
    kube.secrets = [ours('a', 'u1', 0), ours('a', 'u2', 0), obj('a', 'creds', { [PROXY_UUID_LABEL]: 'u1', [MONITORED_BY_LABEL]: MESH })];
    const c = collector(kube);
    c.start();
    try {
      await until(() => kube.watches.length === 1, 'the watch');
      const w = kube.watches[0]!;
      w.onEvent({ type: 'ADDED', object: p1 });
      kube.pods = [p2];
      w.onEvent({ type: 'DELETED', object: { ...p1, resourceVersion: '900' } });
      await until(() => kube.deleted.includes('a/envoy-bootstrap-config-u1'), 'the deletion of the Secret of u1');
      assert.deepEqual(kube.secrets.map((s) => s.name).sort(), ['creds', 'envoy-bootstrap-config-u2'], 'young (grace does not apply to a deleted pod), but deleted');
      // A DELETED for a pod whose uuid another pod of the namespace still has deletes nothing.
      kube.pods = [p2, pod('a', 'web-2b', 'u2')];
      w.onEvent({ type: 'DELETED', object: p2 });
      await new Promise((r) => setTimeout(r, 30));
      assert.ok(kube.secrets.some((s) => s.name === 'envoy-bootstrap-config-u2'));
      // The server ends the watch: it resumes from the last resourceVersion it saw.
      w.onDone();
      await until(() => kube.watches.length === 2, 'the resumed watch');
      assert.equal(kube.watches[1]!.resourceVersion, p2.resourceVersion);
    } finally {
      await c.stop();
    }
    assert.ok(kube.watches.at(-1)!.stopped, 'stop ends the running watch');
  });

  it('relists on 410 and deletes the Secrets of pods that went while no watch ran; retries a failed list', async () => {
    const kube = new FakeKube();
    kube.pods = [pod('a', 'web-1', 'u1'), pod('a', 'web-2', 'u2')];
    kube.secrets = [ours('a', 'u1', 0), ours('a', 'u2', 0)];
    const logger = captureLogger('debug');
    const c = collector(kube, logger);
    c.start();
    try {
      await until(() => kube.watches.length === 1, 'the watch');
      kube.pods = [pod('a', 'web-2', 'u2')];
      kube.failLists = 1;
      kube.watches[0]!.onDone(new KubernetesApiError('too old resource version', 410));
      await until(() => kube.watches.length === 2, 'the watch after the relist');
      await until(() => kube.deleted.includes('a/envoy-bootstrap-config-u1'), 'the Secret of the pod gone during the gap');
      assert.deepEqual(kube.secrets.map((s) => s.name), ['envoy-bootstrap-config-u2']);
      assert.ok(logger.records.some((r) => r.level === 'error' && r.msg.startsWith('listing injected pods failed')), 'the failed relist is logged');
      // Another watch failure: resumed after retryMs, from where it was.
      kube.watches[1]!.onDone(new KubernetesApiError('connection reset', null));
      await until(() => kube.watches.length === 3, 'the watch resumed after a failure');
    } finally {
      await c.stop();
    }
  });
});
