/**
 * The Kubernetes source against a real kube-apiserver and etcd (deploy/kubernetes/start.sh), on its own
 * and inside a running Weft as the identity deploy/kubernetes/rbac.yaml describes. One file, so one test
 * process starts (and stops) the apiserver. Without an apiserver the tests are skipped with the reason,
 * except under CI=true, where a missing one fails them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { captureLogger, silentLogger, type EventLog, type LogBatch, type SourceSink, type Subscription } from '@weft/core';
import { builtinBackends, Catalog, createSourceSink, normalizeConfig, startWeft, type RunningWeft } from '@weft/core/testing';
import { connectKubernetes, type KubeClient, type ResourceInformer } from '@weft/kube-client';
import { watchedKinds, type WatchedKind } from './kinds.js';
import { KubernetesSource } from './source.js';
import { Admin, compactEtcd, deployDir, findApiServer, type ApiServerLookup } from './testing.js';

const lookup: Promise<ApiServerLookup> = findApiServer();
let admin: Admin;
let client: KubeClient;
const run = randomBytes(3).toString('hex');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-k8s-'));
let nsCount = 0;

before(async () => {
  const found = await lookup;
  if (found.kubeconfig === null) {
    if (process.env['CI'] === 'true') throw new Error(`CI=true and ${found.reason}`);
    return;
  }
  admin = await Admin.open(found.kubeconfig);
  client = await connectKubernetes({ kubeconfig: found.kubeconfig });
});
after(async () => {
  fs.rmSync(tmp, { recursive: true, force: true });
  await (await lookup).stop?.();
});

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// --- objects, each in the test's own namespace -------------------------------------------------------------

const nsPath = (ns: string): string => `/api/v1/namespaces/${ns}`;

const service = (name: string, port: number): object => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name },
  spec: { selector: { app: name }, ports: [{ name: 'http', port, targetPort: 8080 }] },
});
const pod = (name: string, app: string, sa: string): object => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { app } },
  spec: {
    serviceAccountName: sa,
    automountServiceAccountToken: false,
    containers: [{ name: 'app', image: 'example.invalid/app:1', ports: [{ name: 'http', containerPort: 8080 }] }],
  },
});
const podIp = (ip: string): object => ({
  status: { podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] },
});
const split = (name: string, weight: number): object => ({
  apiVersion: 'split.smi-spec.io/v1alpha2',
  kind: 'TrafficSplit',
  metadata: { name },
  spec: { service: 'web', backends: [{ service: 'web-v1', weight }, { service: 'web-v2', weight: 100 - weight }] },
});
const splits = (ns: string): string => `/apis/split.smi-spec.io/v1alpha2/namespaces/${ns}/trafficsplits`;

/** A fresh namespace with a ServiceAccount "web" (pods need theirs to exist: no controller makes them here). */
async function namespace(): Promise<string> {
  const ns = `weft-k8s-${run}-${++nsCount}`;
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await admin.create(`${nsPath(ns)}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web' } });
  return ns;
}

/** A memory log folded into a Catalog, and the batches appended, as the runtime wires them. */
class Harness {
  readonly catalog = new Catalog();
  readonly batches: LogBatch[] = [];
  readonly logger = captureLogger();
  log!: EventLog;
  private sub!: Subscription;
  private readonly sources: KubernetesSource[] = [];

  constructor(readonly ns: string) {}

  async open(): Promise<this> {
    const memory = builtinBackends(silentLogger).find((b) => b.scheme === 'memory')!;
    this.log = await memory.open('memory:');
    this.sub = this.log.follow(0, (b) => {
      this.batches.push(b);
      this.catalog.apply(b);
    });
    return this;
  }

  async start(options: { watchTimeoutSeconds?: number; retryMs?: number; kinds?: readonly WatchedKind[] } = {}): Promise<KubernetesSource> {
    const source = new KubernetesSource({
      name: 'kubernetes',
      client,
      ...(options.kinds === undefined ? {} : { kinds: options.kinds }),
      watchTimeoutSeconds: options.watchTimeoutSeconds ?? 60,
      retryMs: options.retryMs ?? 100,
      missingKindRetryMs: 1000,
      logger: this.logger,
    });
    await source.start(createSourceSink(source, this.log, this.catalog, this.logger));
    this.sources.push(source);
    await this.caughtUp();
    return source;
  }

  async caughtUp(): Promise<void> {
    await until('the catalog to catch up', () => this.catalog.lastOffset >= this.log.head() - 1);
  }

  /** "op Kind key" of a batch's events in this test's namespace. */
  mine(batch: LogBatch | undefined): string[] {
    return (batch?.events ?? []).filter((e) => e.key.startsWith(`${this.ns}/`)).map((e) => `${e.op} ${e.kind} ${e.key}`);
  }

  /**
   * Events appended so far in this test's namespace. Other test files change the same apiserver at the same
   * time (another namespace each), so "nothing was appended" is asked of this namespace only.
   */
  mineCount(): number {
    return this.batches.reduce((n, b) => n + this.mine(b).length, 0);
  }

  /** Batches since `from` that touched this namespace, as "op Kind key" lists. */
  mineSince(from: number): string[][] {
    return this.batches.slice(from).map((b) => this.mine(b)).filter((l) => l.length > 0);
  }

  port(name: string): number | undefined {
    return this.catalog.get('Service', `${this.ns}/${name}`)?.ports[0]?.port;
  }

  errors(): string[] {
    return this.logger.records
      .filter((r) => r.level === 'error' && String(r['object'] ?? '').includes(this.ns))
      .map((r) => `${r.msg}: ${String(r['error'] ?? '')}`);
  }

  async stopAll(): Promise<void> {
    for (const s of this.sources.splice(0)) await s.stop();
  }

  async close(): Promise<void> {
    await this.stopAll();
    await this.sub.close();
    await this.log.close();
  }
}

describe('kubernetes source against kube-apiserver', async () => {
  const found = await lookup;
  if (found.kubeconfig === null) {
    it('needs a kube-apiserver', (t) => {
      if (process.env['CI'] === 'true') throw new Error(`CI=true and ${found.reason}`);
      t.skip(found.reason);
    });
    return;
  }

  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('appends the initial lists of every kind as one batch', async () => {
    const ns = await namespace();
    await admin.create(`${nsPath(ns)}/services`, service('web', 80));
    await admin.create(`${nsPath(ns)}/pods`, pod('web-1', 'web', 'web'));
    await admin.patch(`${nsPath(ns)}/pods/web-1/status`, podIp('10.1.0.5'));
    await admin.create(splits(ns), split('web-split', 30));
    h = await new Harness(ns).open();
    await h.start();

    assert.equal(h.mineSince(0).length, 1, 'the initial lists are one batch');
    assert.deepEqual(h.mine(h.batches[0]), [
      `upsert Service ${ns}/web`,
      `upsert ServiceAccount ${ns}/web`,
      `upsert TrafficSplit ${ns}/web-split`,
      `upsert Workload ${ns}/web-1`,
    ]);
    assert.ok(h.batches[0]!.events.some((e) => e.kind === 'Namespace' && e.key === ns), 'the namespace is listed');
    assert.equal(h.batches[0]!.events[0]!.source, 'kubernetes');
    const w = h.catalog.get('Workload', `${ns}/web-1`);
    assert.deepEqual(w?.ips, ['10.1.0.5']);
    assert.equal(w?.serviceAccount, 'web');
    assert.equal(w?.ready, true);
    assert.deepEqual(h.catalog.get('TrafficSplit', `${ns}/web-split`)?.backends, [
      { service: 'web-v1', weight: 30 },
      { service: 'web-v2', weight: 70 },
    ]);
    assert.deepEqual(h.errors(), []);
  });

  it('appends additions, changes and deletions of Services and Pods as they happen', async () => {
    const ns = await namespace();
    h = await new Harness(ns).open();
    await h.start();
    const from = h.batches.length;

    await admin.create(`${nsPath(ns)}/services`, service('api', 8080));
    await until('the new Service', () => h!.port('api') === 8080);
    await admin.patch(`${nsPath(ns)}/services/api`, { spec: { ports: [{ name: 'http', port: 8081, targetPort: 8080 }] } });
    await until('the Service change', () => h!.port('api') === 8081);

    await admin.create(`${nsPath(ns)}/pods`, pod('api-1', 'api', 'web'));
    await until('the new Pod', () => h!.catalog.get('Workload', `${ns}/api-1`) !== undefined);
    assert.deepEqual(h.catalog.get('Workload', `${ns}/api-1`)?.ips, []);
    await admin.patch(`${nsPath(ns)}/pods/api-1/status`, podIp('10.1.0.9'));
    await until('the Pod IP', () => h!.catalog.get('Workload', `${ns}/api-1`)?.ips[0] === '10.1.0.9');
    // A change the model does not read (an annotation-free status field) appends nothing.
    const before = h.mineCount();
    await admin.patch(`${nsPath(ns)}/pods/api-1/status`, { status: { message: 'still here' } });
    await sleep(300);
    assert.equal(h.mineCount(), before, 'a change the mesh does not read is not an event');

    await admin.delete(`${nsPath(ns)}/pods/api-1`);
    await until('the Pod deletion', () => h!.catalog.get('Workload', `${ns}/api-1`) === undefined);
    await admin.delete(`${nsPath(ns)}/services/api`);
    await until('the Service deletion', () => h!.port('api') === undefined);

    assert.deepEqual(h.mineSince(from), [
      [`upsert Service ${ns}/api`],
      [`upsert Service ${ns}/api`],
      [`upsert Workload ${ns}/api-1`],
      [`upsert Workload ${ns}/api-1`],
      [`delete Workload ${ns}/api-1`],
      [`delete Service ${ns}/api`],
    ]);
    assert.deepEqual(h.errors(), []);
  });

  it('rejects an invalid TrafficSplit with a clear error, keeps its last good version and takes the fix', async () => {
    const ns = await namespace();
    await admin.create(splits(ns), split('web-split', 30));
    h = await new Harness(ns).open();
    await h.start();
    const weight = (): number | undefined => h!.catalog.get('TrafficSplit', `${ns}/web-split`)?.backends[0]?.weight;
    assert.equal(weight(), 30);
    const head = h.mineCount();

    // The CRD's schema refuses what it can state (a negative weight); an apex in another namespace is a rule
    // only the model has (a schema cannot read metadata.namespace), so the API server stores this and the
    // model must refuse it. Objects stored before the schemas were applied take the same path.
    await admin.patch(`${splits(ns)}/web-split`, { spec: { service: 'web.elsewhere' } });
    await until('the rejection', () => h!.errors().length > 0);
    const errors = h.errors();
    assert.equal(errors.length, 1);
    assert.match(
      errors[0]!,
      new RegExp(
        `^invalid Kubernetes object rejected: TrafficSplit ${ns}/web-split \\(resourceVersion \\d+\\) rejected \\(its last good version stays in force\\): spec\\.service: must be a service in the TrafficSplit's namespace`,
      ),
    );
    assert.equal(h.mineCount(), head, 'nothing is appended for the invalid version');
    assert.equal(weight(), 30, 'the last good version stays');

    // A restart while it is still invalid keeps the last good version too (no delete).
    await h.stopAll();
    await h.start();
    assert.equal(h.mineCount(), head, 'a restart over the invalid object appends nothing');
    assert.equal(weight(), 30);

    await admin.patch(`${splits(ns)}/web-split`, { spec: { service: 'web', backends: [{ service: 'web-v1', weight: 60 }, { service: 'web-v2', weight: 40 }] } });
    await until('the fix', () => weight() === 60);
  });

  it('appends nothing on a restart over an unchanged cluster, and only the difference after changes made while down', async () => {
    const ns = await namespace();
    await admin.create(`${nsPath(ns)}/services`, service('web', 80));
    await admin.create(`${nsPath(ns)}/services`, service('db', 5432));
    await admin.create(`${nsPath(ns)}/pods`, pod('web-1', 'web', 'web'));
    h = await new Harness(ns).open();
    await h.start();
    await h.stopAll();
    const head = h.mineCount();

    await h.start();
    assert.equal(h.mineCount(), head, 'a restart over an unchanged cluster appends nothing');
    await h.stopAll();

    await admin.patch(`${nsPath(ns)}/services/web`, { spec: { ports: [{ name: 'http', port: 81, targetPort: 8080 }] } });
    await admin.delete(`${nsPath(ns)}/services/db`);
    await admin.delete(`${nsPath(ns)}/pods/web-1`);
    const from = h.batches.length;
    await h.start();
    assert.equal(h.mineSince(from).length, 1, 'the difference is one batch');
    assert.deepEqual(h.mineSince(from)[0], [`delete Service ${ns}/db`, `upsert Service ${ns}/web`, `delete Workload ${ns}/web-1`]);
    assert.equal(h.port('web'), 81);
  });

  it('resumes watches the server ends, and relists a kind whose resourceVersion was compacted away (410 Gone)', async () => {
    const etcd = found.etcd;
    assert.ok(etcd !== null, 'this test compacts etcd: set WEFT_ETCD_ENDPOINT beside WEFT_KUBECONFIG');
    const ns = await namespace();
    const endpoints = `${nsPath(ns)}/endpoints`;
    const ep = (name: string, ip: string): object => ({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name },
      subsets: [{ addresses: [{ ip }], ports: [{ name: 'http', port: 8080 }] }],
    });
    await admin.create(`${nsPath(ns)}/services`, service('web', 80));
    await admin.create(endpoints, ep('web', '10.1.0.1'));
    await admin.create(endpoints, ep('db', '10.1.0.2'));
    h = await new Harness(ns).open();
    // The server ends each watch after a second; the source must resume each time without losing changes.
    // v1 Endpoints, the opt-in for old clusters (endpointSource: endpoints).
    const source = await h.start({ watchTimeoutSeconds: 1, retryMs: 1500, kinds: watchedKinds('endpoints') });
    await sleep(2500);
    await admin.patch(`${nsPath(ns)}/services/web`, { spec: { ports: [{ name: 'http', port: 81, targetPort: 8080 }] } });
    await until('a change after watch timeouts', () => h!.port('web') === 81);
    assert.ok(h.logger.records.every((r) => r.level !== 'warn' || r['kind'] !== 'Service'), 'a server timeout is not a failure');

    // Break the Endpoints watch (the test apiserver serves Endpoints watches from etcd, without its cache).
    // While the source pauses, db goes and etcd is compacted past the watch's resourceVersion, as after a
    // long disconnection: the resumed watch gets 410 Gone, and the deletion must arrive through a new list.
    const informers = (source as unknown as { informers: Map<string, ResourceInformer> }).informers;
    informers.get('Endpoints')!.breakWatch();
    await admin.delete(`${endpoints}/db`);
    await admin.patch(`${endpoints}/web`, { subsets: [{ addresses: [{ ip: '10.1.0.3' }], ports: [{ name: 'http', port: 8080 }] }] });
    await compactEtcd(etcd);
    const from = h.batches.length;
    await until('the relist after 410', () => h!.catalog.get('Endpoints', `${ns}/db`) === undefined, 15_000);
    assert.ok(
      h.logger.records.some((r) => r.msg === 'the watch resourceVersion expired; listing again' && r['kind'] === 'Endpoints'),
      'the source saw 410 Gone and listed again',
    );
    assert.deepEqual(h.mineSince(from), [[`delete Endpoints ${ns}/db`, `upsert Endpoints ${ns}/web`]], 'the relist is one batch');
    assert.equal(h.catalog.get('Endpoints', `${ns}/web`)?.subsets[0]?.addresses[0]?.ip, '10.1.0.3');

    await admin.patch(`${endpoints}/web`, { subsets: [{ addresses: [{ ip: '10.1.0.4' }], ports: [{ name: 'http', port: 8080 }] }] });
    await until('a change after the relist', () => h!.catalog.get('Endpoints', `${ns}/web`)?.subsets[0]?.addresses[0]?.ip === '10.1.0.4');
  });

  it('drives endpoints from EndpointSlices: 1,500 endpoints over several slices, slices added and removed, an endpoint turning not ready', async () => {
    const ns = await namespace();
    const slices = `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;
    await admin.create(`${nsPath(ns)}/services`, service('web', 80));
    // As the endpoint-slice controller writes them (no controller manager runs here): labelled with the
    // Service, managed-by the controller, at most 1,000 endpoints each, one address type and set of ports each.
    const slice = (name: string, first: number, count: number, extra: Record<string, unknown> = {}): object => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name, labels: { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: Array.from({ length: count }, (_, i) => {
        const n = first + i;
        return { addresses: [`10.2.${n >> 8}.${n & 255}`], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', namespace: ns, name: `web-${n}` } };
      }),
      ...extra,
    });
    await admin.create(slices, slice('web-a', 0, 600));
    await admin.create(slices, slice('web-b', 600, 600));
    await admin.create(slices, slice('web-c', 1200, 300));
    h = await new Harness(ns).open();
    await h.start();
    const addresses = (): { ip: string; workload: string | null }[] => h!.catalog.get('Endpoints', `${ns}/web`)?.subsets.flatMap((s) => s.addresses) ?? [];
    assert.equal(addresses().length, 1500, 'the initial list merges the three slices');
    assert.equal(new Set(addresses().map((a) => a.ip)).size, 1500);
    assert.equal(addresses().find((a) => a.ip === '10.2.0.7')?.workload, `${ns}/web-7`);
    assert.deepEqual(h.mine(h.batches[0]).filter((e) => e.includes('Endpoints')), [`upsert Endpoints ${ns}/web`], 'one Endpoints resource for the Service');

    // A slice added (an IPv6 one: dual-stack, same ports), then one removed.
    await admin.create(slices, { ...slice('web-v6', 0, 0, { addressType: 'IPv6' }), endpoints: [{ addresses: ['fd00::1'], conditions: { ready: true } }] });
    await until('the added slice', () => addresses().length === 1501);
    assert.ok(addresses().some((a) => a.ip === 'fd00::1'));
    await admin.delete(`${slices}/web-c`);
    await until('the removed slice', () => addresses().length === 1201);

    // An endpoint turning not ready, then draining (serving and terminating): both leave it out.
    const patchEndpoint = async (conditions: Record<string, boolean>): Promise<void> => {
      const s = slice('web-a', 0, 600) as { endpoints: { conditions: Record<string, boolean> }[] };
      s.endpoints[5]!.conditions = conditions;
      await admin.patch(`${slices}/web-a`, { endpoints: s.endpoints });
    };
    await patchEndpoint({ ready: false, serving: false, terminating: false });
    await until('the not-ready endpoint to go', () => addresses().length === 1200);
    assert.ok(!addresses().some((a) => a.ip === '10.2.0.5'));
    await patchEndpoint({ ready: true, serving: true, terminating: false });
    await until('the endpoint ready again', () => addresses().length === 1201);
    await patchEndpoint({ ready: false, serving: true, terminating: true });
    await until('the draining endpoint to go', () => addresses().length === 1200);

    // The last slices gone: the source deletes the Service's Endpoints resource (the catalog may then derive
    // endpoints from the pods the Service selects, of which there are none here).
    await admin.delete(`${slices}/web-a`);
    await admin.delete(`${slices}/web-b`);
    await admin.delete(`${slices}/web-v6`);
    await until('the Endpoints deletion', () => h!.batches.some((b) => h!.mine(b).includes(`delete Endpoints ${ns}/web`)));
    assert.equal(addresses().length, 0);
    assert.deepEqual(h.errors(), []);
  });
});

/** POST that accepts "already exists": the RBAC objects are shared by every run against one apiserver. */
async function ensure(collection: string, obj: unknown): Promise<void> {
  const a = await admin.request('POST', collection, obj);
  if (a.status !== 201 && a.status !== 409) assert.fail(`POST ${collection}: HTTP ${a.status}: ${String(a.body['message'])}`);
}

/** Create or replace: a run with an older rbac.yaml may have left its version in the shared apiserver. */
async function apply(collection: string, obj: { metadata: { name: string } }): Promise<void> {
  const a = await admin.request('POST', collection, obj);
  if (a.status === 409) await admin.ok('PUT', `${collection}/${obj.metadata.name}`, obj);
  else if (a.status !== 201) assert.fail(`POST ${collection}: HTTP ${a.status}: ${String(a.body['message'])}`);
}

/** A kubeconfig for a ServiceAccount, with a token from the TokenRequest API, beside the admin's cluster. */
async function serviceAccountKubeconfig(adminKubeconfig: string, ns: string, sa: string): Promise<string> {
  await ensure('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await ensure(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa } });
  const tr = await admin.create(`/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 600 },
  });
  const token = (tr['status'] as { token: string }).token;
  const kc = parseYaml(fs.readFileSync(adminKubeconfig, 'utf8')) as { users: { name: string; user: unknown }[] };
  kc.users = [{ name: kc.users[0]!.name, user: { token } }];
  const file = path.join(tmp, `${ns}-${sa}.kubeconfig`);
  fs.writeFileSync(file, stringify(kc), { mode: 0o600 });
  return file;
}

describe('kubernetes plugin in a running Weft, with the RBAC of deploy/kubernetes/rbac.yaml', async () => {
  const found = await lookup;
  if (found.kubeconfig === null) {
    it('needs a kube-apiserver', (t) => {
      if (process.env['CI'] === 'true') throw new Error(`CI=true and ${found.reason}`);
      t.skip(found.reason);
    });
    return;
  }
  const adminKubeconfig = found.kubeconfig;

  it('refuses to start, with the API server message, as an identity that may not list', async () => {
    const kubeconfig = await serviceAccountKubeconfig(adminKubeconfig, `weft-k8s-${run}-nobody`, 'nobody');
    const client = await connectKubernetes({ kubeconfig });
    const source = new KubernetesSource({ name: 'kubernetes', client, watchTimeoutSeconds: 30, retryMs: 100, missingKindRetryMs: 1000, logger: silentLogger });
    const sink: SourceSink = { append: () => assert.fail('nothing may be appended'), known: () => new Map(), logger: silentLogger };
    await assert.rejects(source.start(sink), (err: Error & { code?: string; status?: number }) => {
      assert.equal(err.code, 'KUBERNETES_API_FAILED');
      assert.equal(err.status, 403);
      assert.match(err.message, /HTTP 403: .* "system:serviceaccount:weft-k8s-\w+-nobody:nobody" cannot list resource/);
      return true;
    });
    await source.stop();
  });

  it('loads from weft.yaml by package name and keeps the catalog in step with the cluster', async () => {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(deployDir, 'rbac.yaml'), 'utf8'))) {
      const obj = doc.toJS() as { kind: string; metadata: { name: string } };
      await apply(`/apis/rbac.authorization.k8s.io/v1/${obj.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings'}`, obj);
    }
    const kubeconfig = await serviceAccountKubeconfig(adminKubeconfig, 'weft-system', 'weft');
    const ns = `weft-k8s-${run}-weft`;
    await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const svc = (port: number): object => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port }] },
    });
    await admin.create(`/api/v1/namespaces/${ns}/services`, svc(80));

    const config = normalizeConfig(
      {
        log: 'memory:',
        xds: { host: '127.0.0.1', port: 0, insecure: true, coalesceMs: 0 },
        debug: { port: 0 },
        metrics: { enabled: false },
        plugins: [{ name: '@weft/plugin-kubernetes', config: { kubeconfig: path.basename(kubeconfig), watchTimeoutSeconds: 30 } }],
      },
      { file: path.join(tmp, 'weft.yaml'), label: 'weft.yaml', configDir: tmp },
    );
    const logger = captureLogger('info');
    let weft: RunningWeft | undefined = await startWeft(config, { logger });
    try {
      const port = (): number | undefined => weft!.catalog.get('Service', `${ns}/web`)?.ports[0]?.port;
      assert.equal(port(), 80, 'the initial list is in the catalog when start resolves');
      assert.equal(weft.catalog.sourceOf('Service', `${ns}/web`), 'kubernetes');
      await admin.patch(`/api/v1/namespaces/${ns}/services/web`, { spec: { ports: [{ name: 'http', port: 81 }] } });
      await until('the change in the catalog', () => port() === 81);
      await admin.delete(`/api/v1/namespaces/${ns}/services/web`);
      await until('the deletion in the catalog', () => port() === undefined);
      assert.deepEqual(
        logger.records.filter((r) => r.level === 'error' || (r.level === 'warn' && r['source'] === 'kubernetes')).map((r) => r.msg),
        [],
      );
      await weft.close();
      await weft.stopped;
      weft = undefined;
    } finally {
      await weft?.close();
    }
  });
});
