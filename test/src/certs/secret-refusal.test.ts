import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CertExternals,
  encodeResource,
  TypeUrl,
  type DerivationSpec,
  type ProxyAdapter,
  type ProxyIdentity,
  type ResourceSet,
  type ServiceCertificate,
} from '@weft/core';
import { ROOT_INBOUND, secretCertFingerprint, serviceCertName, startSdsMesh, subscribeSecrets, type Identity, type SdsMesh } from './sds-mesh.js';

const A = { namespace: 'bookstore', serviceAccount: 'bookstore' };
const B = { namespace: 'bookbuyer', serviceAccount: 'bookbuyer' };
const REFUSED = "another identity's secret refused; it is never sent to this proxy";

/** A faulty adapter that puts every identity's key secret it knows (A's and B's) in each proxy's set. */
function leakyAdapter(): ProxyAdapter {
  const secret = (id: Identity, cert: ServiceCertificate) =>
    encodeResource(TypeUrl.Secret, serviceCertName(id), {
      name: serviceCertName(id),
      tlsCertificate: {
        certificateChain: { inlineBytes: Buffer.from(cert.certPem) },
        privateKey: { inlineBytes: Buffer.from(cert.keyPem) },
      },
    });
  return {
    kind: 'leaky',
    typeUrls: [TypeUrl.Secret],
    resources(proxy: ProxyIdentity): DerivationSpec<ResourceSet> {
      return {
        id: `leaky/secrets/${proxy.uuid}`,
        compute(r) {
          const out = new Map();
          for (const id of [A, B]) {
            const cert = r.external<ServiceCertificate>(CertExternals.serviceCert(id.namespace, id.serviceAccount));
            if (cert !== undefined) out.set(serviceCertName(id), secret(id, cert));
          }
          return out;
        },
      };
    },
  };
}

/** A proxy is only ever sent its own identity's key, whatever it asks for and whatever an adapter offers. */
describe("refusing another identity's key secret", () => {
  let mesh: SdsMesh;
  const refusals = (): Record<string, unknown>[] => mesh.logger.records.filter((r) => r.msg === REFUSED);
  const counted = (): Promise<number> => mesh.metrics.value('weft_xds_secret_refused_total');

  before(async () => {
    mesh = await startSdsMesh([], { adapters: [leakyAdapter()] });
    await mesh.manager.ensure(A);
    await mesh.manager.ensure(B);
  });
  after(async () => {
    await mesh?.close();
  });

  it('delta: a subscription to another identity’s secret gets nothing for it, is logged once and counted; the own secret is served', async () => {
    const uuid = '5ec2e700-0000-4000-8000-00000000000a';
    const client = await mesh.connect(uuid, A);
    const first = await subscribeSecrets(client, [serviceCertName(B), serviceCertName(A), ROOT_INBOUND]);
    assert.deepEqual(first.resources.map((r) => r.name).sort(), [ROOT_INBOUND, serviceCertName(A)]);
    assert.equal(secretCertFingerprint(first.resources.find((r) => r.name === serviceCertName(A))!), mesh.manager.current(A)!.fingerprint);
    // Not even named as absent: the refused name does not exist for this proxy.
    assert.deepEqual(first.removedResources, []);
    assert.equal(refusals().length, 1);
    assert.equal(refusals()[0]!['uuid'], uuid);
    assert.equal(refusals()[0]!['secret'], serviceCertName(B));
    assert.equal(refusals()[0]!['identity'], 'bookstore/bookstore');
    assert.equal(refusals()[0]!['how'], 'subscribed');
    assert.equal(await counted(), 1);

    // Asking again on the same stream: still nothing, not logged again.
    client.request({ typeUrl: TypeUrl.Secret, subscribe: [serviceCertName(B)] });
    await client.expectNone(300);
    assert.equal(refusals().length, 1);
    assert.equal(await counted(), 1);

    // B gets a new certificate: its secret never reaches A's stream, which gets nothing at all.
    mesh.manager.forget(B);
    await mesh.manager.ensure(B);
    await client.expectNone(300);
    assert.equal(mesh.server.stats().proxies, 1, 'the stream stays up: refusing is not an error of the proxy');
    client.close();
  });

  it('state of the world: the refused name is left out of the answer, logged once for the new stream', async () => {
    const uuid = '5ec2e700-0000-4000-8000-00000000000b';
    const client = await mesh.connectSotw(uuid, B);
    client.request({ typeUrl: TypeUrl.Secret, resourceNames: [serviceCertName(A), serviceCertName(B)] });
    const first = await client.next(5000);
    assert.deepEqual(first.resources.map((r) => r.name), [serviceCertName(B)]);
    client.request({ typeUrl: TypeUrl.Secret, resourceNames: [serviceCertName(A), serviceCertName(B)], versionInfo: first.versionInfo, responseNonce: first.nonce });
    await client.expectNone(300);
    const mine = refusals().filter((r) => r['uuid'] === uuid);
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!['secret'], serviceCertName(A));
    assert.equal(await counted(), 2);
    client.close();
  });

  it("an adapter that puts another identity's secret in a proxy's set: the secret is held back and the refusal logged", async () => {
    const uuid = '5ec2e700-0000-4000-8000-00000000000c';
    const client = await mesh.connect(uuid, A, 'leaky');
    client.request({ typeUrl: TypeUrl.Secret, subscribe: ['*'] });
    const first = await client.next(5000);
    assert.deepEqual(first.resources.map((r) => r.name), [serviceCertName(A)]);
    const mine = refusals().filter((r) => r['uuid'] === uuid);
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!['secret'], serviceCertName(B));
    assert.equal(mine[0]!['how'], 'in resource set');
    assert.equal(await counted(), 3);
    client.close();
  });
});
