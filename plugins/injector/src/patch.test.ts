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
import { silentLogger } from '@weft/core';
import { createPluginContainer } from '@weft/core/testing';
import * as testing from '@weft/core/testing';
import { validateInjectorConfig } from './config.js';
import { InjectorSource } from './source.js';
import {
  buildProxySecret,
  buildWebhookConfiguration,
  DEFAULT_INJECTION_OPTIONS,
  injectionDecision,
  iptablesScript,
  meshConfigExclusions,
  metaOf,
  planPodInjection,
  pointerToken,
  PodInjectionError,
  trafficExclusions,
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
    for (const c of [
      'plain-pod', 'pod-with-lists', 'unmonitored-namespace', 'other-mesh', 'namespace-opt-out', 'pod-opt-out', 'already-injected', 'host-network',
      'probes-http', 'probes-https-tcp', 'probes-left-alone', 'exclusions', 'bad-outbound-port', 'bad-inbound-port', 'bad-ip-range', 'bad-probe-port', 'bad-meshconfig',
    ]) {
      assert.ok(cases.includes(c), `missing golden case ${c}`);
    }
  });
  for (const name of cases) {
    it(name, () => {
      const input = parse(fs.readFileSync(path.join(TESTDATA, `${name}.in.yaml`), 'utf8')) as { uuid: string; namespace: unknown; pod: Record<string, unknown>; meshConfig?: unknown };
      const decision = injectionDecision(input.pod, metaOf(input.namespace), DEFAULT_INJECTION_OPTIONS);
      if (!decision.inject) return golden(name, { decision });
      let out: Record<string, unknown>;
      try {
        const plan = planPodInjection(input.pod, input.uuid, DEFAULT_INJECTION_OPTIONS, meshConfigExclusions(input.meshConfig));
        out = { decision, healthProbes: plan.healthProbes, warnings: plan.warnings, patch: plan.patch };
      } catch (err) {
        if (!(err instanceof PodInjectionError)) throw err;
        out = { decision, refused: { field: err.field, message: err.message } };
      }
      golden(name, out);
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
    assert.match(script, /-A OSM_PROXY_OUTBOUND -m owner --uid-owner 1337 -j RETURN/);
    assert.match(script, /-A OSM_PROXY_OUTBOUND -p tcp --dport 15999 -j RETURN/);
    assert.match(script, /-A OSM_PROXY_OUT_REDIRECT -p tcp -j REDIRECT --to-port 15001/);
    assert.match(script, /-A OSM_PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-port 15003/);
  });
  it('the iptables rules: loopback from Envoy to the pod itself goes to the inbound listener; admin, metrics, probe ports not redirected', () => {
    const lines = iptablesScript(DEFAULT_INJECTION_OPTIONS).split('\n');
    const loop = lines.indexOf('-A OSM_PROXY_OUTBOUND -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1500 -j OSM_PROXY_IN_REDIRECT');
    // Before Envoy's own traffic returns, or the rule would never match.
    assert.ok(loop >= 0 && loop < lines.indexOf('-A OSM_PROXY_OUTBOUND -m owner --uid-owner 1500 -j RETURN'));
    for (const port of [15000, 15010, 15901, 15902, 15903, 15904]) assert.ok(lines.includes(`-A OSM_PROXY_INBOUND -p tcp --dport ${port} -j RETURN`), `inbound ${port}`);
    // The admin-port exemption precedes the REDIRECT (OSM's comes after it and never matches).
    assert.ok(lines.indexOf('-A OSM_PROXY_OUT_REDIRECT -p tcp --dport 15000 -j ACCEPT') < lines.indexOf('-A OSM_PROXY_OUT_REDIRECT -p tcp -j REDIRECT --to-port 15001'));
    assert.equal(lines.at(-3), 'COMMIT');
  });
  it('exclusion lists: each rule before the final redirect, multiport split at 15 ports, IPv6 ranges not written to iptables', () => {
    const ports = Array.from({ length: 17 }, (_, i) => 8000 + i);
    const lines = iptablesScript(DEFAULT_INJECTION_OPTIONS, { outboundIPRanges: ['10.0.0.0/8', 'fd00::/8'], outboundPorts: ports, inboundPorts: [9000] }).split('\n');
    const redirect = lines.indexOf('-A OSM_PROXY_OUTBOUND -j OSM_PROXY_OUT_REDIRECT');
    const excl = lines.indexOf('-A OSM_PROXY_OUTBOUND -d 10.0.0.0/8 -j RETURN');
    assert.ok(excl >= 0 && excl < redirect);
    assert.ok(!lines.some((l) => l.includes('fd00')));
    assert.ok(lines.includes(`-A OSM_PROXY_OUTBOUND -p tcp --match multiport --dports ${ports.slice(0, 15).join(',')} -j RETURN`));
    assert.ok(lines.includes('-A OSM_PROXY_OUTBOUND -p tcp --match multiport --dports 8015,8016 -j RETURN'));
    assert.ok(lines.indexOf('-A OSM_PROXY_INBOUND -p tcp --match multiport --dports 9000 -j RETURN') < lines.indexOf('-A OSM_PROXY_INBOUND -p tcp -j OSM_PROXY_IN_REDIRECT'));
  });
  it('exclusion annotations: merged with the global lists as OSM merges them, bad values named', () => {
    const pod = metaOf({
      metadata: {
        annotations: {
          'openservicemesh.io/outbound-ip-range-exclusion-list': ' 10.1.0.0/16, 10.0.0.0/8',
          'openservicemesh.io/outbound-port-exclusion-list': '6379,3306',
          'openservicemesh.io/inbound-port-exclusion-list': '',
        },
      },
    });
    const merged = trafficExclusions(pod, { outboundIPRanges: ['10.0.0.0/8', '172.16.0.0/12'], outboundPorts: [3306, 53], inboundPorts: [9090] });
    assert.deepEqual(merged, { outboundIPRanges: ['10.1.0.0/16', '10.0.0.0/8', '172.16.0.0/12'], outboundPorts: [3306, 53, 6379], inboundPorts: [9090] });
    for (const [key, value] of [
      ['openservicemesh.io/outbound-port-exclusion-list', '80,'],
      ['openservicemesh.io/outbound-port-exclusion-list', '0'],
      ['openservicemesh.io/inbound-port-exclusion-list', '65536'],
      ['openservicemesh.io/inbound-port-exclusion-list', 'http'],
      ['openservicemesh.io/outbound-ip-range-exclusion-list', '10.0.0.0'],
      ['openservicemesh.io/outbound-ip-range-exclusion-list', '10.0.0.0/33'],
    ] as const) {
      assert.throws(() => trafficExclusions(metaOf({ metadata: { annotations: { [key]: value } } })), (err: unknown) => {
        assert.ok(err instanceof PodInjectionError);
        assert.equal(err.field, `metadata.annotations[${key}]`);
        assert.match(err.message, new RegExp(`^metadata\\.annotations\\[${key.replace(/\./g, '\\.')}\\]: `));
        return true;
      });
    }
  });
  it('MeshConfig exclusions: absent is none, numbers or strings, a bad entry named by its field', () => {
    assert.deepEqual(meshConfigExclusions(undefined), { outboundIPRanges: [], outboundPorts: [], inboundPorts: [] });
    assert.deepEqual(meshConfigExclusions({ spec: { traffic: { outboundPortExclusionList: [6379, '3306'], outboundIPRangeExclusionList: ['10.0.0.0/8'] } } }), {
      outboundIPRanges: ['10.0.0.0/8'],
      outboundPorts: [6379, 3306],
      inboundPorts: [],
    });
    assert.throws(() => meshConfigExclusions({ spec: { traffic: { inboundPortExclusionList: [70000] } } }), /MeshConfig spec\.traffic\.inboundPortExclusionList: "70000" is not a port/);
    assert.throws(() => meshConfigExclusions({ spec: { traffic: { outboundIPRangeExclusionList: 'x' } } }), /outboundIPRangeExclusionList: must be a list/);
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
