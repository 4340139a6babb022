/**
 * The injector inside a running Weft (ca-local, envoy, injector loaded from config), registered with a real
 * kube-apiserver (deploy/kubernetes/start.sh) as a MutatingWebhookConfiguration that calls it on
 * https://127.0.0.1:<port>, next to the Kubernetes source. Weft runs as the ServiceAccount that
 * deploy/kubernetes/rbac.yaml and deploy/kubernetes/injector/rbac.yaml bind, with only those files' rules. Pods are created through the API server and read back. Without an apiserver
 * the tests are skipped with the reason, except under CI=true, where a missing one fails them.
 */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';
import * as grpc from '@grpc/grpc-js';
import { captureLogger, envoyType } from '@weft/core';
import { normalizeConfig, startWeft, type RunningWeft } from '@weft/core/testing';
import { InjectorSource } from './source.js';
import { Admin, findApiServer, type ApiServerLookup } from './testing.js';

const lookup: Promise<ApiServerLookup> = findApiServer();
const run = randomBytes(3).toString('hex');
const mesh = `weft-inj-${run}`;
const webhookName = `weft-injector-test-${run}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-injector-'));
const logger = captureLogger('debug');
let admin: Admin | undefined;
let weft: RunningWeft | undefined;
let injector: InjectorSource;
let skipReason = '';
let nsCount = 0;

const MONITORED = 'openservicemesh.io/monitored-by';
const UUID_LABEL = 'osm-proxy-uuid';
const GRACE_MS = 3_000;
const OPT_OUT = 'openservicemesh.io/sidecar-injection';

interface Pod {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    containers: { name: string; image: string; securityContext?: Record<string, unknown>; volumeMounts?: { name: string; mountPath: string }[] }[];
    initContainers?: { name: string; image: string; command?: string[]; securityContext?: { capabilities?: { add?: string[] } } }[];
    volumes?: { name: string; secret?: { secretName: string } }[];
  };
}

before(async () => {
  const found = await lookup;
  if (found.kubeconfig === null) {
    if (process.env['CI'] === 'true') throw new Error(`CI=true and ${found.reason}`);
    skipReason = found.reason;
    return;
  }
  admin = await Admin.open(found.kubeconfig);
  const kubeconfig = await injectorKubeconfig(admin, found.kubeconfig);
  const config = normalizeConfig(
    {
      log: 'memory:',
      dataDir: path.join(tmp, 'data'),
      xds: { host: '127.0.0.1', port: 0 },
      debug: { enabled: false },
      metrics: { enabled: false },
      plugins: [
        { name: '@weft/plugin-ca-local', config: {} },
        { name: '@weft/plugin-envoy' },
        { name: '@weft/plugin-kubernetes', config: { kubeconfig, watchTimeoutSeconds: 60 } },
        {
          name: '@weft/plugin-injector',
          config: {
            kubeconfig,
            meshName: mesh,
            xds: 'weft.example.svc:15128',
            listenHost: '127.0.0.1',
            listenPort: 0,
            webhookUrl: 'https://127.0.0.1:{port}/mutate-pod-creation',
            webhookName,
            failurePolicy: 'Fail',
            // Small enough for the Secret collection tests to see an orphan swept within seconds.
            timeoutSeconds: GRACE_MS / 1000,
            secretGraceMs: GRACE_MS,
            secretSweepMs: 1_000,
          },
        },
      ],
    },
    { file: path.join(tmp, 'weft.yaml'), label: 'weft.yaml', configDir: tmp },
  );
  weft = await startWeft(config, { logger });
  const source = weft.sources.find((s) => s instanceof InjectorSource);
  assert.ok(source instanceof InjectorSource, 'Weft started the injector as a source');
  injector = source;
});

after(async () => {
  await weft?.close();
  // The registration would call a closed port from now on; remove it so nothing else meets it.
  await admin?.request('DELETE', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${webhookName}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  await (await lookup).stop?.();
});

/** POST that accepts "already exists": namespaces and ServiceAccounts are shared by every run against one apiserver. */
async function ensure(a: Admin, collection: string, obj: unknown): Promise<void> {
  const answer = await a.request('POST', collection, obj);
  if (answer.status !== 201 && answer.status !== 409) assert.fail(`POST ${collection}: HTTP ${answer.status}: ${String(answer.body['message'])}`);
}

/** Create or replace: the RBAC objects must be the file's as it is now, not as an earlier run left them. */
async function apply(a: Admin, collection: string, obj: { metadata: { name: string } }): Promise<void> {
  const answer = await a.request('POST', collection, obj);
  if (answer.status === 201) return;
  if (answer.status !== 409) assert.fail(`POST ${collection}: HTTP ${answer.status}: ${String(answer.body['message'])}`);
  const item = `${collection}/${obj.metadata.name}`;
  const current = (await a.ok('GET', item)) as { metadata: { resourceVersion: string } };
  await a.ok('PUT', item, { ...obj, metadata: { ...obj.metadata, resourceVersion: current.metadata.resourceVersion } });
}

/**
 * Applies the source's and the injector's RBAC files (both bind Weft's one identity) and returns a kubeconfig
 * with a token of that ServiceAccount.
 */
async function injectorKubeconfig(a: Admin, adminKubeconfig: string): Promise<string> {
  const subjects = new Set<string>();
  for (const rbac of ['deploy/kubernetes/rbac.yaml', 'deploy/kubernetes/injector/rbac.yaml']) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.resolve(__dirname, '../../..', rbac), 'utf8'))) {
      const obj = doc.toJS() as { kind: string; metadata: { name: string }; subjects?: { name: string; namespace: string }[] };
      for (const s of obj.subjects ?? []) subjects.add(`${s.namespace}/${s.name}`);
      await apply(a, `/apis/rbac.authorization.k8s.io/v1/${obj.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings'}`, obj);
    }
  }
  assert.equal(subjects.size, 1, `both RBAC files bind one identity, got ${[...subjects].join(', ')}`);
  const [namespace, name] = [...subjects][0]!.split('/') as [string, string];
  const subject = { namespace, name };
  await ensure(a, '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: subject.namespace } });
  await ensure(a, `/api/v1/namespaces/${subject.namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: subject.name } });
  const tr = await a.create(`/api/v1/namespaces/${subject.namespace}/serviceaccounts/${subject.name}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 600 },
  });
  const kc = parseYaml(fs.readFileSync(adminKubeconfig, 'utf8')) as { users: { name: string; user: unknown }[] };
  kc.users = [{ name: kc.users[0]!.name, user: { token: (tr['status'] as { token: string }).token } }];
  const file = path.join(tmp, 'injector.kubeconfig');
  fs.writeFileSync(file, stringify(kc), { mode: 0o600 });
  return file;
}

function ready(t: TestContext): Admin | undefined {
  if (admin === undefined) t.skip(skipReason);
  return admin;
}

async function namespace(a: Admin, labels: Record<string, string>, annotations: Record<string, string> = {}): Promise<string> {
  const ns = `weft-inj-${run}-${++nsCount}`;
  await a.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels, annotations } });
  // No controller makes the default ServiceAccount here, and the ServiceAccount admission needs the pod's to exist.
  await a.create(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web' } });
  return ns;
}

const podManifest = (name: string, annotations: Record<string, string> = {}): object => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { app: 'web' }, annotations },
  spec: {
    serviceAccountName: 'web',
    automountServiceAccountToken: false,
    containers: [{ name: 'app', image: 'example.invalid/web:1' }],
  },
});

async function secretsOf(a: Admin, ns: string): Promise<string[]> {
  const list = (await a.ok('GET', `/api/v1/namespaces/${ns}/secrets`)) as { items: { metadata: { name: string } }[] };
  return list.items.map((s) => s.metadata.name).sort();
}

/** The API server picks a new webhook configuration up from its informer: wait until a dry-run pod comes back injected. */
async function webhookActive(a: Admin, ns: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const pod = (await a.create(`/api/v1/namespaces/${ns}/pods?dryRun=All`, podManifest(`probe-${Date.now()}`))) as unknown as Pod;
    if (pod.spec.containers.some((c) => c.name === 'envoy')) return;
    if (Date.now() > deadline) assert.fail('the API server did not call the webhook within 15 s of its registration');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function postToWebhook(body: string, contentType = 'application/json'): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: injector.port, path: '/mutate-pod-creation', method: 'POST', ca: weft!.certificates!.trustBundle().join('\n'), headers: { 'Content-Type': contentType } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** One SotW request on Weft's ADS as the proxy whose files these are; resolves with the first response. */
async function adsRequest(files: { ca: string; key: string; cert: string }, nodeId: string, typeUrl: string): Promise<{ typeUrl: string; versionInfo: string }> {
  const request = envoyType('envoy.service.discovery.v3.DiscoveryRequest');
  const response = envoyType('envoy.service.discovery.v3.DiscoveryResponse');
  const client = new grpc.Client(
    `127.0.0.1:${weft!.xdsAddress.port}`,
    grpc.credentials.createSsl(Buffer.from(files.ca), Buffer.from(files.key), Buffer.from(files.cert)),
  );
  try {
    return await new Promise((resolve, reject) => {
      const call = client.makeBidiStreamRequest(
        '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
        (r: Record<string, unknown>) => Buffer.from(request.encode(request.fromObject(r)).finish()),
        (b: Buffer) => response.toObject(response.decode(b)) as { typeUrl: string; versionInfo: string },
      );
      const timer = setTimeout(() => reject(new Error('no ADS response within 5 s')), 5_000);
      call.on('data', (r: { typeUrl: string; versionInfo: string }) => {
        clearTimeout(timer);
        resolve(r);
        call.cancel();
      });
      call.on('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
      call.write({ node: { id: nodeId }, typeUrl });
    });
  } finally {
    client.close();
  }
}

describe('sidecar injector against a real kube-apiserver', () => {
  let injectedNs = '';
  let injected: Pod | undefined;

  it('registers itself with the mesh CA bundle and injects a pod of a monitored namespace', async (t) => {
    const a = ready(t);
    if (a === undefined) return;
    const mwc = (await a.ok('GET', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${webhookName}`)) as {
      webhooks: { clientConfig: { url: string; caBundle: string }; failurePolicy: string }[];
    };
    const hook = mwc.webhooks[0]!;
    assert.equal(hook.clientConfig.url, `https://127.0.0.1:${injector.port}/mutate-pod-creation`);
    assert.equal(hook.failurePolicy, 'Fail');
    const bundle = weft!.certificates!.trustBundle();
    assert.equal(Buffer.from(hook.clientConfig.caBundle, 'base64').toString('utf8').trim(), bundle.map((p) => p.trim()).join('\n'));

    injectedNs = await namespace(a, { [MONITORED]: mesh });
    await webhookActive(a, injectedNs);
    const before = await secretsOf(a, injectedNs);
    assert.deepEqual(before, [], 'dry-run admissions write no Secret');

    const t0 = performance.now();
    await a.create(`/api/v1/namespaces/${injectedNs}/pods`, podManifest('web-1'));
    const createMs = performance.now() - t0;
    const pod = (await a.ok('GET', `/api/v1/namespaces/${injectedNs}/pods/web-1`)) as unknown as Pod;
    injected = pod;
    t.diagnostic(`pod create through the webhook (issue + Secret + patch): ${createMs.toFixed(1)} ms`);

    const uuid = pod.metadata.labels?.['osm-proxy-uuid'] ?? '';
    assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'label osm-proxy-uuid is a random uuid');
    assert.equal(pod.metadata.labels?.['app'], 'web', "the pod's own labels stay");
    const init = pod.spec.initContainers?.find((c) => c.name === 'osm-init');
    assert.ok(init, 'the iptables init container is there');
    const script = init.command?.join(' ') ?? '';
    for (const rule of ['--to-port 15001', '--to-port 15003', '--uid-owner 1500 -j RETURN', '--dport 15128 -j RETURN']) assert.ok(script.includes(rule), `init script has ${rule}`);
    assert.deepEqual(init.securityContext?.capabilities?.add, ['NET_ADMIN', 'NET_RAW']);
    assert.deepEqual(pod.spec.containers.map((c) => c.name), ['app', 'envoy']);
    const envoy = pod.spec.containers[1]!;
    assert.equal(envoy.image, 'envoyproxy/envoy:v1.31-latest');
    assert.equal(envoy.securityContext?.['runAsUser'], 1500);
    assert.deepEqual(envoy.volumeMounts?.find((m) => m.name === 'envoy-bootstrap-config-volume')?.mountPath, '/etc/weft-proxy');
    assert.equal(pod.spec.volumes?.find((v) => v.name === 'envoy-bootstrap-config-volume')?.secret?.secretName, `envoy-bootstrap-config-${uuid}`);

    // The Secret: a certificate naming the proxy, signed by the mesh root, with its key and the bootstrap.
    const secret = (await a.ok('GET', `/api/v1/namespaces/${injectedNs}/secrets/envoy-bootstrap-config-${uuid}`)) as { data: Record<string, string> };
    const file = (k: string): string => Buffer.from(secret.data[k] ?? '', 'base64').toString('utf8');
    const leaf = new X509Certificate(file('tls.crt'));
    assert.equal(leaf.subject, `CN=${uuid}.envoy.web.${injectedNs}.cluster.local`);
    assert.equal(leaf.subjectAltName, `URI:spiffe://cluster.local/ns/${injectedNs}/sa/web`);
    const root = new X509Certificate(bundle[0]!);
    assert.ok(leaf.checkIssued(root) && leaf.verify(root.publicKey), 'the certificate verifies against the mesh root');
    assert.ok(leaf.checkPrivateKey(createPrivateKey(file('tls.key'))), 'tls.key is the key of tls.crt');
    assert.equal(file('ca.crt').trim(), bundle.map((p) => p.trim()).join('\n'));
    const bootstrap = JSON.parse(file('bootstrap.json')) as { node: { id: string }; staticResources: { clusters: { loadAssignment: unknown; transportSocket: unknown }[] } };
    assert.equal(bootstrap.node.id, uuid);
    const ads = JSON.stringify(bootstrap.staticResources.clusters[0]);
    assert.ok(ads.includes('"address":"weft.example.svc"') && ads.includes('"portValue":15128'), `the bootstrap dials the configured ADS address: ${ads}`);
    for (const f of ['tls.crt', 'tls.key', 'ca.crt']) assert.ok(ads.includes(`/etc/weft-proxy/${f}`), `the bootstrap reads ${f} from the mounted Secret`);

    // The key never goes to the logs or the event log.
    const keyBody = file('tls.key').split('\n').filter((l) => l !== '' && !l.startsWith('-----')).join('');
    assert.ok(keyBody.length > 40);
    assert.ok(!JSON.stringify(logger.records).includes(keyBody.slice(0, 40)), 'the key is not in the logs');
    assert.ok(logger.records.some((r) => r.msg === 'sidecar injected' && r['uuid'] === uuid), 'the injection is logged');
    // The injected pod is a proxy of the mesh: the source sees its uuid, and the Secret's certificate and the
    // bootstrap's node.id open an ADS stream to Weft (dialled on 127.0.0.1, where the test's Weft listens).
    const deadline = Date.now() + 10_000;
    while (weft!.catalog.lookup('workloadByProxyUuid', uuid).length === 0) {
      if (Date.now() > deadline) assert.fail(`the Kubernetes source never reported a workload with proxy uuid ${uuid}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(weft!.catalog.lookup('workloadByProxyUuid', uuid), [`${injectedNs}/web-1`]);
    const cds = await adsRequest(
      { ca: file('ca.crt'), key: file('tls.key'), cert: file('tls.crt') },
      bootstrap.node.id,
      'type.googleapis.com/envoy.config.cluster.v3.Cluster',
    );
    assert.equal(cds.typeUrl, 'type.googleapis.com/envoy.config.cluster.v3.Cluster', 'Weft answered the injected proxy over mTLS');

    for await (const batch of weft!.log.read(0)) assert.ok(!JSON.stringify(batch).includes(keyBody.slice(0, 40)), 'the key is not on the event log');
  });

  it("rewrites the pod's probes to the sidecar (the API server accepts the result), serves the originals from the bootstrap, and writes the exclusion annotations into the iptables rules", async (t) => {
    const a = ready(t);
    if (a === undefined) return;
    assert.ok(injectedNs !== '', 'runs after the injection test');
    await a.create(`/api/v1/namespaces/${injectedNs}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'web-probed',
        annotations: {
          'openservicemesh.io/outbound-ip-range-exclusion-list': '10.0.0.0/8, 169.254.169.254/32',
          'openservicemesh.io/outbound-port-exclusion-list': '6379,3306',
          'openservicemesh.io/inbound-port-exclusion-list': '8081',
        },
      },
      spec: {
        serviceAccountName: 'web',
        automountServiceAccountToken: false,
        containers: [
          {
            name: 'app',
            image: 'example.invalid/web:1',
            ports: [{ name: 'http', containerPort: 8080 }],
            livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, timeoutSeconds: 3 },
            readinessProbe: { tcpSocket: { port: 8080 } },
            startupProbe: { httpGet: { path: '/up', port: 8443, scheme: 'HTTPS' } },
          },
        ],
      },
    });
    type Probe = { httpGet?: { path?: string; port: number | string; scheme?: string; httpHeaders?: { name: string; value: string }[] }; tcpSocket?: unknown; timeoutSeconds?: number };
    const pod = (await a.ok('GET', `/api/v1/namespaces/${injectedNs}/pods/web-probed`)) as unknown as Pod & {
      spec: { containers: { name: string; livenessProbe?: Probe; readinessProbe?: Probe; startupProbe?: Probe; ports?: { name?: string; containerPort: number }[] }[] };
    };
    assert.deepEqual(pod.spec.containers.map((c) => c.name), ['app', 'osm-healthcheck', 'envoy']);
    const app = pod.spec.containers[0]!;
    assert.deepEqual(app.livenessProbe?.httpGet, { path: '/osm-liveness-probe/app', port: 15901, scheme: 'HTTP' });
    assert.equal(app.livenessProbe?.timeoutSeconds, 3);
    assert.deepEqual(app.readinessProbe?.httpGet, { path: '/osm-healthcheck', port: 15904, scheme: 'HTTP', httpHeaders: [{ name: 'Original-Tcp-Port', value: '8080' }] });
    assert.equal(app.readinessProbe?.tcpSocket, undefined);
    assert.deepEqual(app.startupProbe?.httpGet, { path: '/up', port: 15903, scheme: 'HTTPS' });
    const envoyPorts = pod.spec.containers[2]!.ports?.map((p) => p.containerPort);
    assert.deepEqual(envoyPorts, [15000, 15001, 15003, 15010, 15901, 15903]);
    const script = pod.spec.initContainers?.find((c) => c.name === 'osm-init')?.command?.join(' ') ?? '';
    for (const rule of [
      '-A OSM_PROXY_OUTBOUND -d 10.0.0.0/8 -j RETURN',
      '-A OSM_PROXY_OUTBOUND -d 169.254.169.254/32 -j RETURN',
      '-A OSM_PROXY_OUTBOUND -p tcp --match multiport --dports 6379,3306 -j RETURN',
      '-A OSM_PROXY_INBOUND -p tcp --match multiport --dports 8081 -j RETURN',
      '-A OSM_PROXY_OUTBOUND -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1500 -j OSM_PROXY_IN_REDIRECT',
      '-A OSM_PROXY_INBOUND -p tcp --dport 15901 -j RETURN',
    ]) {
      assert.ok(script.includes(rule), `init script has ${rule}`);
    }
    const uuid = pod.metadata.labels?.['osm-proxy-uuid'] ?? '';
    const secret = (await a.ok('GET', `/api/v1/namespaces/${injectedNs}/secrets/envoy-bootstrap-config-${uuid}`)) as { data: Record<string, string> };
    const bootstrap = JSON.parse(Buffer.from(secret.data['bootstrap.json'] ?? '', 'base64').toString('utf8')) as {
      staticResources: { listeners: { name: string }[]; clusters: { name: string; loadAssignment: { endpoints: { lbEndpoints: { endpoint: { address: { socketAddress: { portValue: number } } } }[] }[] } }[] };
    };
    assert.deepEqual(bootstrap.staticResources.listeners.map((l) => l.name), ['liveness_listener', 'startup_listener']);
    assert.deepEqual(
      bootstrap.staticResources.clusters.slice(1).map((c) => [c.name, c.loadAssignment.endpoints[0]!.lbEndpoints[0]!.endpoint.address.socketAddress.portValue]),
      [['app_liveness_cluster', 8080], ['app_startup_cluster', 8443]],
    );
  });

  it('refuses a pod whose exclusion annotation is not valid, naming the annotation, and writes no Secret', async (t) => {
    const a = ready(t);
    if (a === undefined) return;
    const ns = await namespace(a, { [MONITORED]: mesh });
    const answer = await a.request('POST', `/api/v1/namespaces/${ns}/pods`, podManifest('web-bad', { 'openservicemesh.io/outbound-port-exclusion-list': '6379,redis' }));
    assert.equal(answer.status, 400, JSON.stringify(answer.body));
    assert.match(
      String(answer.body['message']),
      new RegExp(`admission webhook "sidecar-injector\\.${mesh}\\.weft\\.dev" denied the request: the sidecar injector cannot inject this pod: metadata\\.annotations\\[openservicemesh\\.io/outbound-port-exclusion-list\\]: "redis" is not a port`),
    );
    assert.equal((await a.request('GET', `/api/v1/namespaces/${ns}/pods/web-bad`)).status, 404);
    assert.deepEqual(await secretsOf(a, ns), []);
  });

  it('leaves a pod of an unmonitored namespace, of an opted-out namespace and an opted-out pod unchanged', async (t) => {
    const a = ready(t);
    if (a === undefined) return;
    assert.ok(injectedNs !== '', 'runs after the injection test');
    const plain = await namespace(a, {});
    const optedOutNs = await namespace(a, { [MONITORED]: mesh }, { [OPT_OUT]: 'disabled' });
    const created: [string, string][] = [
      [plain, 'web-plain'],
      [optedOutNs, 'web-ns-out'],
      [injectedNs, 'web-pod-out'],
    ];
    const secretsBefore = await secretsOf(a, injectedNs);
    for (const [ns, name] of created) {
      await a.create(`/api/v1/namespaces/${ns}/pods`, podManifest(name, name === 'web-pod-out' ? { [OPT_OUT]: 'disabled' } : {}));
      const pod = (await a.ok('GET', `/api/v1/namespaces/${ns}/pods/${name}`)) as unknown as Pod;
      assert.equal(pod.metadata.labels?.['osm-proxy-uuid'], undefined, `${ns}/${name} has no proxy uuid`);
      assert.deepEqual(pod.spec.containers.map((c) => c.name), ['app'], `${ns}/${name} has no sidecar`);
      assert.equal(pod.spec.initContainers, undefined, `${ns}/${name} has no init container`);
      assert.equal(pod.spec.volumes, undefined, `${ns}/${name} has no proxy volume`);
    }
    assert.deepEqual(await secretsOf(a, plain), []);
    assert.deepEqual(await secretsOf(a, optedOutNs), []);
    assert.deepEqual(await secretsOf(a, injectedNs), secretsBefore, 'no Secret for the opted-out pod');
  });

  it('gives every pod its own uuid and Secret (and measures the cost of a create through the webhook)', async (t) => {
    const a = ready(t);
    if (a === undefined) return;
    const plain = await namespace(a, {});
    const time = async (ns: string, name: string): Promise<{ ms: number; pod: Pod }> => {
      const t0 = performance.now();
      const pod = (await a.create(`/api/v1/namespaces/${ns}/pods`, podManifest(name))) as unknown as Pod;
      return { ms: performance.now() - t0, pod };
    };
    const injectedMs: number[] = [];
    const plainMs: number[] = [];
    const uuids = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const r = await time(injectedNs, `many-${i}`);
      injectedMs.push(r.ms);
      uuids.add(r.pod.metadata.labels?.['osm-proxy-uuid'] ?? '');
      plainMs.push((await time(plain, `many-${i}`)).ms);
    }
    assert.equal(uuids.size, 10, 'ten distinct uuids');
    const secrets = await secretsOf(a, injectedNs);
    for (const u of uuids) assert.ok(secrets.includes(`envoy-bootstrap-config-${u}`), `Secret of ${u}`);
    const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    t.diagnostic(
      `pod create, median of 10: ${median(injectedMs).toFixed(1)} ms through the webhook (max ${Math.max(...injectedMs).toFixed(1)}), ` +
        `${median(plainMs).toFixed(1)} ms without (max ${Math.max(...plainMs).toFixed(1)})`,
    );
  });

  it('a second admission of an injected pod changes nothing', async (t) => {
    const a = ready(t);
    if (a === undefined) return;
    assert.ok(injected !== undefined, 'runs after the injection test');
    const secretsBefore = await secretsOf(a, injectedNs);
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'second-admission',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        operation: 'CREATE',
        namespace: injectedNs,
        name: 'web-1-again',
        object: { ...injected, metadata: { ...injected.metadata, name: 'web-1-again' } },
      },
    };
    const answer = await postToWebhook(JSON.stringify(review));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body['response'], { uid: 'second-admission', allowed: true });
    assert.deepEqual(await secretsOf(a, injectedNs), secretsBefore, 'no new Secret');
  });

  it('answers a malformed AdmissionReview with a 400 naming the problem, and keeps serving', async (t) => {
    const a = ready(t);
    if (a === undefined) return;
    const cases: [string, RegExp][] = [
      ['{not json', /not JSON/],
      ['[]', /JSON object/],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {} }), /admission\.k8s\.io\/v1/],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /request is missing/],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 7 } }), /request\.uid must be a string/],
      [
        JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'x', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: injectedNs || 'default', object: { spec: {} } } }),
        /spec\.containers is missing/,
      ],
    ];
    for (const [body, message] of cases) {
      const answer = await postToWebhook(body);
      assert.equal(answer.status, 400, `400 for ${body}`);
      assert.match(String(answer.body['message']), message);
      assert.equal(answer.body['kind'], 'Status');
    }
    assert.equal((await postToWebhook('{}', 'text/plain')).status, 415);
    // Still serving: the API server's pods still get their sidecar.
    const ns = await namespace(a, { [MONITORED]: mesh });
    const pod = (await a.create(`/api/v1/namespaces/${ns}/pods`, podManifest('after-garbage'))) as unknown as Pod;
    assert.ok(pod.spec.containers.some((c) => c.name === 'envoy'));
  });
});

describe('bootstrap Secret collection', () => {
  let gcNs = '';
  let staysSecret = '';
  const secret = (name: string, labels: Record<string, string>): object => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, labels },
    stringData: { 'tls.key': 'not a key' },
  });
  async function waitGone(a: Admin, ns: string, name: string, withinMs: number): Promise<number> {
    const t0 = performance.now();
    while ((await secretsOf(a, ns)).includes(name)) {
      if (performance.now() - t0 > withinMs) assert.fail(`Secret ${ns}/${name} still there after ${withinMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return performance.now() - t0;
  }

  it("deletes a deleted pod's Secret within seconds; a pod that exists keeps its Secret", async (t) => {
    const a = ready(t);
    if (a === undefined) return;
    gcNs = await namespace(a, { [MONITORED]: mesh });
    await webhookActive(a, gcNs);
    const gone = (await a.create(`/api/v1/namespaces/${gcNs}/pods`, podManifest('gc-gone'))) as unknown as Pod;
    const stays = (await a.create(`/api/v1/namespaces/${gcNs}/pods`, podManifest('gc-stays'))) as unknown as Pod;
    const goneUuid = gone.metadata.labels?.[UUID_LABEL] ?? '';
    const staysUuid = stays.metadata.labels?.[UUID_LABEL] ?? '';
    assert.ok(goneUuid !== '' && staysUuid !== '', 'both pods were injected');
    const goneSecret = `envoy-bootstrap-config-${goneUuid}`;
    staysSecret = `envoy-bootstrap-config-${staysUuid}`;
    assert.deepEqual((await secretsOf(a, gcNs)).filter((n) => n === goneSecret || n === staysSecret).sort(), [goneSecret, staysSecret].sort());
    const key = Buffer.from(((await a.ok('GET', `/api/v1/namespaces/${gcNs}/secrets/${goneSecret}`)) as { data: Record<string, string> }).data['tls.key'] ?? '', 'base64')
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('-----'))
      .join('');

    await a.ok('DELETE', `/api/v1/namespaces/${gcNs}/pods/gc-gone`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
    const ms = await waitGone(a, gcNs, goneSecret, 5_000);
    t.diagnostic(`pod deleted -> its Secret deleted: ${ms.toFixed(0)} ms`);
    assert.ok((await secretsOf(a, gcNs)).includes(staysSecret), 'the Secret of the pod that exists stays');
    const record = logger.records.find((r) => r.msg === 'proxy bootstrap Secret deleted' && r['uuid'] === goneUuid);
    assert.ok(record !== undefined, 'the deletion is logged');
    assert.equal(record['namespace'], gcNs);
    assert.equal(record['secret'], goneSecret);
    assert.match(String(record['reason']), /pod .*gc-gone was deleted/);
    assert.ok(key.length > 40 && !JSON.stringify(logger.records).includes(key.slice(0, 40)), 'the key is not logged');
  });

  it('sweeps a Secret without a pod once it is older than the grace period, keeps a young one and never touches Secrets it did not make', async (t) => {
    const a = ready(t);
    if (a === undefined) return;
    assert.ok(gcNs !== '', 'runs after the pod deletion test');
    const uuid = (): string => crypto.randomUUID();
    const orphanUuid = uuid();
    const orphan = `envoy-bootstrap-config-${orphanUuid}`;
    // Another mesh's Secret for a uuid one character off (never the orphan's own: that would be a 409).
    const otherMesh = orphanUuid.replace(/^./, orphanUuid.startsWith('f') ? 'e' : 'f');
    const created = performance.now();
    // What a failed admission leaves: the injector's Secret, no pod.
    await a.create(`/api/v1/namespaces/${gcNs}/secrets`, secret(orphan, { [UUID_LABEL]: orphanUuid, [MONITORED]: mesh }));
    const foreign = [
      secret(`envoy-bootstrap-config-${uuid()}`, {}),
      secret('app-credentials', { [UUID_LABEL]: uuid(), [MONITORED]: mesh }),
      secret(`envoy-bootstrap-config-${otherMesh}`, { [UUID_LABEL]: otherMesh, [MONITORED]: `${mesh}-other` }),
    ] as { metadata: { name: string } }[];
    for (const s of foreign) await a.create(`/api/v1/namespaces/${gcNs}/secrets`, s);
    // A pod of the injector's uuid label outside the mesh, with a Secret of its name but without the mesh label.
    const outside = await namespace(a, {});
    const outsideUuid = uuid();
    await a.create(`/api/v1/namespaces/${outside}/secrets`, secret(`envoy-bootstrap-config-${outsideUuid}`, { [UUID_LABEL]: outsideUuid }));
    const manifest = podManifest('labelled') as { metadata: { labels: Record<string, string> } };
    manifest.metadata.labels[UUID_LABEL] = outsideUuid;
    await a.create(`/api/v1/namespaces/${outside}/pods`, manifest);
    await a.ok('DELETE', `/api/v1/namespaces/${outside}/pods/labelled`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });

    const young = await injector.sweepSecrets();
    assert.ok(young !== undefined, 'the injector runs');
    assert.ok(!young.deleted.includes(`${gcNs}/${orphan}`), 'a Secret younger than the grace period is kept');
    assert.ok((await secretsOf(a, gcNs)).includes(orphan));
    assert.ok(young.kept >= 2, `the young orphan and the Secret of gc-stays are kept (kept ${young.kept})`);

    // The periodic sweep (every second) takes it once it is older than the grace period.
    await waitGone(a, gcNs, orphan, GRACE_MS + 5_000);
    const ms = performance.now() - created;
    t.diagnostic(`orphaned Secret swept ${ms.toFixed(0)} ms after its creation (grace period ${GRACE_MS} ms, sweep every 1000 ms)`);
    assert.ok(ms >= GRACE_MS, `not swept before the grace period (${ms.toFixed(0)} ms)`);
    const record = logger.records.find((r) => r.msg === 'proxy bootstrap Secret deleted' && r['uuid'] === orphanUuid);
    assert.match(String(record?.['reason']), /no pod in its namespace has uuid/);

    const after = await injector.sweepSecrets();
    assert.ok(after !== undefined);
    assert.equal(after.failed, 0);
    const left = await secretsOf(a, gcNs);
    for (const s of foreign) assert.ok(left.includes(s.metadata.name), `${s.metadata.name} (not the injector's) is untouched`);
    assert.ok(left.includes(staysSecret), 'the Secret of gc-stays, a pod that exists, stays past the grace period');
    assert.deepEqual(await secretsOf(a, outside), [`envoy-bootstrap-config-${outsideUuid}`], 'a Secret without the mesh label is untouched when its pod goes');
  });
});
