import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypeUrl } from './adapter.js';
import { osmSecretOwner, ownSecretsOnly, withoutForeignSecrets } from './secrets.js';
import type { DeltaRequest, SotwRequest } from './wire.js';

const me = { namespace: 'shop', serviceAccount: 'web' };

describe('identity secrets', () => {
  it("reads OSM's service-cert names; other names have no owner; malformed ones belong to nobody", () => {
    assert.deepEqual(osmSecretOwner('service-cert:shop/web'), me);
    assert.equal(osmSecretOwner('root-cert-for-mtls-inbound'), undefined);
    assert.equal(osmSecretOwner('root-cert-for-mtls-outbound:shop/api'), undefined);
    for (const bad of ['service-cert:', 'service-cert:shop', 'service-cert:/web', 'service-cert:shop/', 'service-cert:a/b/c']) {
      const owner = osmSecretOwner(bad);
      assert.ok(owner !== undefined && owner.serviceAccount === '', bad);
    }
  });

  it('strips foreign secrets from SotW and delta requests, leaves other types alone', () => {
    const sotw: SotwRequest = {
      kind: 'sotw',
      node: undefined,
      versionInfo: '',
      resourceNames: ['service-cert:shop/web', 'service-cert:bank/vault', 'root-cert-for-mtls-inbound'],
      typeUrl: TypeUrl.Secret,
      responseNonce: '',
      errorDetail: undefined,
    };
    const s = withoutForeignSecrets(sotw, me, osmSecretOwner);
    assert.deepEqual((s.request as SotwRequest).resourceNames, ['service-cert:shop/web', 'root-cert-for-mtls-inbound']);
    assert.deepEqual(s.refused, [{ name: 'service-cert:bank/vault', owner: { namespace: 'bank', serviceAccount: 'vault' } }]);

    const delta: DeltaRequest = {
      kind: 'delta',
      node: undefined,
      typeUrl: TypeUrl.Secret,
      subscribe: ['service-cert:bank/vault'],
      unsubscribe: [],
      initialResourceVersions: new Map([['service-cert:bank/vault', 'v1'], ['service-cert:shop/web', 'v2']]),
      responseNonce: '',
      errorDetail: undefined,
    };
    const d = withoutForeignSecrets(delta, me, osmSecretOwner);
    assert.deepEqual((d.request as DeltaRequest).subscribe, []);
    assert.deepEqual([...(d.request as DeltaRequest).initialResourceVersions], [['service-cert:shop/web', 'v2']]);
    assert.equal(d.refused.length, 1, 'one refusal per name');

    const clusters = { ...sotw, typeUrl: TypeUrl.Cluster };
    assert.equal(withoutForeignSecrets(clusters, me, osmSecretOwner).request, clusters);
    assert.equal(withoutForeignSecrets({ ...sotw, resourceNames: ['service-cert:shop/web'] }, me, osmSecretOwner).refused.length, 0);
  });

  it('keeps only the own secrets of a set, without copying when nothing is foreign', () => {
    const r = (name: string) => ({ name, typeUrl: TypeUrl.Secret, version: '1', any: new Uint8Array(), dump: {} });
    const clean = new Map([['service-cert:shop/web', r('service-cert:shop/web')]]);
    assert.equal(ownSecretsOnly(clean, me, osmSecretOwner).set, clean);
    const dirty = new Map([...clean, ['service-cert:bank/vault', r('service-cert:bank/vault')]]);
    const out = ownSecretsOnly(dirty, me, osmSecretOwner);
    assert.deepEqual([...out.set.keys()], ['service-cert:shop/web']);
    assert.deepEqual(out.refused.map((x) => x.name), ['service-cert:bank/vault']);
    // An adapter's own naming is honoured next to OSM's.
    const custom = (name: string) => (name.startsWith('key/') ? { namespace: 'bank', serviceAccount: name.slice(4) } : osmSecretOwner(name));
    assert.deepEqual(ownSecretsOnly(new Map([['key/vault', r('key/vault')]]), me, custom).refused.map((x) => x.name), ['key/vault']);
  });
});
