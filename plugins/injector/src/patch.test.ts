/**
 * Golden tests of the pure builders: testdata/<case>.in.yaml (a namespace, a pod, a uuid) ->
 * <case>.out.yaml (the decision and the JSONPatch); the proxy Secret and the webhook registration likewise.
 * UPDATE_GOLDEN=1 rewrites the .out.yaml files.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { createPluginContainer, silentLogger, testing } from '@weft/core';
import { validateInjectorConfig } from './config.js';
import { InjectorSource } from './source.js';
import {
  buildPodPatch,
  buildProxySecret,
  buildWebhookConfiguration,
  DEFAULT_INJECTION_OPTIONS,
  injectionDecision,
  iptablesScript,
  metaOf,
  pointerToken,
} from './patch.js';

const TESTDATA = path.resolve(__dirname, '..', 'testdata');
const update = process.env['UPDATE_GOLDEN'] === '1';

function golden(name: string, doc: Record<string, unknown>): void {
  const file = path.join(TESTDATA, `${name}.out.yaml`);
  const actual = testing.goldenYaml(doc);
  if (update) fs.writeFileSync(file, actual);
  assert.ok(fs.existsSync(file), `${file} missing; run with UPDATE_GOLDEN=1 to create it`);
  assert.equal(actual, fs.readFileSync(file, 'utf8'), `${name}.out.yaml differs from the golden file (UPDATE_GOLDEN=1 rewrites)`);
}

const cases = fs.readdirSync(TESTDATA).filter((f) => f.endsWith('.in.yaml')).map((f) => f.slice(0, -'.in.yaml'.length)).sort();

describe('pod patch (golden)', () => {
  it('has the cases that cover each decision', () => {
    for (const c of ['plain-pod', 'pod-with-lists', 'unmonitored-namespace', 'other-mesh', 'namespace-opt-out', 'pod-opt-out', 'already-injected', 'host-network']) {
      assert.ok(cases.includes(c), `missing golden case ${c}`);
    }
  });
  for (const name of cases) {
    it(name, () => {
      const input = parse(fs.readFileSync(path.join(TESTDATA, `${name}.in.yaml`), 'utf8')) as { uuid: string; namespace: unknown; pod: Record<string, unknown> };
      const decision = injectionDecision(input.pod, metaOf(input.namespace), DEFAULT_INJECTION_OPTIONS);
      golden(name, decision.inject ? { decision, patch: buildPodPatch(input.pod, input.uuid, DEFAULT_INJECTION_OPTIONS) } : { decision });
    });
  }
});

describe('proxy Secret and webhook registration (golden)', () => {
  it('proxy-secret', () => {
    golden(
      'proxy-secret',
      buildProxySecret({
        uuid: '6f1c2a9e-0000-4000-8000-000000000001',
        namespace: 'bookstore',
        meshName: 'osm',
        bootstrap: { node: { id: '6f1c2a9e-0000-4000-8000-000000000001' } },
        certChainPem: '-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nINTERMEDIATE\n-----END CERTIFICATE-----\n',
        keyPem: '-----BEGIN PRIVATE KEY-----\nNOT-A-KEY\n-----END PRIVATE KEY-----\n',
        trustBundle: ['-----BEGIN CERTIFICATE-----\nROOT1\n-----END CERTIFICATE-----', '-----BEGIN CERTIFICATE-----\nROOT2\n-----END CERTIFICATE-----\n'],
      }),
    );
  });
  const roots = ['-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n'];
  it('webhook-service', () => {
    golden('webhook-service', buildWebhookConfiguration({
      name: 'weft-sidecar-injector-osm',
      meshName: 'osm',
      caBundle: roots,
      failurePolicy: 'Fail',
      timeoutSeconds: 10,
      clientConfig: { service: { namespace: 'weft-system', name: 'weft-injector', port: 443, path: '/mutate-pod-creation' } },
    }));
  });
  it('webhook-url', () => {
    golden('webhook-url', buildWebhookConfiguration({
      name: 'weft-sidecar-injector-osm',
      meshName: 'osm',
      caBundle: roots,
      failurePolicy: 'Ignore',
      timeoutSeconds: 5,
      clientConfig: { url: 'https://127.0.0.1:9443/mutate-pod-creation' },
    }));
  });
});

describe('deploy/kubernetes/injector', () => {
  it('the MutatingWebhookConfiguration template is what the injector registers with its default config', () => {
    const file = path.resolve(__dirname, '../../../deploy/kubernetes/injector/mutatingwebhookconfiguration.yaml');
    const template = parse(fs.readFileSync(file, 'utf8')) as unknown;
    const source = new InjectorSource({ config: validateInjectorConfig({}), container: createPluginContainer(), trustDomain: 'cluster.local', logger: silentLogger });
    const built = source.webhookConfiguration(['-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----']) as unknown as { webhooks: { clientConfig: { caBundle: string } }[] };
    for (const w of built.webhooks) w.clientConfig.caBundle = '${CA_BUNDLE}';
    assert.deepEqual(template, built);
  });
});

describe('pure helpers', () => {
  it('escapes JSON pointer tokens (RFC 6901)', () => {
    assert.equal(pointerToken('openservicemesh.io/monitored-by'), 'openservicemesh.io~1monitored-by');
    assert.equal(pointerToken('a~b/c'), 'a~0b~1c');
  });
  it('the iptables rules exclude the proxy uid and the ADS port and redirect to 15001 / 15003', () => {
    const script = iptablesScript({ ...DEFAULT_INJECTION_OPTIONS, proxyUid: 1337, adsPort: 15999 });
    assert.match(script, /--uid-owner 1337 -j RETURN/);
    assert.match(script, /--dport 15999 -j RETURN/);
    assert.match(script, /REDIRECT --to-ports 15001/);
    assert.match(script, /REDIRECT --to-ports 15003/);
  });
  it('a pod the patch was applied to is seen as injected', () => {
    const pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'app' }] } };
    const ns = metaOf({ metadata: { labels: { 'openservicemesh.io/monitored-by': 'osm' } } });
    assert.equal(injectionDecision(pod, ns, DEFAULT_INJECTION_OPTIONS).inject, true);
    const patched = { ...pod, spec: { ...pod.spec, containers: [...pod.spec.containers, { name: DEFAULT_INJECTION_OPTIONS.sidecarName }] } };
    const second = injectionDecision(patched, ns, DEFAULT_INJECTION_OPTIONS);
    assert.equal(second.inject, false);
    assert.equal(second.inject === false && second.reason, 'already-injected');
  });
});
