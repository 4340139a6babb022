/**
 * What Envoy checks when it loads a configuration, beyond ValidateAll (see load-rules.ts), over every proxy
 * of every golden case: each RDS name a listener uses is served, and no two filter chains of a listener
 * share a match. The cases `no-inbound-routes` and `headless-split` hold the configurations that broke
 * these rules before.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypeUrl, typedAny, type EncodedResource } from '@weft/core';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TESTDATA, caseDirs, loadCase, loadMesh, proxyResources } from './harness.js';
import { filterChainOverlaps, loadProblems, normalizeCidr, rdsNames } from './load-rules.js';
import { T } from './proto.js';

function problemsOf(name: string): string[] {
  const mesh = loadCase(name);
  return mesh.proxies.flatMap((p) => loadProblems(proxyResources(mesh, p)).map((m) => `${name}/${p.pod}: ${m}`));
}

describe('Envoy load rules over the goldens', () => {
  for (const name of caseDirs()) {
    it(`${name}: every RDS name is served and no two filter chains overlap`, () => {
      assert.deepEqual(problemsOf(name), []);
    });
  }

  it('covers the cases that broke them', () => {
    assert.ok(caseDirs().includes('no-inbound-routes'));
    assert.ok(caseDirs().includes('headless-split'));
  });
});

describe('outbound chains and egress ranges', () => {
  it('keeps an egress range off a mesh address and lists each range once', () => {
    // tcp-route's bookwarehouse reaches mysql at 10.96.0.30:3306; an Egress names that address again
    // and one range in two spellings.
    const egress = `---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata:
  name: db-range
  namespace: bookwarehouse
spec:
  sources:
    - kind: ServiceAccount
      name: bookwarehouse
      namespace: bookwarehouse
  ipAddresses: [10.96.0.30/32, 203.0.113.7/24, 203.0.113.0/24]
  ports:
    - number: 3306
      protocol: tcp
`;
    const mesh = loadMesh(fs.readFileSync(path.join(TESTDATA, 'tcp-route', 'input.yaml'), 'utf8') + egress, 'egress-overlap.yaml');
    const proxy = mesh.proxies.find((p) => p.pod === 'bookwarehouse-0');
    assert.ok(proxy !== undefined);
    const resources = proxyResources(mesh, proxy);
    assert.deepEqual(loadProblems(resources), []);
    const listener = (resources.get(TypeUrl.Listener) ?? []).find((l) => l.name === 'outbound-listener');
    const chains = (listener?.dump as { filterChains: { name: string; filterChainMatch: { prefixRanges?: { addressPrefix: string }[] } }[] }).filterChains;
    const ranges = (name: string): string[] => (chains.find((c) => c.name === name)?.filterChainMatch.prefixRanges ?? []).map((p) => p.addressPrefix);
    assert.deepEqual(ranges('outbound_bookwarehouse/mysql_3306_tcp'), ['10.96.0.30']);
    assert.deepEqual(ranges('outbound-egress-cidr.3306'), ['203.0.113.0']);
  });
});

const prefix = (ip: string, len = 32): Record<string, unknown> => ({ addressPrefix: ip, prefixLen: { value: len } });
const chain = (name: string, match: Record<string, unknown>): Record<string, unknown> => ({ name, filterChainMatch: match, filters: [] });

describe('the load-rule checks can fail', () => {
  it('finds a route configuration that is named but not served', () => {
    const hcm = typedAny(T.HCM, { statPrefix: 's', rds: { configSource: { ads: {} }, routeConfigName: 'rds-inbound.9000' } });
    const dump = { name: 'inbound-listener', filterChains: [{ name: 'c', filters: [{ name: 'hcm', typedConfig: hcm }] }] };
    assert.deepEqual(rdsNames(dump), ['rds-inbound.9000']);
    const listener = { name: 'inbound-listener', typeUrl: TypeUrl.Listener, version: '', any: new Uint8Array(), dump } satisfies EncodedResource;
    assert.deepEqual(loadProblems(new Map([[TypeUrl.Listener, [listener]]])), ['inbound-listener: names route configuration rds-inbound.9000, which is not served']);
    const served = { ...listener, name: 'rds-inbound.9000', typeUrl: TypeUrl.RouteConfiguration, dump: {} };
    assert.deepEqual(loadProblems(new Map([[TypeUrl.Listener, [listener]], [TypeUrl.RouteConfiguration, [served]]])), []);
  });

  it('finds chains sharing one address of their prefix ranges', () => {
    const dump = {
      name: 'outbound-listener',
      filterChains: [
        chain('a', { destinationPort: { value: 7000 }, prefixRanges: [prefix('10.0.0.1'), prefix('10.0.0.2')] }),
        chain('b', { destinationPort: { value: 7000 }, prefixRanges: [prefix('10.0.0.2'), prefix('10.0.0.3')] }),
      ],
    };
    assert.equal(filterChainOverlaps(dump).length, 1);
    assert.match(filterChainOverlaps(dump)[0] ?? '', /filter chains a and b both match \[7000 10\.0\.0\.2\/32 \* \* \* /);
  });

  it('treats an empty list as "any" and compares CIDRs as Envoy normalizes them', () => {
    const overlapping = [
      chain('a', { destinationPort: { value: 80 }, prefixRanges: [prefix('10.1.2.3', 24)] }),
      chain('b', { destinationPort: { value: 80 }, prefixRanges: [prefix('10.1.2.0', 24)], transportProtocol: '' }),
    ];
    assert.equal(filterChainOverlaps({ name: 'l', filterChains: overlapping }).length, 1);
    assert.equal(filterChainOverlaps({ name: 'l', filterChains: [chain('a', {}), chain('b', { serverNames: [] })] }).length, 1);
    assert.equal(normalizeCidr('fd00::1:2', 112), 'fd00:0:0:0:0:0:1:0/112');
  });

  it('lets chains differing in any matched field, or with nested CIDRs, stand together', () => {
    const distinct = [
      chain('port', { destinationPort: { value: 80 }, prefixRanges: [prefix('10.0.0.1')] }),
      chain('other-port', { destinationPort: { value: 81 }, prefixRanges: [prefix('10.0.0.1')] }),
      chain('wider', { destinationPort: { value: 80 }, prefixRanges: [prefix('10.0.0.0', 24)] }),
      chain('sni', { destinationPort: { value: 80 }, prefixRanges: [prefix('10.0.0.1')], serverNames: ['a.example'], transportProtocol: 'tls' }),
      chain('sni-b', { destinationPort: { value: 80 }, prefixRanges: [prefix('10.0.0.1')], serverNames: ['b.example'], transportProtocol: 'tls' }),
      chain('alpn', { destinationPort: { value: 80 }, prefixRanges: [prefix('10.0.0.1')], serverNames: ['a.example'], transportProtocol: 'tls', applicationProtocols: ['osm'] }),
    ];
    assert.deepEqual(filterChainOverlaps({ name: 'l', filterChains: distinct }), []);
    const sameSni = [...distinct, chain('sni-again', { destinationPort: { value: 80 }, prefixRanges: [prefix('10.0.0.1')], serverNames: ['A.example', 'c.example'], transportProtocol: 'tls' })];
    assert.equal(filterChainOverlaps({ name: 'l', filterChains: sameSni }).length, 1);
  });
});
