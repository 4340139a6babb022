/**
 * Every resource of every golden, and a bootstrap, through Envoy's own validation rules (go-control-plane's
 * generated ValidateAll, nested Anys unpacked) in the checker under test/envoy-validate; then every golden
 * proxy's whole configuration through the rules Envoy applies when it loads it (references served, filter
 * chain overlaps, terminal filters, domains, addresses, discovery types, TLS secrets). With CI=true a
 * missing checker is a failure; elsewhere the test builds it first (needs Go and the module proxy).
 * Random meshes go through the same rules, from this adapter and the gRPC one, in test/src/load-check.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it, before } from 'node:test';
import { TypeUrl, encodeAnyBytes, packAny } from '@weft/core';
import { envoyType } from '@weft/core';
import { EnvoyAdapter } from './adapter.js';
import { caseDirs, loadCase, proxyResources } from './harness.js';
import { CHECKER, checkProxies, ensureChecker, formatViolations, proxyConfig, type ProxyConfigInput } from './load-check.js';

interface Line {
  readonly typeUrl: string;
  readonly name: string;
  readonly any?: string;
  readonly json?: unknown;
}

function runChecker(lines: readonly Line[]): { status: number | null; out: string } {
  const input = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
  const res = spawnSync(CHECKER, [], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (res.error !== undefined) throw res.error;
  return { status: res.status, out: res.stdout + res.stderr };
}

describe('Envoy validation (go-control-plane)', () => {
  before(ensureChecker);

  it('accepts every resource of every golden case', () => {
    const lines: Line[] = [];
    const seen = new Set<string>();
    for (const name of caseDirs()) {
      const mesh = loadCase(name);
      for (const proxy of mesh.proxies) {
        for (const list of proxyResources(mesh, proxy).values()) {
          for (const r of list) {
            const any = Buffer.from(r.any).toString('base64');
            if (seen.has(any)) continue;
            seen.add(any);
            lines.push({ typeUrl: r.typeUrl, name: `${name}: ${r.name}`, any });
          }
        }
      }
    }
    const types = new Set(lines.map((l) => l.typeUrl));
    for (const t of Object.values(TypeUrl)) assert.ok(types.has(t), `goldens produce no ${t}`);
    const { status, out } = runChecker(lines);
    assert.equal(status, 0, out);
    assert.match(out, new RegExp(`checked ${lines.length} resources: ${lines.length} valid, 0 invalid`));
  });

  it('accepts the bootstrap', () => {
    const bootstrap = new EnvoyAdapter().bootstrap(
      { uuid: '00000000-0000-4000-8000-000000000001', kind: 'envoy', namespace: 'bookbuyer', serviceAccount: 'bookbuyer', trustDomain: 'cluster.local' },
      { host: 'weft.weft-system.svc.cluster.local', port: 15128, tls: { certFile: '/etc/weft/tls.crt', keyFile: '/etc/weft/tls.key', caFile: '/etc/weft/ca.crt' } },
    );
    const { status, out } = runChecker([{ typeUrl: 'type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap', name: 'bootstrap', json: bootstrap }]);
    assert.equal(status, 0, out);
  });

  it('rejects invalid resources (the checker can fail)', () => {
    const cluster = envoyType(TypeUrl.Cluster);
    const bad = cluster.encode(cluster.fromObject({ name: '', connectTimeout: { seconds: -1 } })).finish();
    // A valid Listener carrying an HCM without stat_prefix: the error is only visible inside the nested Any.
    const hcmUrl = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
    const hcm = envoyType(hcmUrl);
    const listener = envoyType(TypeUrl.Listener);
    const nestedBad = listener
      .encode(
        listener.fromObject({
          name: 'l',
          address: { socketAddress: { address: '0.0.0.0', portValue: 1 } },
          filterChains: [{ filters: [{ name: 'hcm', typedConfig: packAny(hcmUrl, hcm.fromObject({ rds: { routeConfigName: 'r' } })) }] }],
        }),
      )
      .finish();
    const { status, out } = runChecker([
      { typeUrl: TypeUrl.Cluster, name: 'bad-cluster', any: Buffer.from(encodeAnyBytes(TypeUrl.Cluster, bad)).toString('base64') },
      { typeUrl: TypeUrl.Listener, name: 'nested-bad', any: Buffer.from(encodeAnyBytes(TypeUrl.Listener, nestedBad)).toString('base64') },
    ]);
    assert.equal(status, 1, out);
    assert.match(out, /INVALID Cluster "bad-cluster"[\s\S]*Name: value length must be at least 1/);
    assert.match(out, /ConnectTimeout: value must be greater than 0s/);
    assert.match(out, /INVALID Listener "nested-bad"[\s\S]*HttpConnectionManager/);
    assert.match(out, /checked 2 resources: 0 valid, 2 invalid/);
  });
});

/** Every golden proxy's configuration, as the checker's whole-proxy input. */
function goldenProxies(): ProxyConfigInput[] {
  const out: ProxyConfigInput[] = [];
  for (const name of caseDirs()) {
    const mesh = loadCase(name);
    for (const proxy of mesh.proxies) {
      const label = `${name}/${proxy.namespace}/${proxy.serviceAccount}/${proxy.uuid}`;
      out.push(proxyConfig(label, [...proxyResources(mesh, proxy).values()].flat()));
    }
  }
  return out;
}

describe('Envoy load-time rules over whole proxy configurations', () => {
  before(ensureChecker);

  it('every golden proxy loads: no violation of any rule', () => {
    const proxies = goldenProxies();
    assert.ok(proxies.length >= 10, `only ${proxies.length} golden proxies`);
    const { status, report, raw } = checkProxies(proxies);
    assert.notEqual(status, 2, raw);
    assert.equal(report.proxies, proxies.length);
    assert.deepEqual(report.violations, [], `Envoy would refuse or keep warming:\n${formatViolations(report.violations)}`);
    assert.equal(status, 0, raw);
  });

  it('reports a violation by rule, resource and reason, and exits 1 (the check can fail)', () => {
    // A listener whose HCM names a RouteConfiguration that is not served: valid per resource, warming in Envoy.
    const hcmUrl = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
    const listener = {
      name: 'inbound-listener',
      address: { socketAddress: { address: '0.0.0.0', portValue: 15003 } },
      filterChains: [
        {
          name: 'inbound_ns/svc_8080_http',
          filterChainMatch: { destinationPort: 8080 },
          filters: [
            {
              name: 'envoy.filters.network.http_connection_manager',
              typedConfig: {
                '@type': hcmUrl,
                statPrefix: 'in',
                rds: { routeConfigName: 'rds-inbound.8080', configSource: { ads: {}, resourceApiVersion: 'V3' } },
                httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
              },
            },
          ],
        },
      ],
    };
    const proxy: ProxyConfigInput = { proxy: 'hand-made', listeners: [{ name: 'inbound-listener', json: listener }], routes: [], clusters: [], endpoints: [], secrets: [] };
    const { status, report, raw } = checkProxies([proxy]);
    assert.equal(status, 1, raw);
    assert.equal(report.violations.length, 1, formatViolations(report.violations));
    const [v] = report.violations;
    assert.equal(v?.rule, 'rds-served');
    assert.equal(v?.type, 'Listener');
    assert.equal(v?.resource, 'inbound-listener');
    assert.match(v?.reason ?? '', /rds-inbound\.8080.*not served/);
  });
});
