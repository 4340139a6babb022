import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CertExternals, captureLogger, type DerivationSpec, type ServiceCertificate } from '@weft/core';
import { CertificateManager, Catalog, Engine, ManualClock, createMemoryLogBackend } from '@weft/core/testing';
import { LocalCa } from '@weft/plugin-ca-local';
import { bookbuyer, bookstore } from './mesh-certs.js';

/** Stand-in for an adapter's SDS secret derivation: reads only its identity's certificate and the bundle. */
function sdsSecret(id: { namespace: string; serviceAccount: string }, computes: Map<string, number>): DerivationSpec<string> {
  const specId = `test/sds/${id.namespace}/${id.serviceAccount}`;
  return {
    id: specId,
    compute(reader) {
      computes.set(specId, (computes.get(specId) ?? 0) + 1);
      const cert = reader.external<ServiceCertificate>(CertExternals.serviceCert(id.namespace, id.serviceAccount));
      const bundle = reader.external<readonly string[]>(CertExternals.trustBundle) ?? [];
      return `${cert?.fingerprint ?? 'none'} roots=${bundle.length}`;
    },
  };
}

describe('certificate rotation and the derivation engine', () => {
  it('re-runs only the SDS derivation of the rotated identity; a root change re-runs all', async () => {
    const engine = new Engine(new Catalog());
    const clock = new ManualClock();
    const issuer = await LocalCa.open({});
    const manager = new CertificateManager({
      issuer, engine, log: await createMemoryLogBackend().open('memory:'), logger: captureLogger(), clock,
      // bookstore rotates at 70% of its lifetime, bookbuyer at 90%.
      random: (() => { const r = [0, 0.999999]; let i = 0; return () => r[i++ % 2]!; })(),
    });
    const computes = new Map<string, number>();
    const store = sdsSecret(bookstore, computes);
    const buyer = sdsSecret(bookbuyer, computes);
    engine.retain(store.id);
    engine.retain(buyer.id);
    assert.equal(engine.get(store).value, 'none roots=1');
    await manager.ensure(bookstore);
    await manager.ensure(bookbuyer);
    const first = engine.get(store).value;
    engine.get(buyer);
    assert.match(first, /^[0-9a-f]{64} roots=1$/);
    const before = new Map(computes);
    const invalidated: string[] = [];
    manager.on('external', (e) => invalidated.push(...e.invalidated));

    clock.advance(0.75 * 24 * 3600_000);
    await manager.settled();
    const second = engine.get(store).value;
    engine.get(buyer);
    assert.notEqual(second, first, 'bookstore got its new certificate');
    assert.equal(computes.get(store.id), before.get(store.id)! + 1);
    assert.equal(computes.get(buyer.id), before.get(buyer.id), 'bookbuyer was not touched');
    assert.deepEqual(invalidated, [store.id], 'the rotation names exactly the derivation to re-push');

    await manager.beginRootRotation();
    assert.match(engine.get(store).value, /roots=2$/);
    assert.match(engine.get(buyer).value, /roots=2$/);
    manager.close();
  });
});
