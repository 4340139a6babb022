import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { TypeUrl } from '@weft/core';
import { verifyClientCertificate, XdsIdentityError } from '@weft/core/testing';
import { createCa, proxyCert, serverCert, type TestCa, type TestCert } from '../support/certs.js';
import { SotwClient } from '../support/delta-client.js';
import { serviceBody } from '../support/grpc-test-adapter.js';
import { startMesh, type TestMesh } from '../support/mesh.js';

/** mTLS identity checks with a plain grpc-js client presenting client certificates. */
describe('ADS over mTLS', () => {
  let ca: TestCa;
  let foreign: TestCa;
  let mesh: TestMesh;
  const uuid = '7d0b5c1e-0000-4000-8000-000000000001';
  const proxy = { uuid, kind: 'grpc', serviceAccount: 'bookbuyer', namespace: 'bookstore' };

  before(async () => {
    ca = createCa('weft-mesh-root');
    foreign = createCa('someone-else');
    const srv = serverCert(ca);
    mesh = await startMesh({ tls: { mode: 'mtls', key: srv.keyPem, cert: srv.certPem, ca: [ca.certPem] } });
    await mesh.append([{ source: 'test', op: 'upsert', kind: 'Service', key: 'demo/a', body: serviceBody('demo', 'a') }]);
  });
  after(async () => {
    await mesh.close();
  });

  const creds = (leaf: TestCert | undefined): grpc.ChannelCredentials =>
    leaf === undefined
      ? grpc.credentials.createSsl(Buffer.from(ca.certPem))
      : grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(leaf.keyPem), Buffer.from(leaf.certPem));

  async function attempt(leaf: TestCert | undefined, nodeId: string): Promise<{ status: grpc.StatusObject; client: SotwClient }> {
    const client = new SotwClient(mesh.address, { id: nodeId }, creds(leaf));
    client.request({ typeUrl: TypeUrl.Cluster });
    const status = await Promise.race([
      client.status,
      client.next(3000).then(() => ({ code: grpc.status.OK, details: 'response received', metadata: new grpc.Metadata() })),
    ]);
    return { status, client };
  }

  it('serves a proxy whose certificate, SPIFFE SAN and node id agree', async () => {
    const { status, client } = await attempt(proxyCert(ca, proxy), uuid);
    try {
      assert.equal(status.code, grpc.status.OK, status.details);
      const p = mesh.server.proxies().find((x) => x.uuid === uuid)!;
      assert.equal(p.kind, 'grpc');
      assert.equal(p.serviceAccount, 'bookbuyer');
      assert.equal(p.namespace, 'bookstore');
    } finally {
      client.close();
    }
  });

  it('refuses a certificate from another CA, an expired one, a mismatched node id and no certificate, naming the precise reason, logging each once', async () => {
    const cases: { name: string; leaf: TestCert | undefined; nodeId: string; code: grpc.status; details: RegExp }[] = [
      {
        name: 'foreign CA',
        leaf: proxyCert(foreign, proxy),
        nodeId: uuid,
        code: grpc.status.UNAUTHENTICATED,
        details: /^client certificate [0-9A-Fa-f]+ \(issuer "CN=someone-else"\) is not signed by the mesh trust bundle$/,
      },
      {
        name: 'expired',
        leaf: proxyCert(ca, { ...proxy, notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) }),
        nodeId: uuid,
        code: grpc.status.UNAUTHENTICATED,
        details: /^client certificate [0-9A-Fa-f]+ expired at \d{4}-\d\d-\d\dT.*; issue the proxy a new bootstrap certificate$/,
      },
      {
        name: 'not yet valid',
        leaf: proxyCert(ca, { ...proxy, notBefore: new Date(Date.now() + 3600_000), notAfter: new Date(Date.now() + 7200_000) }),
        nodeId: uuid,
        code: grpc.status.UNAUTHENTICATED,
        details: /is not valid before .*; check the clocks/,
      },
      { name: 'node id mismatch', leaf: proxyCert(ca, proxy), nodeId: 'somebody-else', code: grpc.status.PERMISSION_DENIED, details: /does not match/ },
      { name: 'no client certificate', leaf: undefined, nodeId: uuid, code: grpc.status.UNAUTHENTICATED, details: /^no client certificate was presented/ },
      {
        name: 'other trust domain',
        leaf: proxyCert(ca, { ...proxy, trustDomain: 'other.mesh' }),
        nodeId: uuid,
        code: grpc.status.PERMISSION_DENIED,
        details: /trust domain/,
      },
    ];
    for (const c of cases) {
      const before = mesh.logger.records.filter((r) => r.msg === 'stream refused').length;
      const { status, client } = await attempt(c.leaf, c.nodeId);
      client.close();
      assert.equal(status.code, c.code, `${c.name}: ${status.details}`);
      assert.match(status.details, c.details, c.name);
      const refused = mesh.logger.records.filter((r) => r.msg === 'stream refused');
      assert.equal(refused.length, before + 1, `${c.name}: logged once`);
      assert.match(String(refused[refused.length - 1]!['reason']), c.details);
    }
    assert.equal(mesh.server.stats().proxies, 0);
  });

  it('verifyClientCertificate names the precise reason when it gets the certificate', () => {
    const bundle = [new X509Certificate(ca.certPem)];
    const der = (leaf: TestCert): Buffer => new X509Certificate(leaf.certPem).raw;
    const ok = verifyClientCertificate(der(proxyCert(ca, proxy)), bundle, 'cluster.local');
    assert.deepEqual(ok, { ...proxy, trustDomain: 'cluster.local' });
    const reject = (leaf: TestCert, code: string, msg: RegExp): void => {
      assert.throws(
        () => verifyClientCertificate(der(leaf), bundle, 'cluster.local'),
        (e: unknown) => e instanceof XdsIdentityError && e.code === code && msg.test(e.message),
      );
    };
    reject(proxyCert(foreign, proxy), 'XDS_UNAUTHENTICATED', /not signed by the mesh trust bundle/);
    reject(
      proxyCert(ca, { ...proxy, notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) }),
      'XDS_UNAUTHENTICATED',
      /expired/,
    );
    reject(ca.issue({ commonName: 'not-a-proxy-name' }), 'XDS_PERMISSION_DENIED', /not of the form/);
    reject(
      ca.issue({ commonName: `${uuid}.grpc.bookbuyer.bookstore.cluster.local`, uris: ['spiffe://cluster.local/ns/bookstore/sa/other'] }),
      'XDS_PERMISSION_DENIED',
      /must agree/,
    );
  });
});
