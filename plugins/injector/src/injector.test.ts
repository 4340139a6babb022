/**
 * The injector's own logic without an API server: config validation, one admission against a recording
 * Kubernetes fake and a real in-memory CA, and the HTTPS server's answers to bad requests and failures.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as https from 'node:https';
import { after, before, describe, it } from 'node:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DependencyContainer } from 'tsyringe';
import {
  captureLogger,
  ConfigError,
  PluginConfigError,
  servingCertificateRequest,
  silentLogger,
  Tokens,
  type CertificateIssuer,
  type ProxyAdapter,
  type SourceSink,
} from '@weft/core';
import { loadConfiguredPlugins, normalizeConfig } from '@weft/core/testing';
import { AdmissionReviewError, type AdmissionRequest } from './admission.js';
import { validateInjectorConfig } from './config.js';
import { SidecarInjector } from './injector.js';
import { KubernetesApiError } from '@weft/kube-client';
import { type InjectorKube } from './cluster.js';
import { InjectorSource } from './source.js';
import { DEFAULT_INJECTION_OPTIONS } from './patch.js';
import { WebhookServer } from './server.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-injector-unit-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let runs = 0;

/** The CA and Envoy plugins as Weft loads them (by package name, through the core), each time a fresh CA. */
async function plugins(names: readonly string[] = ['@weft/plugin-ca-local', '@weft/plugin-envoy']): Promise<{ container: DependencyContainer; ca: CertificateIssuer | undefined; envoy: ProxyAdapter | undefined }> {
  const dir = path.join(tmp, String(++runs));
  const config = normalizeConfig(
    { log: 'memory:', dataDir: dir, plugins: names.map((name) => ({ name })) },
    { file: path.join(dir, 'weft.yaml'), label: 'weft.yaml', configDir: dir },
  );
  const { container } = await loadConfiguredPlugins(config, silentLogger);
  const adapters = container.isRegistered(Tokens.ProxyAdapter, true) ? container.resolveAll<ProxyAdapter>(Tokens.ProxyAdapter) : [];
  const issuers = container.isRegistered(Tokens.CertificateIssuer, true) ? container.resolveAll<CertificateIssuer>(Tokens.CertificateIssuer) : [];
  return { container, ca: issuers[0], envoy: adapters.find((a) => a.kind === 'envoy') };
}

describe('config', () => {
  it('has defaults for every field', () => {
    const c = validateInjectorConfig(undefined);
    assert.equal(c.meshName, 'osm');
    assert.deepEqual(c.xds, { host: 'weft.osm.svc', port: 15128 });
    assert.equal(c.failurePolicy, 'Fail');
    assert.equal(c.sidecarImage, 'envoyproxy/envoy:v1.31-latest');
    assert.equal(c.listenPort, 9443);
    assert.equal(c.webhookName, 'weft-sidecar-injector-osm');
    assert.equal(c.proxyCertificateValidityMs, undefined);
    assert.equal(c.healthcheckImage, 'openservicemesh/osm-healthcheck:v1.2.0');
    assert.equal(validateInjectorConfig({ healthcheckImage: 'registry.example/osm-healthcheck:v1.2.0' }).healthcheckImage, 'registry.example/osm-healthcheck:v1.2.0');
    assert.equal(validateInjectorConfig({ proxyCertificateValidity: '720h' }).proxyCertificateValidityMs, 720 * 3600_000);
  });
  it('names the bad field', () => {
    const bad: [unknown, string][] = [
      [{ xds: 'weft' }, 'xds'],
      [{ failurePolicy: 'Sometimes' }, 'failurePolicy'],
      [{ meshName: 'My_Mesh' }, 'meshName'],
      [{ listenPort: 70000 }, 'listenPort'],
      [{ webhookUrl: 'http://127.0.0.1/x' }, 'webhookUrl'],
      [{ service: { port: 0 } }, 'service.port'],
      [{ sidecarImg: 'x' }, 'sidecarImg'],
      [{ proxyCertificateValidity: '10 days' }, 'proxyCertificateValidity'],
      [{ healthcheckImage: 7 }, 'healthcheckImage'],
      [[], ''],
    ];
    for (const [raw, path] of bad) {
      assert.throws(() => validateInjectorConfig(raw), (err: unknown) => err instanceof PluginConfigError && err.path === path, JSON.stringify(raw));
    }
  });
});

const request = (over: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  uid: 'u1',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  operation: 'CREATE',
  namespace: 'shop',
  name: 'web',
  object: { metadata: { name: 'web' }, spec: { serviceAccountName: 'web', containers: [{ name: 'app', image: 'x' }] } },
  dryRun: false,
  ...over,
});

describe('SidecarInjector', () => {
  let ca: CertificateIssuer;
  let envoy: ProxyAdapter;
  before(async () => {
    const loaded = await plugins();
    ca = loaded.ca!;
    envoy = loaded.envoy!;
  });

  function make(
    fail?: Error,
    validityMs?: number,
    meshConfig?: () => Promise<unknown>,
  ): { injector: SidecarInjector; secrets: Record<string, unknown>[]; logger: ReturnType<typeof captureLogger>; issued: () => number } {
    const secrets: Record<string, unknown>[] = [];
    let issued = 0;
    const issuer = { name: ca.name, trustBundle: () => ca.trustBundle(), issue: (r: Parameters<CertificateIssuer['issue']>[0]) => (issued++, ca.issue(r)) };
    const logger = captureLogger('debug');
    const injector = new SidecarInjector({
      injection: DEFAULT_INJECTION_OPTIONS,
      kube: {
        getNamespace: async () => ({ metadata: { labels: { 'openservicemesh.io/monitored-by': 'osm' } } }),
        createSecret: async (_ns, s) => {
          if (fail !== undefined) throw fail;
          secrets.push(s);
        },
      },
      issuer,
      adapter: envoy,
      trustDomain: 'cluster.local',
      xds: { host: 'weft.osm.svc', port: 15128 },
      logger,
      uuid: () => '0f0f0f0f-0000-4000-8000-000000000001',
      ...(validityMs === undefined ? {} : { proxyCertificateValidityMs: validityMs }),
      ...(meshConfig === undefined ? {} : { meshConfig }),
    });
    return { injector, secrets, logger, issued: () => issued };
  }

  it('issues the proxy certificate, writes the Secret and answers with the patch; the key is never logged', async () => {
    const { injector, secrets, logger } = make(undefined, 72 * 3600_000);
    const { review, uuid } = await injector.admit(request());
    assert.equal(uuid, '0f0f0f0f-0000-4000-8000-000000000001');
    const response = review['response'] as { allowed: boolean; patchType: string; patch: string };
    assert.equal(response.allowed, true);
    assert.equal(response.patchType, 'JSONPatch');
    const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as { path: string }[];
    assert.deepEqual(ops.map((o) => o.path), ['/metadata/labels', '/spec/initContainers', '/spec/containers/-', '/spec/volumes']);
    assert.equal(secrets.length, 1);
    const data = (secrets[0] as { stringData: Record<string, string> }).stringData;
    const leaf = new X509Certificate(data['tls.crt']!);
    assert.equal(leaf.subject, `CN=${uuid}.envoy.web.shop.cluster.local`);
    const hours = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 3600_000;
    assert.ok(hours >= 72 && hours < 73, `the configured validity (72 h) is asked for, got ${hours} h`);
    const key = data['tls.key']!;
    assert.match(key, /PRIVATE KEY/);
    assert.ok(!JSON.stringify(logger.records).includes(key.split('\n')[1]!), 'the key is not logged');
  });

  it('a dry run gets the patch but issues nothing and writes nothing', async () => {
    const { injector, secrets, issued } = make();
    const { review } = await injector.admit(request({ dryRun: true }));
    assert.ok((review['response'] as { patch?: string }).patch !== undefined);
    assert.equal(secrets.length, 0);
    assert.equal(issued(), 0);
  });

  it('other operations and other kinds', async () => {
    const { injector } = make();
    assert.deepEqual((await injector.admit(request({ operation: 'UPDATE' }))).review['response'], { uid: 'u1', allowed: true });
    await assert.rejects(injector.admit(request({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' } })), AdmissionReviewError);
    await assert.rejects(injector.admit(request({ object: { spec: { containers: 'app' } } })), /spec\.containers is missing/);
  });

  const probed = (): Record<string, unknown> => ({
    metadata: { name: 'web', annotations: { 'openservicemesh.io/outbound-port-exclusion-list': '6379' } },
    spec: {
      serviceAccountName: 'web',
      containers: [
        { name: 'app', image: 'x', livenessProbe: { httpGet: { path: '/healthz', port: 8080 } }, readinessProbe: { tcpSocket: { port: 8080 } } },
      ],
    },
  });

  it('rewrites the probes, puts the originals in the bootstrap, and applies the MeshConfig and annotation exclusions', async () => {
    let asked = 0;
    const meshConfig = async (): Promise<unknown> => (asked++, { spec: { traffic: { outboundIPRangeExclusionList: ['169.254.169.254/32'] } } });
    const { injector, secrets } = make(undefined, undefined, meshConfig);
    const { review } = await injector.admit(request({ object: probed() }));
    assert.equal(asked, 1);
    const response = review['response'] as { allowed: boolean; patch: string };
    const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as { op: string; path: string; value: Record<string, unknown> }[];
    assert.deepEqual(ops.map((o) => `${o.op} ${o.path}`), [
      'add /metadata/labels',
      'replace /spec/containers/0/livenessProbe',
      'replace /spec/containers/0/readinessProbe',
      'add /spec/initContainers',
      'add /spec/containers/-',
      'add /spec/containers/-',
      'add /spec/volumes',
    ]);
    assert.deepEqual(ops[1]!.value, { httpGet: { path: '/osm-liveness-probe/app', port: 15901 } });
    assert.deepEqual(ops[2]!.value, { httpGet: { path: '/osm-healthcheck', port: 15904, httpHeaders: [{ name: 'Original-Tcp-Port', value: '8080' }] } });
    const script = JSON.stringify(ops[3]!.value);
    assert.match(script, /-A OSM_PROXY_OUTBOUND -d 169.254.169.254\/32 -j RETURN/);
    assert.match(script, /--dports 6379 -j RETURN/);
    assert.equal((ops[4]!.value as { name: string }).name, 'osm-healthcheck');
    const bootstrap = JSON.parse((secrets[0] as { stringData: Record<string, string> }).stringData['bootstrap.json']!) as { staticResources: { listeners: { name: string }[]; clusters: { name: string }[] } };
    assert.deepEqual(bootstrap.staticResources.listeners.map((l) => l.name), ['liveness_listener']);
    assert.deepEqual(bootstrap.staticResources.clusters.map((c) => c.name), ['osm-controller', 'app_liveness_cluster']);
  });

  it('a bad exclusion annotation or MeshConfig list refuses the pod (allowed: false, the field named), dry run too, with no certificate or Secret', async () => {
    for (const dryRun of [false, true]) {
      const { injector, secrets, issued, logger } = make();
      const pod = probed();
      (pod['metadata'] as { annotations: Record<string, string> }).annotations['openservicemesh.io/outbound-ip-range-exclusion-list'] = '10.0.0.0/8,10.1.2.3';
      const response = (await injector.admit(request({ object: pod, dryRun }))).review['response'] as { allowed: boolean; status: { code: number; message: string } };
      assert.equal(response.allowed, false);
      assert.equal(response.status.code, 400);
      assert.match(response.status.message, /^the sidecar injector cannot inject this pod: metadata\.annotations\[openservicemesh\.io\/outbound-ip-range-exclusion-list\]: "10\.1\.2\.3" is not an IP range/);
      assert.equal(secrets.length, 0);
      assert.equal(issued(), 0);
      assert.ok(logger.records.some((r) => r.msg === 'pod refused'));
    }
    const { injector } = make(undefined, undefined, async () => ({ spec: { traffic: { outboundPortExclusionList: [0] } } }));
    const response = (await injector.admit(request())).review['response'] as { allowed: boolean; status: { message: string } };
    assert.equal(response.allowed, false);
    assert.match(response.status.message, /MeshConfig spec\.traffic\.outboundPortExclusionList: "0" is not a port/);
  });

  it('a failed MeshConfig read fails the admission (the webhook failurePolicy decides)', async () => {
    const { injector, secrets } = make(undefined, undefined, async () => {
      throw new KubernetesApiError('GET meshconfigs: HTTP 403: forbidden', 403);
    });
    await assert.rejects(injector.admit(request()), /meshconfigs: HTTP 403/);
    assert.equal(secrets.length, 0);
  });

  it('a failed Secret write fails the admission (the webhook failurePolicy decides)', async () => {
    const { injector } = make(new KubernetesApiError('POST secrets: HTTP 403: forbidden', 403));
    await assert.rejects(injector.admit(request()), /HTTP 403/);
  });
});

describe('WebhookServer', () => {
  let server: WebhookServer;
  let port = 0;
  let ca: CertificateIssuer;
  before(async () => {
    ca = (await plugins(['@weft/plugin-ca-local'])).ca!;
    const cert = await ca.issue(servingCertificateRequest({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }));
    server = new WebhookServer({
      path: '/mutate',
      certificate: { certPem: cert.certPem, keyPem: cert.keyPem },
      admit: async (r) => {
        if (r.uid === 'boom') throw new Error('issuer unavailable');
        return { review: { response: { uid: r.uid, allowed: true } } };
      },
      logger: captureLogger(),
    });
    port = await server.listen('127.0.0.1', 0);
  });
  after(() => server.close());

  const call = (method: string, path: string, body?: string, type = 'application/json'): Promise<{ status: number; body: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path, method, ca: ca.trustBundle().join('\n'), headers: { 'Content-Type': type } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(body);
    });

  const review = (uid: string): string =>
    JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'a', object: { spec: { containers: [] } } } });

  it('answers each kind of bad request with its status and a Status message', async () => {
    const cases: [Promise<{ status: number; body: Record<string, unknown> }>, number, RegExp][] = [
      [call('POST', '/other', '{}'), 404, /serves POST \/mutate/],
      [call('GET', '/mutate'), 405, /use POST/],
      [call('POST', '/mutate', '{}', 'text/plain'), 415, /application\/json/],
      [call('POST', '/mutate', 'x'.repeat(3 * 1024 * 1024 + 1)), 413, /larger than/],
      [call('POST', '/mutate', '{"apiVersion":'), 400, /not JSON/],
      [call('POST', '/mutate', review('boom')), 500, /the sidecar injector failed: issuer unavailable/],
    ];
    for (const [answer, status, message] of cases) {
      const a = await answer;
      assert.equal(a.status, status);
      assert.equal(a.body['kind'], 'Status');
      assert.match(String(a.body['message']), message);
    }
    const ok = await call('POST', '/mutate', review('fine'));
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, { response: { uid: 'fine', allowed: true } });
    assert.equal((await call('GET', '/healthz')).status, 200);
  });
});

describe('InjectorSource', () => {
  const sink: SourceSink = { append: () => assert.fail('the injector appends nothing'), known: () => new Map(), logger: silentLogger };
  const config = validateInjectorConfig({ listenHost: '127.0.0.1', listenPort: 0, webhookUrl: 'https://127.0.0.1:{port}/mutate-pod-creation' });

  function fakeKube(): InjectorKube & { applied: { webhooks: { clientConfig: { url: string; caBundle: string } }[] }[] } {
    const applied: { webhooks: { clientConfig: { url: string; caBundle: string } }[] }[] = [];
    return {
      server: 'https://fake',
      applied,
      getNamespace: async () => ({}),
      createSecret: async () => undefined,
      listMetadata: async () => ({ items: [], resourceVersion: '1' }),
      podInformer: () => ({ start: async () => undefined, stop: async () => undefined, resourceVersion: '1' }),
      deleteSecret: async () => false,
      applyWebhookConfiguration: async (c) => {
        applied.push(c as unknown as (typeof applied)[number]);
      },
    };
  }

  it('refuses to start without an issuer or without an adapter that writes bootstraps, saying what to add', async () => {
    const none = (await plugins(['@weft/plugin-envoy'])).container;
    await assert.rejects(new InjectorSource({ config, container: none, trustDomain: 'cluster.local', logger: silentLogger, kube: fakeKube() }).start(sink), (err: unknown) => err instanceof ConfigError && /plugin-ca-local/.test(err.message));
    const onlyCa = (await plugins(['@weft/plugin-ca-local'])).container;
    await assert.rejects(new InjectorSource({ config, container: onlyCa, trustDomain: 'cluster.local', logger: silentLogger, kube: fakeKube() }).start(sink), (err: unknown) => err instanceof ConfigError && /plugin-envoy/.test(err.message));
  });

  it('registers the webhook on its port with the trust bundle, and again when a root rotation changes the bundle', async () => {
    const { container, ca } = await plugins();
    assert.ok(ca?.rootRotation !== undefined, 'ca-local can rotate its root');
    const kube = fakeKube();
    const source = new InjectorSource({ config, container, trustDomain: 'cluster.local', logger: silentLogger, kube });
    await source.start(sink);
    try {
      assert.ok(source.port > 0);
      assert.equal(kube.applied.length, 1);
      const hook = kube.applied[0]!.webhooks[0]!;
      assert.equal(hook.clientConfig.url, `https://127.0.0.1:${source.port}/mutate-pod-creation`);
      const roots = (c: string): number => (Buffer.from(c, 'base64').toString('utf8').match(/BEGIN CERTIFICATE/g) ?? []).length;
      assert.equal(roots(hook.clientConfig.caBundle), 1);
      await ca.rootRotation.stage();
      const deadline = Date.now() + 2_000;
      while (kube.applied.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(kube.applied.length, 2, 'the bundle change re-registered the webhook');
      assert.equal(roots(kube.applied[1]!.webhooks[0]!.clientConfig.caBundle), 2, 'both roots during the overlap');
      await ca.rootRotation.activate();
      await ca.rootRotation.retire();
      while (kube.applied.length < 3 && Date.now() < deadline + 2_000) await new Promise((r) => setTimeout(r, 10));
      const last = kube.applied.at(-1)!.webhooks[0]!.clientConfig.caBundle;
      assert.equal(roots(last), 1, 'the old root left the caBundle');
      // What the API server now holds verifies what the webhook serves.
      const status = await new Promise<number>((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port: source.port, path: '/healthz', ca: Buffer.from(last, 'base64').toString('utf8') }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject);
      });
      assert.equal(status, 200);
    } finally {
      await source.stop();
    }
  });
});
