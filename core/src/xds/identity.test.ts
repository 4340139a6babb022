import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProxyIdentity } from './adapter.js';
import { checkNodeMatches, identityFromNode, proxyCommonName, XdsIdentityError } from './identity.js';
import type { NodeInfo } from './wire.js';

const uuid = '2f6f4f0e-5a3c-4b39-9d1c-7e2a1b0c9d8e';
const proxy: ProxyIdentity = { uuid, kind: 'sidecar', serviceAccount: 'bookstore', namespace: 'bookstore', trustDomain: 'cluster.local' };
const node = (id: string): NodeInfo => ({ id, cluster: '', metadata: {} });

const refused = (id: string, message: RegExp) => (e: unknown) =>
  e instanceof XdsIdentityError && e.code === 'XDS_PERMISSION_DENIED' && message.test(e.message) && e.message.includes(id);

describe('node id against the client certificate', () => {
  it('spells the certificate CN as OSM writes it: <uuid>.<kind>.<sa>.<ns>.<trust-domain>', () => {
    assert.equal(proxyCommonName(proxy), `${uuid}.sidecar.bookstore.bookstore.cluster.local`);
  });

  it('accepts the uuid (what "weft bootstrap" writes)', () => {
    checkNodeMatches(proxy, node(uuid));
  });

  it('accepts the whole certificate CN, which OSM v1.2 writes as node.id in the bootstraps it injects', () => {
    checkNodeMatches(proxy, node(`${uuid}.sidecar.bookstore.bookstore.cluster.local`));
  });

  it('refuses a CN-shaped node id that names anyone else, and names what to set', () => {
    for (const other of [
      `${uuid}.sidecar.bookbuyer.bookstore.cluster.local`,
      `${uuid}.sidecar.bookstore.other.cluster.local`,
      `${uuid}.envoy.bookstore.bookstore.cluster.local`,
      `${uuid}.sidecar.bookstore.bookstore.other.domain`,
      `00000000-0000-4000-8000-000000000000.sidecar.bookstore.bookstore.cluster.local`,
      `${uuid}.sidecar.bookstore.bookstore.cluster.local.`,
    ]) {
      assert.throws(() => checkNodeMatches(proxy, node(other)), refused(other, /set node\.id to "2f6f4f0e-[^"]+" \(the certificate's uuid\) or to the certificate CN/));
    }
  });

  it('refuses a missing node id', () => {
    assert.throws(() => checkNodeMatches(proxy, node('')), (e: unknown) => e instanceof XdsIdentityError && /no node\.id/.test(e.message));
  });

  it('insecure mode reads an OSM-shaped node id as the identity, kind "sidecar" kept as written', () => {
    assert.deepEqual(identityFromNode(node(`${uuid}.sidecar.bookstore.bookstore.cluster.local`), 'cluster.local'), proxy);
  });
});
