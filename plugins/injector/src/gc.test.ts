/**
 * The Secret collector on the real client (ClusterKube over @weft/kube-client: client-node's typed APIs and
 * its ListWatch informer) against a fake Kubernetes API server over HTTP, so that what is tested is the
 * informer as it runs: which Secrets a sweep deletes, what a pod deletion seen on the watch deletes, a watch
 * the server ends resumed from the last resourceVersion (bookmarks too), a broken watch resumed after
 * retryMs, a 410 Gone (an ERROR event, as the apiserver sends it, and an HTTP 410) answered by a list whose
 * missing pods are collected, failed lists and deletes logged, never thrown, and metadata-only requests.
 * The same collector against the real kube-apiserver is in webhook.test.ts (its watch of pods is served from
 * the apiserver's watch cache, which an etcd compaction does not expire: the 410 is produced here).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { captureLogger, MONITORED_BY_LABEL, PROXY_UUID_LABEL } from '@weft/core';
import { METADATA_LIST_ACCEPT, METADATA_WATCH_ACCEPT } from '@weft/kube-client';
import { connectInjectorKube, type InjectorKube, type PodInformer } from './cluster.js';
import { validateInjectorConfig } from './config.js';
import { injectorSecretUuid, SecretCollector } from './gc.js';

const MESH = 'osm';
const NOW = Date.parse('2026-01-01T12:00:00Z');
const GRACE = 60_000;
let uids = 0;

interface Meta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  labels: Record<string, string>;
}

/** Metadata of a test object; the fake server gives it its resourceVersion. */
function obj(namespace: string, name: string, labels: Record<string, string>, ageMs = 10 * GRACE): Meta {
  return { namespace, name, uid: `uid-${++uids}`, resourceVersion: '', creationTimestamp: new Date(NOW - ageMs).toISOString(), labels };
}
const ours = (namespace: string, uuid: string, ageMs?: number): Meta =>
  obj(namespace, `envoy-bootstrap-config-${uuid}`, { [PROXY_UUID_LABEL]: uuid, [MONITORED_BY_LABEL]: MESH }, ageMs);
const pod = (namespace: string, name: string, uuid: string): Meta => obj(namespace, name, { [PROXY_UUID_LABEL]: uuid });

/** The label selectors the collector sends: `key`, `key=value`, comma-joined. */
function matches(selector: string, labels: Record<string, string>): boolean {
  return selector
    .split(',')
    .filter((t) => t !== '')
    .every((t) => {
      const [k, v] = t.split('=') as [string, string?];
      return v === undefined ? k in labels : labels[k] === v;
    });
}

interface Request {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly accept: string;
}

interface PodEvent {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly pod: Meta;
}

interface OpenWatch {
  readonly selector: string;
  readonly res: http.ServerResponse;
}

/**
 * A Kubernetes API server with pods and Secrets as metadata: lists (PartialObjectMetadataList), watches of
 * pods from a resourceVersion (history kept until compact(); older ones get 410 Gone), DELETE of a Secret
 * with a uid precondition. Every request is recorded; `fail` makes the next matching request fail.
 */
class FakeApiServer {
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  private rv = 100;
  private compactedTo = 0;
  private readonly history: PodEvent[] = [];
  private readonly watches = new Set<OpenWatch>();
  private readonly failures: { method: string; path: string; status: number; message: string }[] = [];
  readonly pods = new Map<string, Meta>();
  readonly secrets = new Map<string, Meta>();
  readonly requests: Request[] = [];
  /** 'event': a too-old watch gets 200 and an ERROR event of code 410 (the apiserver's way); 'status': HTTP 410. */
  goneAs: 'event' | 'status' = 'event';
  /** Watch answers wait for their first event before sending headers: the client's watch is still connecting. */
  holdWatchHeaders = false;

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.dropWatches();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private key = (m: Meta): string => `${m.namespace}/${m.name}`;

  addPod(p: Meta): Meta {
    const stored = { ...p, resourceVersion: String(++this.rv) };
    const type = this.pods.has(this.key(p)) ? 'MODIFIED' : 'ADDED';
    this.pods.set(this.key(p), stored);
    this.emit({ rv: this.rv, type, pod: stored });
    return stored;
  }

  deletePod(p: Meta): void {
    const stored = this.pods.get(this.key(p));
    assert.ok(stored !== undefined, `pod ${this.key(p)} exists`);
    this.pods.delete(this.key(p));
    this.emit({ rv: ++this.rv, type: 'DELETED', pod: { ...stored, resourceVersion: String(this.rv) } });
  }

  addSecret(s: Meta): void {
    this.secrets.set(this.key(s), { ...s, resourceVersion: String(++this.rv) });
  }

  /** Forgets the history: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.compactedTo = this.rv;
  }

  /** The server ends every open watch cleanly (its timeoutSeconds): the informer resumes at once. */
  endWatches(): void {
    for (const w of this.watches) w.res.end();
    this.watches.clear();
  }

  /** Every open watch's connection breaks: the informer resumes after retryMs. */
  dropWatches(): void {
    for (const w of this.watches) w.res.destroy();
    this.watches.clear();
  }

  /** A BOOKMARK at the current resourceVersion on every open watch. */
  bookmark(): string {
    const rv = String(++this.rv);
    for (const w of this.watches) this.send(w.res, 'BOOKMARK', { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: rv } });
    return rv;
  }

  fail(method: string, p: string, status: number, message: string): void {
    this.failures.push({ method, path: p, status, message });
  }

  get openWatches(): number {
    return this.watches.size;
  }

  watchRequests(): Request[] {
    return this.requests.filter((r) => r.query.get('watch') === 'true');
  }

  listRequests(collection: 'pods' | 'secrets'): Request[] {
    return this.requests.filter((r) => r.method === 'GET' && r.path === `/api/v1/${collection}` && r.query.get('watch') !== 'true');
  }

  private emit(e: PodEvent): void {
    this.history.push(e);
    for (const w of this.watches) if (matches(w.selector, e.pod.labels)) this.send(w.res, e.type, wire(e.pod));
  }

  private send(res: http.ServerResponse, type: string, object: unknown): void {
    res.write(JSON.stringify({ type, object }) + '\n');
  }

  private status(res: http.ServerResponse, code: number, message: string): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code }));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const request = { method: req.method ?? '', path: url.pathname, query: url.searchParams, accept: req.headers.accept ?? '' };
    this.requests.push(request);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // A failure for `<path>?watch` fails the next watch of that path, one for `<path>` the next other request.
      const failure = this.failures.findIndex(
        (f) => f.method === request.method && request.path.startsWith(f.path.replace(/\?watch$/, '')) && (request.query.get('watch') === 'true') === f.path.endsWith('?watch'),
      );
      if (failure >= 0) {
        const f = this.failures.splice(failure, 1)[0]!;
        return this.status(res, f.status, f.message);
      }
      const body = Buffer.concat(chunks).toString('utf8');
      this.route(request, body, res);
    });
  }

  private route(request: Request, body: string, res: http.ServerResponse): void {
    const selector = request.query.get('labelSelector') ?? '';
    if (request.method === 'GET' && request.path === '/api/v1/pods' && request.query.get('watch') === 'true') return this.watch(request, selector, res);
    if (request.method === 'GET' && (request.path === '/api/v1/pods' || request.path === '/api/v1/secrets')) {
      const from = request.path === '/api/v1/pods' ? this.pods : this.secrets;
      const items = [...from.values()].filter((m) => matches(selector, m.labels)).map(wire);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: String(this.rv) }, items }));
      return;
    }
    const del = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(request.path);
    if (request.method === 'DELETE' && del !== null) {
      const key = `${del[1]}/${del[2]}`;
      const secret = this.secrets.get(key);
      if (secret === undefined) return this.status(res, 404, `secrets "${del[2]}" not found`);
      const uid = (JSON.parse(body === '' ? '{}' : body) as { preconditions?: { uid?: string } }).preconditions?.uid;
      if (uid !== secret.uid) return this.status(res, 409, `Precondition failed: UID in precondition: ${String(uid)}, UID in object meta: ${secret.uid}`);
      this.secrets.delete(key);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Success' }));
      return;
    }
    this.status(res, 404, `the fake serves no ${request.method} ${request.path}`);
  }

  private watch(request: Request, selector: string, res: http.ServerResponse): void {
    const from = Number(request.query.get('resourceVersion') ?? '0');
    if (from < this.compactedTo) {
      const message = `too old resource version: ${from} (${this.compactedTo})`;
      if (this.goneAs === 'status') return this.status(res, 410, message);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      this.send(res, 'ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason: 'Expired', code: 410 });
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // As the apiserver does: the headers go at once, so the client's watch is open before any event.
    if (!this.holdWatchHeaders) res.flushHeaders();
    for (const e of this.history) if (e.rv > from && matches(selector, e.pod.labels)) this.send(res, e.type, wire(e.pod));
    const w = { selector, res };
    this.watches.add(w);
    res.on('close', () => this.watches.delete(w));
  }
}

function wire(m: Meta): object {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { ...m, managedFields: [{ manager: 'kubectl' }] } };
}

async function until(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-gc-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Harness {
  readonly api: FakeApiServer;
  readonly kube: InjectorKube;
  readonly logger: ReturnType<typeof captureLogger>;
  collector(options?: { retryMs?: number }): SecretCollector;
  close(): Promise<void>;
}

/** A fake API server and the injector's client on it, through a kubeconfig as Weft loads one. */
async function harness(): Promise<Harness> {
  const api = new FakeApiServer();
  const server = await api.listen();
  const kubeconfig = path.join(tmp, `kubeconfig-${++uids}.yaml`);
  fs.writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node refuses plain HTTP unless TLS verification is off; the fake serves HTTP on loopback.
      clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'test', user: { token: 'test-token' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'test' } }],
      'current-context': 'fake',
    }),
  );
  const kube = await connectInjectorKube({ kubeconfig });
  const logger = captureLogger('debug');
  const started: SecretCollector[] = [];
  return {
    api,
    kube,
    logger,
    collector: (options = {}) => {
      const c = new SecretCollector({ kube, meshName: MESH, sweepMs: 3_600_000, graceMs: GRACE, logger, retryMs: options.retryMs ?? 50, watchTimeoutSeconds: 30, now: () => NOW });
      started.push(c);
      return c;
    },
    close: async () => {
      for (const c of started) await c.stop();
      await api.close();
    },
  };
}

/** The collector's log of the deletion of the Secret of a uuid, once written (after the API answered). */
async function deletionLog(h: Harness, uuid: string): Promise<Record<string, unknown>> {
  const find = (): Record<string, unknown> | undefined => h.logger.records.find((r) => r.msg === 'proxy bootstrap Secret deleted' && r['uuid'] === uuid);
  await until(() => find() !== undefined, `the deletion of the Secret of ${uuid} logged`);
  return find()!;
}

/** The collector's informer (private), to break its watch as a lost connection would. */
const informerOf = (c: SecretCollector): PodInformer => (c as unknown as { informer: PodInformer }).informer;

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
  let h: Harness;
  before(async () => {
    // The first connect loads client-node (an ES module); later ones reuse it.
    await (await harness()).close();
  });

  it("tells the injector's Secrets by both labels and the name it gives them", () => {
    assert.equal(injectorSecretUuid(ours('a', 'u1'), MESH), 'u1');
    assert.equal(injectorSecretUuid(ours('a', 'u1'), 'other'), undefined, 'another mesh');
    assert.equal(injectorSecretUuid(obj('a', 'envoy-bootstrap-config-u1', { [PROXY_UUID_LABEL]: 'u1' }), MESH), undefined, 'no mesh label');
    assert.equal(injectorSecretUuid(obj('a', 'creds', { [PROXY_UUID_LABEL]: 'u1', [MONITORED_BY_LABEL]: MESH }), MESH), undefined, 'another name');
    assert.equal(injectorSecretUuid(obj('a', 'envoy-bootstrap-config-u2', { [PROXY_UUID_LABEL]: 'u1', [MONITORED_BY_LABEL]: MESH }), MESH), undefined, 'name of another uuid');
  });

  it('sweeps orphans older than the grace period only, keeps Secrets of existing pods and young ones, never touches others, asks for metadata only', async () => {
    h = await harness();
    try {
      h.api.addPod(pod('a', 'web-1', 'alive'));
      h.api.addPod(pod('b', 'web-2', 'elsewhere'));
      const untouched = [
        ours('a', 'young', GRACE - 1_000),
        ours('a', 'alive'),
        obj('a', 'envoy-bootstrap-config-x', {}),
        obj('a', 'creds', { [PROXY_UUID_LABEL]: 'x', [MONITORED_BY_LABEL]: MESH }),
        obj('a', 'envoy-bootstrap-config-y', { [PROXY_UUID_LABEL]: 'y', [MONITORED_BY_LABEL]: 'other-mesh' }),
      ];
      // The pod with uuid "elsewhere" is in namespace b: the Secret in namespace a is an orphan.
      for (const s of [...untouched, ours('a', 'old'), ours('a', 'elsewhere')]) h.api.addSecret(s);
      const result = await h.collector().sweep();
      assert.deepEqual([...result.deleted].sort(), ['a/envoy-bootstrap-config-elsewhere', 'a/envoy-bootstrap-config-old']);
      assert.equal(result.kept, 2);
      assert.equal(result.failed, 0);
      assert.deepEqual([...h.api.secrets.values()].map((s) => s.name).sort(), untouched.map((s) => s.name).sort());
      const secretLists = h.api.listRequests('secrets');
      assert.ok(secretLists.length > 0);
      assert.ok(secretLists.every((r) => r.accept === METADATA_LIST_ACCEPT), `Secrets are listed as metadata only (Accept: ${secretLists[0]?.accept})`);
      assert.equal(secretLists[0]!.query.get('labelSelector'), `${PROXY_UUID_LABEL},${MONITORED_BY_LABEL}=${MESH}`);
    } finally {
      await h.close();
    }
  });

  it('logs a failed deletion with the Secret and the reason, never throws, and the next sweep retries; a Secret replaced meanwhile is not deleted', async () => {
    h = await harness();
    try {
      h.api.addSecret(ours('a', 'old'));
      const c = h.collector();
      h.api.fail('DELETE', '/api/v1/namespaces/a/secrets/', 500, 'etcd unavailable');
      const first = await c.sweep();
      assert.deepEqual(first, { deleted: [], kept: 0, failed: 1 });
      const err = h.logger.records.find((r) => r.level === 'error');
      assert.equal(err?.['secret'], 'envoy-bootstrap-config-old');
      assert.equal(err?.['namespace'], 'a');
      assert.match(String(err?.['error']), /HTTP 500: etcd unavailable/);
      h.api.fail('GET', '/api/v1/secrets', 403, 'secrets is forbidden');
      const forbidden = await c.sweep();
      assert.equal(forbidden.failed, 1, 'a failed list is counted, not thrown');
      assert.match(String(h.logger.records.at(-2)?.['error']), /HTTP 403: secrets is forbidden/);
      const second = await c.sweep();
      assert.deepEqual(second.deleted, ['a/envoy-bootstrap-config-old']);
      assert.equal(h.api.secrets.size, 0);
      const info = h.logger.records.find((r) => r.msg === 'proxy bootstrap Secret deleted');
      assert.deepEqual(Object.keys(info ?? {}).filter((k) => !['level', 'msg', 'time'].includes(k)).sort(), ['namespace', 'reason', 'secret', 'uuid']);

      // The uid precondition: listed, then replaced by a Secret of the same name before the delete.
      const listed = ours('a', 'again');
      h.api.addSecret(listed);
      h.api.fail('DELETE', '/api/v1/namespaces/a/secrets/', 409, 'Precondition failed: UID in precondition');
      const raced = await c.sweep();
      assert.deepEqual(raced, { deleted: ['a/envoy-bootstrap-config-again'], kept: 0, failed: 0 }, 'a 409 counts as done (another object has the name)');
      assert.ok(h.api.secrets.has('a/envoy-bootstrap-config-again'), 'the replaced Secret stays');
      const deletes = h.api.requests.filter((r) => r.method === 'DELETE');
      assert.ok(deletes.length >= 3);
    } finally {
      await h.close();
    }
  });

  it("deletes a pod's Secret when the watch sees it deleted, unless a pod of that namespace still has the uuid; resumes a watch the server ends from the last resourceVersion", async () => {
    h = await harness();
    try {
      const p1 = h.api.addPod(pod('a', 'web-1', 'u1'));
      h.api.addPod(pod('a', 'web-2', 'u2'));
      for (const s of [ours('a', 'u1', 0), ours('a', 'u2', 0), obj('a', 'creds', { [PROXY_UUID_LABEL]: 'u1', [MONITORED_BY_LABEL]: MESH })]) h.api.addSecret(s);
      const c = h.collector();
      c.start();
      await until(() => h.api.openWatches === 1, 'the watch');
      const watch = h.api.watchRequests()[0]!;
      assert.equal(watch.query.get('labelSelector'), PROXY_UUID_LABEL);
      assert.equal(watch.query.get('allowWatchBookmarks'), 'true');
      assert.equal(watch.query.get('timeoutSeconds'), '30');
      assert.equal(watch.accept, METADATA_WATCH_ACCEPT, 'pods are watched as metadata only');
      assert.equal(h.api.listRequests('pods')[0]?.accept, METADATA_LIST_ACCEPT, 'and listed so');

      h.api.deletePod(p1);
      await until(() => !h.api.secrets.has('a/envoy-bootstrap-config-u1'), 'the deletion of the Secret of u1');
      assert.deepEqual([...h.api.secrets.values()].map((s) => s.name).sort(), ['creds', 'envoy-bootstrap-config-u2'], 'young (grace does not apply to a deleted pod), but deleted');
      assert.match(String((await deletionLog(h, 'u1'))['reason']), /its pod a\/web-1 was deleted/);

      // A pod deleted while another pod of the namespace has its uuid (asked of the server) deletes nothing.
      h.api.addPod(pod('a', 'web-2b', 'u2'));
      const deletesBefore = h.api.requests.filter((r) => r.method === 'DELETE').length;
      const listsBefore = h.api.listRequests('pods').length;
      h.api.deletePod(pod('a', 'web-2', 'u2'));
      await until(() => h.api.listRequests('pods').length > listsBefore, 'the pod list asked for u2');
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(h.api.secrets.has('a/envoy-bootstrap-config-u2'));
      assert.equal(h.api.requests.filter((r) => r.method === 'DELETE').length, deletesBefore, 'no delete asked');

      // A bookmark moves the resourceVersion; the server ends the watch; it resumes from there, without a list.
      const rv = h.api.bookmark();
      await new Promise((r) => setTimeout(r, 50));
      const lists = h.api.listRequests('pods').length;
      // The resumed watch's answer is held: it is still connecting when stop() comes below.
      h.api.holdWatchHeaders = true;
      h.api.endWatches();
      await until(() => h.api.watchRequests().length === 2 && h.api.openWatches === 1, 'the resumed watch');
      assert.equal(h.api.watchRequests()[1]!.query.get('resourceVersion'), rv);
      assert.equal(h.api.listRequests('pods').length, lists, 'a resume lists nothing');
      assert.ok(h.logger.records.every((r) => r.level !== 'error'), 'a watch the server ends is no failure');

      await c.stop();
      // The server answers the held watch now: the client closes what it no longer wants.
      h.api.addPod(pod('a', 'late', 'u-late'));
      await until(() => h.api.openWatches === 0, 'stop ends the running watch, also one that was still connecting');
      const after = h.api.requests.length;
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(h.api.requests.length, after, 'nothing is asked after stop');
    } finally {
      await h.close();
    }
  });

  for (const goneAs of ['event', 'status'] as const) {
    it(`relists on 410 Gone (${goneAs === 'event' ? 'an ERROR event' : 'HTTP 410'}) and deletes the Secrets of pods that went while no watch ran; resumes a broken watch; retries a failed list`, async () => {
      h = await harness();
      try {
        h.api.goneAs = goneAs;
        h.api.addPod(pod('a', 'web-1', 'u1'));
        h.api.addPod(pod('a', 'web-2', 'u2'));
        h.api.addPod(pod('a', 'web-3', 'u3'));
        for (const s of [ours('a', 'u1', 0), ours('a', 'u2', 0), ours('a', 'u3', 0)]) h.api.addSecret(s);
        const c = h.collector({ retryMs: 100 });
        // The first list fails: logged, tried again after retryMs.
        h.api.fail('GET', '/api/v1/pods', 403, 'pods is forbidden');
        c.start();
        await until(() => h.api.openWatches === 1, 'the watch after the failed first list');
        assert.ok(h.logger.records.some((r) => r.level === 'error' && r.msg.startsWith('listing injected pods failed') && /HTTP 403: pods is forbidden/.test(String(r['error']))));

        // The connection breaks and the next watch request fails: logged, tried again after retryMs from the
        // resourceVersion it was at, and what happened meanwhile arrives on it.
        const lists = h.api.listRequests('pods').length;
        const rv = informerOf(c).resourceVersion;
        h.api.fail('GET', '/api/v1/pods?watch', 500, 'etcdserver: request timed out');
        h.api.dropWatches();
        h.api.deletePod(pod('a', 'web-3', 'u3'));
        await until(() => !h.api.secrets.has('a/envoy-bootstrap-config-u3'), 'the Secret of the pod deleted while the watch was broken');
        assert.equal(h.api.watchRequests().at(-1)!.query.get('resourceVersion'), rv, 'resumed from its resourceVersion');
        assert.equal(h.api.listRequests('pods').length, lists + 1, 'no relist: the one pod list is the collector asking about u3');
        // The broken connection may be logged too ("Premature close"); the 500 must be.
        const failed = h.logger.records.find((r) => r.msg === 'the pod watch failed; resuming' && /HTTP 500/.test(String(r['error'])));
        assert.equal(failed?.level, 'error', 'the failed watch is logged');
        assert.match(String(failed['error']), /HTTP 500/);
        assert.equal(failed['retryMs'], 100);

        // Broken again; while it waits, web-1 goes and the history is compacted: the resumed watch gets
        // 410 and the informer lists again; web-1, missing from that list, is collected.
        const watches = h.api.watchRequests().length;
        h.api.dropWatches();
        h.api.deletePod(pod('a', 'web-1', 'u1'));
        h.api.compact();
        await until(() => !h.api.secrets.has('a/envoy-bootstrap-config-u1'), 'the Secret of the pod gone during the gap');
        await until(() => h.api.openWatches === 1, 'the watch after the relist');
        assert.ok(h.api.watchRequests().length >= watches + 2, 'the expired watch, then one from the relist');
        assert.ok(h.logger.records.some((r) => r.msg === 'the pod watch expired (410); relisting'), 'the 410 is logged');
        assert.match(String((await deletionLog(h, 'u1'))['reason']), /its pod a\/web-1 was deleted/);
        assert.deepEqual([...h.api.secrets.keys()], ['a/envoy-bootstrap-config-u2'], 'the Secret of the pod that exists stays');

        // After the relist the watch goes on as before.
        h.api.deletePod(pod('a', 'web-2', 'u2'));
        await until(() => h.api.secrets.size === 0, 'a deletion seen on the new watch');
      } finally {
        await h.close();
      }
    });
  }

  it('a pod whose uuid changed under the same name (deleted and recreated while no watch ran) counts as the old pod gone', async () => {
    h = await harness();
    try {
      h.api.addPod(pod('a', 'web-1', 'u1'));
      h.api.addSecret(ours('a', 'u1', 0));
      h.api.addSecret(ours('a', 'u9', 0));
      const c = h.collector();
      c.start();
      await until(() => h.api.openWatches === 1, 'the watch');
      h.api.dropWatches();
      h.api.deletePod(pod('a', 'web-1', 'u1'));
      h.api.addPod(pod('a', 'web-1', 'u9'));
      h.api.compact();
      await until(() => !h.api.secrets.has('a/envoy-bootstrap-config-u1'), 'the Secret of the replaced pod');
      assert.match(String((await deletionLog(h, 'u1'))['reason']), /replaced by one of uuid u9/);
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(h.api.secrets.has('a/envoy-bootstrap-config-u9'), 'the new pod keeps its Secret');
    } finally {
      await h.close();
    }
  });

  it('a watch still connecting when the collector stops is closed once it connects', async () => {
    h = await harness();
    try {
      h.api.holdWatchHeaders = true;
      const c = h.collector();
      c.start();
      await until(() => h.api.openWatches === 1, 'the watch request');
      await c.stop();
      // The server answers now: the client must close what it no longer wants.
      h.api.addPod(pod('a', 'late', 'u-late'));
      await until(() => h.api.openWatches === 0, 'the late watch closed');
    } finally {
      await h.close();
    }
  });
});
