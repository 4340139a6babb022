import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { CertExternals } from '@weft/core';
import { LocalCa } from '@weft/plugin-ca-local';
import { opensslVerify, tempDir } from '@weft/plugin-ca-local/dist/testing.js';
import { bookbuyer, bookstore, meshCerts, serverName } from './mesh-certs.js';
import { connect, startWorkload, type Connection, type Workload } from './tls-support.js';

const tmp = tempDir('weft-certs-mtls-');
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  tmp.remove();
});

async function workload(credentials: Parameters<typeof startWorkload>[0]): Promise<Workload> {
  const w = await startWorkload(credentials);
  cleanups.push(() => w.close());
  return w;
}

/** The server reports a refused handshake on its own schedule; wait for it briefly. */
async function eventually(check: () => boolean, what: string, withinMs = 1000): Promise<void> {
  for (let waited = 0; waited < withinMs && !check(); waited += 10) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), what);
}

async function live(c: Connection, n: number): Promise<void> {
  for (let i = 0; i < n; i++) assert.match(await c.ask(`ping ${i}`), new RegExp(`ping ${i}$`));
}

describe('mTLS between two workloads with mesh certificates', () => {
  it('completes the handshake and each side sees the peer SPIFFE id', async () => {
    const mesh = await meshCerts(await LocalCa.open({}));
    await mesh.manager.ensure(bookstore);
    await mesh.manager.ensure(bookbuyer);
    const store = mesh.credentials(bookstore);
    const buyer = mesh.credentials(bookbuyer);
    for (const c of [store, buyer]) {
      assert.match(opensslVerify(tmp.dir, { roots: c.bundle, leaf: c.certPem, purpose: 'sslserver' }), /: OK/);
      assert.match(opensslVerify(tmp.dir, { roots: c.bundle, leaf: c.certPem, purpose: 'sslclient' }), /: OK/);
    }
    const server = await workload(store);
    const conn = await connect(server.port, buyer, serverName(bookstore));
    assert.equal(conn.serverSpiffe, 'spiffe://cluster.local/ns/bookstore/sa/bookstore');
    assert.equal(await conn.ask('GET /books'), 'spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer GET /books');
    assert.deepEqual(server.refused, []);
    conn.close();

    // A certificate from another CA is refused by the server, and the client refuses a foreign server.
    const foreign = await meshCerts(await LocalCa.open({}));
    await foreign.manager.ensure(bookbuyer);
    await assert.rejects(connect(server.port, foreign.credentials(bookbuyer), serverName(bookstore)));
    await eventually(() => server.refused.length === 1, 'the server refused the foreign client certificate');
    const impostor = await workload({ ...foreign.credentials(bookbuyer) });
    await assert.rejects(connect(impostor.port, buyer, serverName(bookbuyer)), /self-signed|unable to verify|unable to get/);
  });

  it('rotates a workload certificate under a live connection without a failed handshake', async () => {
    const mesh = await meshCerts(await LocalCa.open({}));
    await mesh.manager.ensure(bookstore);
    await mesh.manager.ensure(bookbuyer);
    const server = await workload(mesh.credentials(bookstore));
    // The SDS push: the proxy of bookstore swaps its certificate for new handshakes.
    const pushedTo: string[] = [];
    mesh.onExternal((name) => {
      pushedTo.push(name);
      if (name === CertExternals.serviceCert(bookstore.namespace, bookstore.serviceAccount)) server.reload(mesh.credentials(bookstore));
    });
    const before = mesh.credentials(bookstore).serial;
    const buyerBefore = mesh.credentials(bookbuyer).serial;
    const longLived = await connect(server.port, mesh.credentials(bookbuyer), serverName(bookstore));
    assert.equal(longLived.server.serialNumber, before);

    // Traffic keeps flowing while the clock reaches 70% of the lifetime and the rotation runs.
    let stop = false;
    let answered = 0;
    const traffic = (async () => {
      while (!stop) {
        await longLived.ask(`ping ${answered}`);
        answered++;
      }
    })();
    mesh.clock.advance(0.7 * 24 * 3600_000 + 60_000);
    await mesh.manager.settled();
    const after = mesh.credentials(bookstore).serial;
    assert.notEqual(after, before, 'a new certificate was set as the external');
    assert.notEqual(mesh.credentials(bookbuyer).serial, buyerBefore);
    assert.deepEqual(
      [...new Set(pushedTo)].sort(),
      [CertExternals.serviceCert('bookbuyer', 'bookbuyer'), CertExternals.serviceCert('bookstore', 'bookstore')],
      'only the two identities were set, not the trust bundle',
    );
    const answeredAtRotation = answered;
    await eventually(() => answered > answeredAtRotation + 3, 'the live connection keeps answering after the rotation', 5000);
    stop = true;
    await traffic;
    assert.ok(answered > answeredAtRotation, `the live connection kept answering (${answeredAtRotation} -> ${answered})`);

    // New handshakes get the new certificate; the server sees the buyer's new certificate too.
    const fresh = await connect(server.port, mesh.credentials(bookbuyer), serverName(bookstore));
    assert.equal(fresh.server.serialNumber, after);
    assert.equal(server.seen.at(-1)?.serial, mesh.credentials(bookbuyer).serial);
    await live(longLived, 3);
    assert.deepEqual(server.refused, [], 'no failed handshake');
    fresh.close();
    longLived.close();
  });

  it('rotates the root through every phase with live mTLS connections', async () => {
    const ca = await LocalCa.open({ caDir: path.join(tmp.dir, 'root-rotation', 'ca') });
    const mesh = await meshCerts(ca);
    await mesh.manager.ensure(bookstore);
    await mesh.manager.ensure(bookbuyer);
    const server = await workload(mesh.credentials(bookstore));
    mesh.onExternal((name) => {
      if (name === CertExternals.trustBundle || name === CertExternals.serviceCert('bookstore', 'bookstore')) {
        server.reload(mesh.credentials(bookstore));
      }
    });
    const oldBuyer = mesh.credentials(bookbuyer);
    const oldRoot = new X509Certificate(oldBuyer.bundle[0]!);
    const opened = [await connect(server.port, oldBuyer, serverName(bookstore))];
    const check = async (phase: string): Promise<void> => {
      assert.equal(mesh.manager.rootRotationPhase(), phase);
      const conn = await connect(server.port, mesh.credentials(bookbuyer), serverName(bookstore));
      assert.equal(await conn.ask(phase), `spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer ${phase}`);
      opened.push(conn);
      for (const c of opened) await live(c, 2);
      for (const id of [bookstore, bookbuyer]) {
        const c = mesh.credentials(id);
        assert.match(opensslVerify(tmp.dir, { roots: c.bundle, leaf: c.certPem }), /: OK/);
      }
    };

    await check('stable');
    await mesh.manager.beginRootRotation();
    assert.equal(mesh.credentials(bookbuyer).bundle.length, 2);
    assert.equal(mesh.credentials(bookbuyer).serial, oldBuyer.serial, 'leaves unchanged while the new root propagates');
    await check('overlap');

    await mesh.manager.reissueUnderNewRoot();
    const newRoot = new X509Certificate(mesh.credentials(bookbuyer).bundle[1]!);
    assert.ok(new X509Certificate(mesh.credentials(bookstore).certPem).checkIssued(newRoot));
    assert.ok(new X509Certificate(mesh.credentials(bookbuyer).certPem).checkIssued(newRoot));
    await check('reissued');
    // A proxy that has not received its new certificate yet still gets through: the old root is trusted.
    const lagging = await connect(server.port, { ...oldBuyer, bundle: mesh.credentials(bookbuyer).bundle }, serverName(bookstore));
    assert.ok(lagging.server.checkIssued(newRoot));
    lagging.close();

    await mesh.manager.completeRootRotation();
    assert.equal(mesh.credentials(bookbuyer).bundle.length, 1);
    assert.ok(new X509Certificate(mesh.credentials(bookbuyer).bundle[0]!).checkIssued(newRoot));
    await check('stable');
    assert.deepEqual(server.refused, [], 'no handshake failed during the rotation');
    // Afterwards a certificate under the old root is refused.
    await assert.rejects(connect(server.port, { ...oldBuyer, bundle: mesh.credentials(bookbuyer).bundle }, serverName(bookstore)));
    await eventually(() => server.refused.length === 1, 'the server refused the old-root certificate');
    assert.ok(!new X509Certificate(mesh.credentials(bookstore).certPem).checkIssued(oldRoot));
    for (const c of opened) c.close();
  });
});
