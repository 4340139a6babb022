/**
 * Names an OSM v1.2 sidecar, or a dashboard or alert written for OSM, depends on. Each check here is one
 * line of the "OSM compatibility" list in the README.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypeUrl, type ProxyIdentity } from '@weft/core';
import { EnvoyAdapter } from './adapter.js';
import { envoyBootstrap } from './bootstrap.js';
import { loadCase, proxyResources } from './harness.js';
import { INBOUND_LISTENER, ROOT_CERT_INBOUND, rootCertInboundOsmName } from './names.js';

type Msg = Record<string, unknown>;

describe('OSM v1.2 names', () => {
  const mesh = loadCase('basic-http');
  const bookstore = mesh.proxies.find((p) => p.serviceAccount === 'bookstore')!;

  it('serves the inbound validation context under OSM\'s per-identity name too, with the same roots', () => {
    const secrets = new Map((proxyResources(mesh, bookstore).get(TypeUrl.Secret) ?? []).map((r) => [r.name, r.dump as Msg]));
    const osmName = 'root-cert-for-mtls-inbound:bookstore/bookstore';
    assert.equal(rootCertInboundOsmName('bookstore', 'bookstore'), osmName);
    const bare = secrets.get(ROOT_CERT_INBOUND);
    const osm = secrets.get(osmName);
    assert.ok(bare !== undefined && osm !== undefined, `secrets: ${[...secrets.keys()].join(', ')}`);
    assert.deepEqual(osm, { ...bare, name: osmName });
    // Only the proxy's own identity: another identity's name is not in its set.
    assert.equal([...secrets.keys()].filter((n) => n.startsWith('root-cert-for-mtls-inbound:')).length, 1);
  });

  it('gives the network RBAC filter OSM\'s stat prefix "network-" (stats network-rbac.allowed / network-rbac.denied)', () => {
    const inbound = (proxyResources(mesh, bookstore).get(TypeUrl.Listener) ?? []).find((r) => r.name === INBOUND_LISTENER)!;
    const prefixes: unknown[] = [];
    JSON.stringify(inbound.dump, (_key, value: unknown) => {
      const m = value as Msg | null;
      if (typeof m === 'object' && m !== null && m['@type'] === 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC') prefixes.push(m['statPrefix']);
      return value;
    });
    assert.ok(prefixes.length > 0, 'the strict-policy inbound listener has network RBAC filters');
    assert.deepEqual(new Set(prefixes), new Set(['network-']));
  });

  it('names the ADS cluster of the bootstrap "osm-controller", as OSM\'s injected bootstraps do', () => {
    const proxy: ProxyIdentity = { uuid: 'u-1', kind: 'sidecar', serviceAccount: 'bookstore', namespace: 'bookstore', trustDomain: 'cluster.local' };
    const b = envoyBootstrap(proxy, { host: 'weft.example', port: 15128, tls: { certFile: '/c.pem', keyFile: '/k.pem', caFile: '/ca.pem' } }) as Msg;
    const text = JSON.stringify(b);
    assert.match(text, /"clusterName":"osm-controller"/);
    assert.doesNotMatch(text, /weft-ads/);
    assert.deepEqual(new EnvoyAdapter('sidecar').bootstrap(proxy, { host: 'weft.example', port: 15128 }), envoyBootstrap(proxy, { host: 'weft.example', port: 15128 }));
  });
});
