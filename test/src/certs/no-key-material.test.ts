import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { CertExternals, type ServiceCertificate } from '@weft/core';
import { createFileLogBackend, type CertificateIssuedInfo } from '@weft/core/testing';
import { LocalCa } from '@weft/plugin-ca-local';
import { tempDir } from '@weft/plugin-ca-local/dist/testing.js';
import { leaks } from './key-forms.js';
import { bookbuyer, bookstore, meshCerts } from './mesh-certs.js';

const tmp = tempDir('weft-certs-nokeys-');
after(() => tmp.remove());

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('no private key leaves the issuer except towards its own proxies', () => {
  it('keeps keys out of the encoded event log, the logs and the metrics events', async () => {
    const logDir = path.join(tmp.dir, 'log');
    const log = await createFileLogBackend().open(`file:${logDir}`);
    const mesh = await meshCerts(await LocalCa.open({ caDir: path.join(tmp.dir, 'ca') }), { log });
    const keys: string[] = [];
    const issued: CertificateIssuedInfo[] = [];
    mesh.manager.on('issued', (i) => issued.push(i));
    mesh.onExternal((name) => {
      if (name.startsWith('cert/')) keys.push((mesh.credentials(name === CertExternals.serviceCert('bookstore', 'bookstore') ? bookstore : bookbuyer) as ServiceCertificate).keyPem);
    });
    // Initial issuance, a rotation, a root rotation and the xDS server's certificate.
    await mesh.manager.ensure(bookstore);
    await mesh.manager.ensure(bookbuyer);
    keys.push((await mesh.manager.serverCertificate(['weft.weft-system.svc'])).keyPem);
    mesh.clock.advance(0.7 * 24 * 3600_000 + 60_000);
    await mesh.manager.settled();
    await mesh.manager.beginRootRotation();
    await mesh.manager.reissueUnderNewRoot();
    await mesh.manager.completeRootRotation();
    assert.ok(keys.length >= 7, `collected ${keys.length} keys`);

    // The positive control: the search does find a key where there is one.
    assert.ok(leaks(Buffer.from(JSON.stringify({ k: keys[0] })), keys[0]!).length > 0);

    const events = [];
    for await (const batch of log.read(0)) events.push(...batch.events);
    assert.equal(events.filter((e) => e.kind === 'CertificateIssued').length, 6);
    await log.close();
    // The file log's segments are the encoded events (protobuf envelopes with canonical JSON bodies).
    const readBack = Buffer.from(JSON.stringify(events));
    const onDisk = Buffer.concat(filesUnder(logDir).map((f) => readFileSync(f)));
    assert.ok(onDisk.length > 0);
    const logs = Buffer.from(mesh.logger.records.map((r) => JSON.stringify(r)).join('\n'));
    const metrics = Buffer.from(JSON.stringify(issued));
    for (const key of keys) {
      for (const [where, haystack] of [['log files', onDisk], ['events read back', readBack], ['logs', logs], ['metrics events', metrics]] as const) {
        assert.deepEqual(leaks(haystack, key), [], `key material in the ${where}`);
      }
    }
    // What the log does carry: identity, serial, validity and fingerprint.
    const body = events[0]!.body as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['fingerprint', 'identity', 'meta', 'notAfter', 'notBefore', 'serial']);
  });
});
