import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/mesh.js';
import type { DeltaClient } from '../support/delta-client.js';
import { applyDelta, assertProxiesLoad, heldResources, partialExcept, type Held } from '../support/load-check.js';
import { DAY, ROOT_INBOUND, secretCertFingerprint, serviceCertName, startSdsMesh, subscribeSecrets, type SdsMesh } from './sds-mesh.js';

const A = { namespace: 'bookstore', serviceAccount: 'bookstore' };
const B = { namespace: 'bookbuyer', serviceAccount: 'bookbuyer' };

/** The certificate a fresh TLS handshake with the ADS server is shown (sha256 of its DER). */
function servingFingerprint(mesh: SdsMesh): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: mesh.port, ca: mesh.rootPem, servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
      const der = socket.getPeerCertificate().raw;
      socket.destroy();
      resolve(createHash('sha256').update(der).digest('hex'));
    });
    socket.on('error', reject);
  });
}

/**
 * Rotation reaches proxies: the rotated identity's proxies get the new service certificate on the streams
 * they have, the other identity's proxies get nothing; the ADS server's own certificate rotates without
 * dropping a stream.
 */
describe('certificate rotation pushed over SDS', () => {
  let mesh: SdsMesh;
  const clients: { client: DeltaClient; identity: typeof A; uuid: string; fingerprint: string; held: Held }[] = [];

  before(async () => {
    // Issuance order: the serving certificate (rotates at 80% of its life), A (70%), B (90%).
    mesh = await startSdsMesh([0.8, 0.7, 0.9]);
    await mesh.manager.ensure(A);
    await mesh.manager.ensure(B);
    for (const [uuid, identity] of [
      ['0b5e7a10-0000-4000-8000-00000000000a', A],
      ['0b5e7a10-0000-4000-8000-00000000000b', A],
      ['0b5e7a10-0000-4000-8000-00000000000c', B],
    ] as const) {
      const client = await mesh.connect(uuid, identity);
      const first = await subscribeSecrets(client, [serviceCertName(identity), ROOT_INBOUND]);
      assert.deepEqual(first.resources.map((r) => r.name).sort(), [ROOT_INBOUND, serviceCertName(identity)]);
      const own = first.resources.find((r) => r.name === serviceCertName(identity))!;
      assert.equal(secretCertFingerprint(own), mesh.manager.current(identity)!.fingerprint);
      const held: Held = new Map();
      applyDelta(held, first);
      clients.push({ client, identity, uuid, fingerprint: secretCertFingerprint(own), held });
    }
    assert.equal(mesh.server.stats().proxies, 3);
  });
  after(async () => {
    await mesh?.close();
  });

  it("re-pushes a rotated identity's certificate to exactly its proxies, on the same streams", async () => {
    const streamIds = new Map(mesh.server.proxies().map((p) => [p.uuid, p.id]));
    const issuedBefore = await mesh.metrics.value('osm_cert_issued_count');
    mesh.clock.advance(0.75 * DAY);
    await mesh.manager.settled();
    const rotated = mesh.manager.current(A)!.fingerprint;
    assert.notEqual(rotated, clients[0]!.fingerprint, 'A was re-issued');
    assert.equal(mesh.manager.current(B)!.fingerprint, clients[2]!.fingerprint, 'B was not');

    for (const c of clients.filter((x) => x.identity === A)) {
      const push = await c.client.next(5000);
      assert.deepEqual(push.resources.map((r) => r.name), [serviceCertName(A)], 'only the service certificate changed');
      assert.equal(secretCertFingerprint(push.resources[0]!), rotated);
      assert.deepEqual(push.removedResources, []);
      c.client.ack(push);
      applyDelta(c.held, push);
    }
    // The secrets each proxy holds after the rotation, through the Envoy checker (it asked for secrets by
    // name and nothing else, so every type is partial: what is checked is the secrets themselves).
    assertProxiesLoad(clients.map((c) => ({ proxy: `rotation-push/${c.uuid}`, resources: heldResources(c.held), partial: partialExcept() })));
    await clients[2]!.client.expectNone(300);
    // Same streams: nobody reconnected, the server still knows each proxy by its first stream id.
    assert.deepEqual(new Map(mesh.server.proxies().map((p) => [p.uuid, p.id])), streamIds);
    assert.equal(await mesh.metrics.value('osm_proxy_connect_count'), 3);
    assert.equal(await mesh.metrics.value('osm_cert_issued_count'), issuedBefore + 1, 'the rotation is counted');
    assert.equal(await mesh.metrics.count('osm_cert_issued_time'), issuedBefore + 1);
  });

  it('swaps the serving certificate for new handshakes while open streams stay up', async () => {
    const before = await servingFingerprint(mesh);
    mesh.clock.advance(0.1 * DAY); // 85%: the serving certificate rotates
    await mesh.manager.settled();
    await waitFor('a new serving certificate', async () => (await servingFingerprint(mesh)) !== before, 3000);
    const after = await servingFingerprint(mesh);
    const current = mesh.manager.certificates().find((c) => c.kind === 'server')!;
    assert.equal(after, current.fingerprint, 'new handshakes see the rotated serving certificate');
    assert.ok(mesh.logger.records.some((r) => r.msg === 'serving certificate replaced'));

    // The streams opened under the old serving certificate still carry pushes: B rotates at 90% (92% now;
    // the CA dates certificates by the real clock, so A's new certificate rotates at 95% of this clock too).
    mesh.clock.advance(0.07 * DAY);
    await mesh.manager.settled();
    const push = await clients[2]!.client.next(5000);
    assert.deepEqual(push.resources.map((r) => r.name), [serviceCertName(B)]);
    assert.equal(secretCertFingerprint(push.resources[0]!), mesh.manager.current(B)!.fingerprint);
    clients[2]!.client.ack(push);
    for (const c of clients.filter((x) => x.identity === A)) await c.client.expectNone(100);
    assert.equal(mesh.server.stats().streams, 3);
    assert.equal(await mesh.metrics.value('osm_proxy_connect_count'), 3, 'nobody reconnected');
  });
});
