import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import 'reflect-metadata';
import { container } from 'tsyringe';
import { Tokens, captureLogger, type CertificateIssuer, type MeshEvent } from '@weft/core';
import { createPluginContainer, loadPlugins } from '@weft/core/testing';
import { opensslVerify, tempDir } from '@weft/plugin-ca-local/dist/testing.js';
import { bookbuyer, bookstore, meshCerts, serverName } from './mesh-certs.js';
import { connect, startWorkload } from './tls-support.js';

const tmp = tempDir('weft-certs-third-party-');
after(() => tmp.remove());

describe('a third-party certificate issuer loaded as a plugin', () => {
  it('registers through the plugin loader and serves mesh identities end to end', async () => {
    const child = createPluginContainer();
    assert.notEqual(child, container);
    const logger = captureLogger();
    const loaded = await loadPlugins(
      [{ index: 0, path: './fixtures/openssl-issuer.js', config: { rootName: 'Example third-party root' } }],
      child,
      { label: 'weft.yaml', configDir: __dirname, context: { logger, dataDir: tmp.dir, configDir: __dirname, trustDomain: 'cluster.local' } },
    );
    assert.deepEqual(loaded.map((p) => p.name), ['openssl-issuer']);
    const issuers = child.resolveAll<CertificateIssuer>(Tokens.CertificateIssuer);
    assert.equal(issuers.length, 1);
    const issuer = issuers[0]!;
    assert.equal(issuer.name, 'openssl-issuer');
    assert.equal(issuer.rootRotation, undefined);

    const mesh = await meshCerts(issuer);
    await mesh.manager.ensure(bookstore);
    await mesh.manager.ensure(bookbuyer);
    const store = mesh.credentials(bookstore);
    assert.match(store.bundle[0]!, /BEGIN CERTIFICATE/);
    assert.match(opensslVerify(tmp.dir, { roots: store.bundle, leaf: store.certPem, purpose: 'sslserver' }), /: OK/);
    const server = await startWorkload(store);
    try {
      const conn = await connect(server.port, mesh.credentials(bookbuyer), serverName(bookstore));
      assert.equal(conn.serverSpiffe, 'spiffe://cluster.local/ns/bookstore/sa/bookstore');
      assert.equal(await conn.ask('hi'), 'spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer hi');
      conn.close();
    } finally {
      await server.close();
    }
    const events: MeshEvent[] = [];
    for await (const batch of mesh.log.read(0)) events.push(...batch.events);
    assert.deepEqual(events.map((e) => `${e.source} ${e.kind} ${e.key}`), [
      'openssl-issuer CertificateIssued bookstore/bookstore',
      'openssl-issuer CertificateIssued bookbuyer/bookbuyer',
    ]);
    await assert.rejects(mesh.manager.beginRootRotation(), /cannot rotate its root/);
    mesh.manager.close();
  });
});
