import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Admin, findApiServer, type ApiServerLookup } from '@weft/plugin-kubernetes/dist/testing.js';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';
import { CHART, find, helm, helmMissing, isClusterScoped, objectPath, REPO, render, type K8sObject } from './chart.js';

/**
 * The Helm chart (deploy/helm/weft), checked with Helm 4 and a real kube-apiserver: lint, what it renders
 * for each kind of install, values the schema refuses with a clear message, a server-side apply of the
 * rendered chart (CRDs included), and Weft started on the rendered weft.yaml with the pod's volumes laid
 * out as the Deployment mounts them, as the ServiceAccount the chart binds (its RBAC, nothing more).
 */

const ci = process.env['CI'] === 'true';
const run = Date.now().toString(36);
/** Unique per run: the apiserver is shared with other tests (cluster-scoped names carry the release). */
const ns = `weft-helm-${run}`;
const release = `h${run}`;

type Obj = Record<string, unknown>;
const at = (o: unknown, ...keys: (string | number)[]): unknown =>
  keys.reduce<unknown>((v, k) => (v === null || v === undefined ? undefined : (v as Record<string | number, unknown>)[k]), o);
const podSpec = (d: K8sObject): Obj => at(d, 'spec', 'template', 'spec') as Obj;
const container = (d: K8sObject, name = 'weft'): Obj => (podSpec(d)['containers'] as Obj[]).find((c) => c['name'] === name)!;
const weftYaml = (docs: K8sObject[]): Obj => parseYaml(at(find(docs, 'ConfigMap'), 'data', 'weft.yaml') as string) as Obj;
const plugin = (config: Obj, name: string): Obj | undefined =>
  (config['plugins'] as Obj[]).find((p) => p['name'] === name);
const b64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

function skipWithoutHelm(t: { skip: (why: string) => void }): boolean {
  const missing = helmMissing();
  if (missing === null) return false;
  if (ci) assert.fail(`CI=true and ${missing}`);
  t.skip(missing);
  return true;
}

/** The rules of a YAML file's ClusterRoles. */
function rulesOf(file: string): Obj[] {
  return parseAllDocuments(fs.readFileSync(path.join(REPO, file), 'utf8'))
    .map((d) => d.toJS() as K8sObject)
    .filter((d) => d.kind === 'ClusterRole')
    .flatMap((d) => d['rules'] as Obj[]);
}

describe('Helm chart deploy/helm/weft', () => {
  it('passes helm lint (Helm 4), with the defaults and with the Kafka, bring-your-own-CA and self-registering values', async (t) => {
    if (skipWithoutHelm(t)) return;
    const version = await helm(['version', '--template', '{{.Version}}']);
    assert.match(version.stdout, /^v4\./, `Helm 4 expected, got ${version.stdout}`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-helm-lint-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const variants: Obj[] = [
      {},
      { log: { type: 'kafka', kafka: { brokers: ['kafka-0.kafka:9092'] } }, replicaCount: 2 },
      { ca: { source: 'secret', existingSecret: 'my-ca', caBundle: '-----BEGIN CERTIFICATE-----\n' } },
      { injector: { registerWebhook: true } },
    ];
    for (const [i, v] of variants.entries()) {
      const file = path.join(dir, `v${i}.yaml`);
      fs.writeFileSync(file, stringify(v));
      const lint = await helm(['lint', '--strict', CHART, '-f', file]);
      assert.equal(lint.code, 0, `helm lint with ${JSON.stringify(v)}:\n${lint.stdout}${lint.stderr}`);
    }
  });

  it('ships the CRDs of deploy/kubernetes/crds, unchanged', () => {
    const ours = path.join(REPO, 'deploy', 'kubernetes', 'crds');
    const chart = path.join(CHART, 'crds');
    assert.deepEqual(fs.readdirSync(chart).sort(), fs.readdirSync(ours).sort());
    for (const f of fs.readdirSync(ours)) {
      assert.equal(fs.readFileSync(path.join(chart, f), 'utf8'), fs.readFileSync(path.join(ours, f), 'utf8'), `deploy/helm/weft/crds/${f} differs: copy deploy/kubernetes/crds/${f} over it`);
    }
  });

  it('renders the defaults: a non-root Deployment with probes, the Services, least-privilege RBAC, the webhook, the config, a PVC', async (t) => {
    if (skipWithoutHelm(t)) return;
    const { docs, code, stderr } = await render({});
    assert.equal(code, 0, stderr);
    const deploy = find(docs, 'Deployment');
    const weft = container(deploy);
    assert.equal(at(podSpec(deploy), 'securityContext', 'runAsNonRoot'), true);
    assert.notEqual(at(podSpec(deploy), 'securityContext', 'runAsUser'), 0);
    assert.equal(at(weft, 'securityContext', 'readOnlyRootFilesystem'), true);
    assert.equal(at(weft, 'securityContext', 'allowPrivilegeEscalation'), false);
    assert.deepEqual(at(weft, 'livenessProbe', 'httpGet'), { path: '/healthz', port: 'debug' });
    assert.deepEqual(at(weft, 'readinessProbe', 'httpGet'), { path: '/readyz', port: 'debug' });
    assert.ok(at(weft, 'resources', 'requests', 'memory') !== undefined, 'resources');
    assert.equal(at(deploy, 'spec', 'strategy', 'type'), 'Recreate', 'the file log has one writer');
    const ports = Object.fromEntries((weft['ports'] as Obj[]).map((p) => [p['name'], p['containerPort']]));
    assert.deepEqual(ports, { ads: 15128, debug: 9092, metrics: 9091, webhook: 9443 });

    const services = docs.filter((d) => d.kind === 'Service');
    const svcPorts = services.map((s) => `${s.metadata.name}:${(at(s, 'spec', 'ports') as Obj[]).map((p) => `${p['port']}->${p['targetPort']}`).join(',')}`);
    assert.deepEqual(svcPorts.sort(), ['weft-injector:443->webhook', 'weft-metrics:9091->metrics', 'weft:15128->ads'].sort());

    // RBAC: exactly the rules of the repository's RBAC files, without the webhook registration rule.
    const roles = docs.filter((d) => d.kind === 'ClusterRole').flatMap((d) => d['rules'] as Obj[]);
    const expected = [...rulesOf('deploy/kubernetes/rbac.yaml'), ...rulesOf('deploy/kubernetes/injector/rbac.yaml')].filter(
      (r) => !(r['resources'] as string[]).includes('mutatingwebhookconfigurations'),
    );
    assert.deepEqual(roles, expected);
    for (const b of docs.filter((d) => d.kind === 'ClusterRoleBinding')) {
      assert.deepEqual(b['subjects'], [{ kind: 'ServiceAccount', name: 'weft', namespace: 'weft-system' }]);
    }
    assert.equal(find(docs, 'ServiceAccount').metadata.name, 'weft');

    // The webhook: what the injector registers itself (the repository's template), caBundle = the CA.
    const mwc = find(docs, 'MutatingWebhookConfiguration');
    const template = parseYaml(fs.readFileSync(path.join(REPO, 'deploy/kubernetes/injector/mutatingwebhookconfiguration.yaml'), 'utf8')) as Obj;
    const hook = (at(mwc, 'webhooks', 0) as Obj) ?? {};
    const want = at(template, 'webhooks', 0) as Obj;
    for (const k of ['rules', 'namespaceSelector', 'failurePolicy', 'matchPolicy', 'reinvocationPolicy', 'sideEffects', 'admissionReviewVersions', 'timeoutSeconds']) {
      assert.deepEqual(hook[k], want[k], `webhooks[0].${k}`);
    }
    assert.deepEqual(at(hook, 'clientConfig', 'service'), { namespace: 'weft-system', name: 'weft-injector', port: 443, path: '/mutate-pod-creation' });
    const caSecret = find(docs, 'Secret', '-ca');
    assert.equal(at(hook, 'clientConfig', 'caBundle'), at(caSecret, 'data', 'tls.crt'), 'one generated root: the Secret and the caBundle');
    assert.match(b64(at(caSecret, 'data', 'tls.crt') as string), /^-----BEGIN CERTIFICATE-----/);

    const config = weftYaml(docs);
    assert.equal(config['log'], 'file:/var/lib/weft/log');
    assert.equal(config['meshName'], 'osm');
    assert.deepEqual(at(config, 'xds'), { host: '0.0.0.0', port: 15128 });
    assert.equal(at(config, 'debug', 'tokenFile'), '/etc/weft/debug/token');
    assert.deepEqual(at(plugin(config, '@weft/plugin-injector'), 'config', 'service'), { namespace: 'weft-system', name: 'weft-injector', port: 443 });
    assert.equal(at(plugin(config, '@weft/plugin-injector'), 'config', 'xds'), 'weft.weft-system.svc:15128');
    assert.equal(at(plugin(config, '@weft/plugin-injector'), 'config', 'registerWebhook'), false);
    assert.equal(find(docs, 'PersistentVolumeClaim').metadata.name, 'weft-data');
  });

  it('renders the Kafka log: the kafka plugin and location, no volume claim, several replicas rolling', async (t) => {
    if (skipWithoutHelm(t)) return;
    const { docs, code, stderr } = await render({ replicaCount: 3, log: { type: 'kafka', kafka: { brokers: ['k-0:9092', 'k-1:9092'], topic: 'mesh-events' } } });
    assert.equal(code, 0, stderr);
    const config = weftYaml(docs);
    assert.equal(config['log'], 'kafka://k-0:9092,k-1:9092/mesh-events');
    assert.ok(plugin(config, '@weft/plugin-kafka') !== undefined);
    assert.equal(docs.filter((d) => d.kind === 'PersistentVolumeClaim').length, 0);
    const deploy = find(docs, 'Deployment');
    assert.equal(at(deploy, 'spec', 'replicas'), 3);
    assert.equal(at(deploy, 'spec', 'strategy'), undefined, 'rolling updates');
    assert.ok((podSpec(deploy)['volumes'] as Obj[]).some((v) => v['name'] === 'data' && v['emptyDir'] !== undefined));
  });

  it('renders a CA the user brings (with its chain), and a webhook Weft registers itself', async (t) => {
    if (skipWithoutHelm(t)) return;
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const byo = await render({ ca: { source: 'secret', existingSecret: 'corp-ca', chain: true, caBundle: pem } });
    assert.equal(byo.code, 0, byo.stderr);
    assert.equal(byo.docs.filter((d) => d.kind === 'Secret' && d.metadata.name.endsWith('-ca')).length, 0, 'no generated CA');
    assert.equal(at(find(byo.docs, 'MutatingWebhookConfiguration'), 'webhooks', 0, 'clientConfig', 'caBundle'), Buffer.from(pem).toString('base64'));
    const volume = (podSpec(find(byo.docs, 'Deployment'))['volumes'] as Obj[]).find((v) => v['name'] === 'ca-secret');
    assert.equal(at(volume, 'secret', 'secretName'), 'corp-ca');
    assert.equal(at(plugin(weftYaml(byo.docs), '@weft/plugin-ca-local'), 'config', 'bringYourOwn', 'chain'), '/var/run/weft/ca/chain.pem');

    const self = await render({ injector: { registerWebhook: true } });
    assert.equal(self.code, 0, self.stderr);
    assert.equal(self.docs.filter((d) => d.kind === 'MutatingWebhookConfiguration').length, 0);
    const rules = self.docs.filter((d) => d.kind === 'ClusterRole').flatMap((d) => d['rules'] as Obj[]);
    assert.ok(rules.some((r) => (r['resources'] as string[]).includes('mutatingwebhookconfigurations')), 'Weft may then update its webhook');
    assert.equal(at(plugin(weftYaml(self.docs), '@weft/plugin-injector'), 'config', 'registerWebhook'), true);

    const off = await render({ injector: { enabled: false }, metrics: { enabled: false } });
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(off.docs.filter((d) => d.kind === 'Service').map((d) => d.metadata.name), ['weft']);
    assert.equal(plugin(weftYaml(off.docs), '@weft/plugin-injector'), undefined);
  });

  it('refuses bad values with a message naming the value and the rule', async (t) => {
    if (skipWithoutHelm(t)) return;
    const bad: [Obj, RegExp][] = [
      [{ ads: { port: 99999 } }, /at '\/ads\/port': maximum: got 99,999, want 65,535/],
      [{ log: { type: 'etcd' } }, /at '\/log\/type': value must be one of 'file', 'kafka'/],
      [{ log: { typo: true } }, /at '\/log': additional properties 'typo' not allowed/],
      [{ meshName: 'My Mesh' }, /at '\/meshName': 'My Mesh' does not match pattern/],
      [{ ca: { source: 'vault' } }, /at '\/ca\/source': value must be one of 'generate', 'secret'/],
      [{ ca: { validity: '1 day' } }, /at '\/ca\/validity': '1 day' does not match pattern/],
      [{ injector: { failurePolicy: 'fail' } }, /at '\/injector\/failurePolicy': value must be one of 'Fail', 'Ignore'/],
      [{ log: { type: 'kafka' } }, /at '\/log\/kafka\/brokers': minItems: got 0, want 1/],
      [{ log: { type: 'kafka', kafka: { brokers: ['kafka'] } } }, /at '\/log\/kafka\/brokers\/0': 'kafka' does not match pattern/],
      [{ ca: { source: 'secret' } }, /at '\/ca\/existingSecret': minLength: got 0, want 1/],
      [{ replicaCount: 2 }, /replicaCount > 1 needs log.type: kafka: the file log has one writer/],
      [
        { ca: { source: 'secret', existingSecret: 'corp-ca' } },
        /the webhook needs the mesh root for its caBundle and the Secret "corp-ca" cannot be read now .*give the root's PEM in ca.caBundle, or set injector.registerWebhook: true/,
      ],
    ];
    for (const [values, message] of bad) {
      const r = await render(values);
      assert.notEqual(r.code, 0, `helm template accepted ${JSON.stringify(values)}`);
      assert.match(r.stderr, message, `for ${JSON.stringify(values)}`);
    }
  });

  describe('on a real kube-apiserver', () => {
    let apiserver: ApiServerLookup;
    let admin: Admin | undefined;
    let docs: K8sObject[] = [];
    let webhookPort = 0;
    const applied: K8sObject[] = [];

    before(async () => {
      apiserver = await findApiServer();
      if (apiserver.kubeconfig !== null) admin = await Admin.open(apiserver.kubeconfig);
      // The webhook port is the one Weft listens on in the start test below; other tests run meanwhile.
      webhookPort = await new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as net.AddressInfo).port;
          s.close(() => resolve(p));
        });
      });
    });

    after(async () => {
      // Cluster-scoped objects would outlive the namespace (the test apiserver deletes no namespace anyway).
      for (const o of applied.filter((d) => isClusterScoped(d) && d.kind !== 'CustomResourceDefinition')) {
        await admin?.request('DELETE', objectPath(o));
      }
      await apiserver?.stop?.();
    });

    const ready = (t: { skip: (why: string) => void }): boolean => {
      if (skipWithoutHelm(t)) return false;
      if (admin !== undefined) return true;
      if (ci) assert.fail(`CI=true and there is no kube-apiserver: ${apiserver.reason}`);
      t.skip(apiserver.reason);
      return false;
    };

    it('takes the rendered chart, CRDs included, by server-side apply (kubectl apply --server-side)', async (t) => {
      if (!ready(t)) return;
      // A mesh name of its own: the webhook then matches no namespace of the other tests.
      const r = await render({ meshName: ns, injector: { port: webhookPort } }, { release, namespace: ns, includeCrds: true });
      assert.equal(r.code, 0, r.stderr);
      docs = r.docs;
      await admin!.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      // CRDs first, as helm install does; they are shared with other tests and equal to deploy/kubernetes/crds.
      const ordered = [...docs.filter((d) => d.kind === 'CustomResourceDefinition'), ...docs.filter((d) => d.kind !== 'CustomResourceDefinition')];
      for (const o of ordered) {
        const force = o.kind === 'CustomResourceDefinition' ? '&force=true' : '';
        const a = await admin!.request('PATCH', `${objectPath(o)}?fieldManager=helm&fieldValidation=Strict${force}`, o, 'application/apply-patch+yaml');
        assert.ok(a.status === 200 || a.status === 201, `${o.kind} ${o.metadata.name}: HTTP ${a.status}: ${String(a.body['message'] ?? JSON.stringify(a.body))}`);
        applied.push(o);
      }
      const kinds = new Set(docs.map((d) => d.kind));
      for (const k of ['CustomResourceDefinition', 'Deployment', 'Service', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Secret', 'MutatingWebhookConfiguration', 'PersistentVolumeClaim']) {
        assert.ok(kinds.has(k), `the chart renders a ${k}`);
      }
      const deploy = await admin!.ok('GET', objectPath(find(docs, 'Deployment')));
      assert.equal(at(deploy, 'spec', 'template', 'spec', 'serviceAccountName'), `${release}-weft`);
    });

    it("runs Weft on the ConfigMap's weft.yaml, with the pod's volumes, as the chart's ServiceAccount: ready, probes, token, SIGTERM", async (t) => {
      if (!ready(t)) return;
      assert.ok(docs.length > 0, 'the chart was applied');
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-helm-pod-'));
      t.after(() => fs.rmSync(root, { recursive: true, force: true }));
      const deploy = find(docs, 'Deployment');
      const spec = podSpec(deploy);
      const inRoot = (p: string): string => path.join(root, 'fs', p);

      // Each volume as a folder with what the kubelet would put there, mounted by a symlink at its mountPath.
      for (const v of spec['volumes'] as Obj[]) {
        const dir = path.join(root, 'volumes', v['name'] as string);
        fs.mkdirSync(dir, { recursive: true });
        const source = (at(v, 'configMap', 'name') ?? at(v, 'secret', 'secretName')) as string | undefined;
        if (source !== undefined) {
          const o = docs.find((d) => (d.kind === 'ConfigMap' || d.kind === 'Secret') && d.metadata.name === source);
          assert.ok(o !== undefined, `volume ${String(v['name'])}: ${source} is rendered by the chart`);
          const secret = o.kind === 'Secret';
          for (const [k, value] of Object.entries((o['data'] ?? {}) as Record<string, string>)) {
            fs.writeFileSync(path.join(dir, k), secret ? Buffer.from(value, 'base64') : value);
            const mode = (at(v, 'secret', 'defaultMode') ?? at(v, 'configMap', 'defaultMode') ?? 0o644) as number;
            fs.chmodSync(path.join(dir, k), mode);
          }
        }
      }
      const mount = (c: Obj): void => {
        for (const m of c['volumeMounts'] as Obj[]) {
          const target = inRoot(m['mountPath'] as string);
          if (fs.existsSync(target)) continue;
          fs.mkdirSync(path.dirname(target), { recursive: true });
          const src = path.join(root, 'volumes', m['name'] as string, (m['subPath'] as string | undefined) ?? '');
          fs.symlinkSync(src, target);
        }
      };
      const mountPaths = (c: Obj): string[] => (c['volumeMounts'] as Obj[]).map((m) => m['mountPath'] as string).sort((a, b) => b.length - a.length);
      // One pass, whole paths only: /tmp is a mount too, and must not be rewritten inside a rewritten path.
      const rewrite = (text: string, c: Obj): string => {
        const alternatives = mountPaths(c).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
        return text.replace(new RegExp(`(?<![\\w/.-])(${alternatives.join('|')})(?=/|$|[\\s"';])`, 'gm'), (p) => inRoot(p));
      };

      // The init container (the CA key copied with mode 0600), its command run with the mounts' paths.
      const init = (spec['initContainers'] as Obj[])[0]!;
      mount(init);
      const command = (init['command'] as string[]).map((a) => rewrite(a, init));
      await new Promise<void>((resolve, reject) => {
        const c = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
        c.on('error', reject);
        c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`init container exited ${code}`))));
      });
      assert.equal(fs.statSync(inRoot('/var/run/weft/ca/ca.key')).mode & 0o777, 0o600);

      const weft = container(deploy);
      mount(weft);
      const configPath = inRoot((weft['args'] as string[])[1]!);
      // The file the ConfigMap mounts, with the container's paths under this test's folder.
      const configText = rewrite(fs.readFileSync(configPath, 'utf8'), weft);
      fs.rmSync(configPath);
      fs.writeFileSync(configPath, configText);

      // In-cluster credentials, as the pod would have them: a token of the chart's ServiceAccount.
      const sa = find(docs, 'ServiceAccount').metadata.name;
      const tokenRequest = await admin!.create(`/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      });
      const adminConfig = parseYaml(fs.readFileSync(apiserver.kubeconfig!, 'utf8')) as Obj;
      const kubeconfig = path.join(root, 'kubeconfig');
      fs.writeFileSync(
        kubeconfig,
        stringify({
          ...adminConfig,
          users: [{ name: 'weft-test-admin', user: { token: at(tokenRequest, 'status', 'token') } }],
        }),
        { mode: 0o600 },
      );

      const child = spawn(process.execPath, [path.join(REPO, 'core', 'bin', 'weft.js'), 'start', '--config', configPath, '--xds-port', '0', '--debug-port', '0', '--metrics-port', '0'], {
        env: { ...process.env, KUBECONFIG: kubeconfig, WEFT_CONFIG: '' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      const readyLine = new Promise<Obj>((resolve, reject) => {
        child.stderr!.on('data', (d: Buffer) => {
          stderr += d.toString();
          const line = stderr.split('\n').find((l) => l.includes('"msg":"ready"'));
          if (line !== undefined) resolve(JSON.parse(line) as Obj);
        });
        void exited.then((code) => reject(new Error(`weft exited ${code} before ready:\n${stderr}`)));
      });
      try {
        const line = await readyLine;
        assert.deepEqual(line['sources'], ['kubernetes', 'sidecar-injector']);
        const debug = `http://127.0.0.1:${String(line['debug']).split(':').at(-1)}`;
        assert.equal((await fetch(`${debug}/healthz`)).status, 200);
        assert.equal((await fetch(`${debug}/readyz`)).status, 200);
        assert.equal((await fetch(`${debug}/debug/plugins`)).status, 401, 'the debug routes need the token');
        const token = fs.readFileSync(inRoot('/etc/weft/debug/token'), 'utf8');
        assert.equal((await fetch(`${debug}/debug/plugins`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
      } finally {
        child.kill('SIGTERM');
      }
      assert.equal(await exited, 0, stderr);
      assert.doesNotMatch(stderr, /"level":"error"/, 'no errors (a 403 here is a rule missing from the chart)');
    });
  });
});
