import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import 'reflect-metadata';
import { container } from 'tsyringe';
import {
  PLUGIN_API_VERSION,
  PluginConfigError,
  Tokens,
  captureLogger,
  proxyCertificateRequest,
  serviceCertificateRequest,
  identityFromCertificate,
  type CertificateIssuer,
} from '@weft/core';
import plugin, { CaKeyPermissionError, CaMaterialError, LocalCa, validateConfig } from './index.js';
import { openssl, opensslVerify, tempDir } from './testing.js';

const tmp = tempDir('weft-ca-local-');
after(() => tmp.remove());

const bookstore = serviceCertificateRequest({ namespace: 'bookstore', serviceAccount: 'bookstore-v1' });

function x509(pem: string): X509Certificate {
  return new X509Certificate(pem);
}

describe('LocalCa issuance', () => {
  for (const keyAlgorithm of ['ecdsa-p256', 'rsa-2048'] as const) {
    it(`issues a service certificate that verifies (${keyAlgorithm})`, async () => {
      const ca = await LocalCa.open({ keyAlgorithm });
      const issued = await ca.issue(bookstore);
      const leaf = x509(issued.certPem);
      const root = x509(ca.trustBundle()[0]!);
      assert.ok(leaf.checkIssued(root), 'issuer name matches the root');
      assert.ok(leaf.verify(root.publicKey), 'signature verifies with the root key');
      assert.equal(leaf.ca, false);
      assert.equal(leaf.subject, 'CN=bookstore-v1.bookstore.cluster.local');
      assert.equal(
        leaf.subjectAltName,
        'DNS:bookstore-v1.bookstore.cluster.local, URI:spiffe://cluster.local/ns/bookstore/sa/bookstore-v1',
      );
      assert.equal(leaf.serialNumber, issued.serial);
      assert.equal(leaf.fingerprint256.replace(/:/g, '').toLowerCase(), issued.fingerprint);
      assert.ok(leaf.checkPrivateKey(createPrivateKey(issued.keyPem)), 'the key belongs to the certificate');
      assert.match(issued.keyPem, /^-----BEGIN PRIVATE KEY-----/, 'PKCS#8');
      assert.equal(leaf.publicKey.asymmetricKeyType, keyAlgorithm === 'rsa-2048' ? 'rsa' : 'ec');
      assert.deepEqual(issued.chainPem, []);
      const lifetime = issued.notAfter.getTime() - issued.notBefore.getTime();
      assert.ok(Math.abs(lifetime - (24 * 3600_000 + 60_000)) <= 1000, `24 h + skew, got ${lifetime} ms`);
      assert.equal(new Date(leaf.validTo).getTime(), issued.notAfter.getTime());
      for (const purpose of ['sslserver', 'sslclient'] as const) {
        assert.match(opensslVerify(tmp.dir, { roots: ca.trustBundle(), leaf: issued.certPem, purpose }), /: OK/);
      }
      const text = openssl(['x509', '-noout', '-text'], issued.certPem);
      assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
      assert.match(text, /Key Usage: critical\s+Digital Signature/);
      assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
      assert.match(text, /Subject Key Identifier/);
      assert.match(text, /Authority Key Identifier/);
      assert.match(text, /Signature Algorithm: (ecdsa-with-SHA256|sha256WithRSAEncryption)/);
    });
  }

  it('issues proxy, serving and IP certificates with the asked usage and names', async () => {
    const ca = await LocalCa.open({});
    const proxy = await ca.issue(
      proxyCertificateRequest({ uuid: '6d1d4f0e-7b2a-4c43-9a6a-2f1f00000001', kind: 'sidecar', namespace: 'bookstore', serviceAccount: 'bookstore-v1' }),
    );
    const identity = identityFromCertificate(x509(proxy.certPem));
    assert.deepEqual(identity, {
      uuid: '6d1d4f0e-7b2a-4c43-9a6a-2f1f00000001',
      kind: 'sidecar',
      serviceAccount: 'bookstore-v1',
      namespace: 'bookstore',
      trustDomain: 'cluster.local',
      spiffe: 'spiffe://cluster.local/ns/bookstore/sa/bookstore-v1',
    });
    assert.match(opensslVerify(tmp.dir, { roots: ca.trustBundle(), leaf: proxy.certPem, purpose: 'sslclient' }), /: OK/);
    assert.throws(
      () => opensslVerify(tmp.dir, { roots: ca.trustBundle(), leaf: proxy.certPem, purpose: 'sslserver' }),
      /unsuitable certificate purpose/,
      'a client-only certificate is not a server certificate',
    );
    const serving = await ca.issue({ commonName: 'weft', dnsNames: ['weft.weft-system.svc'], ipAddresses: ['127.0.0.1', 'fd00::1'], usage: 'server' });
    const leaf = x509(serving.certPem);
    assert.equal(leaf.subjectAltName, 'DNS:weft.weft-system.svc, IP Address:127.0.0.1, IP Address:FD00:0:0:0:0:0:0:1');
    assert.ok(leaf.checkIP('127.0.0.1'));
    assert.ok(leaf.checkHost('weft.weft-system.svc'));
  });

  it('honours validity from the request and an injected time source', async () => {
    const past = Date.now() - 48 * 3600_000;
    const ca = await LocalCa.open({ now: () => past, validityMs: 3600_000 });
    const issued = await ca.issue(bookstore);
    assert.ok(issued.notAfter.getTime() < Date.now(), 'expired certificate for tests of expiry handling');
    assert.throws(() => opensslVerify(tmp.dir, { roots: ca.trustBundle(), leaf: issued.certPem }), /certificate has expired/);
    const shortRoot = await LocalCa.open({ rootValidityMs: 3600_000 });
    const clamped = await shortRoot.issue(bookstore);
    assert.equal(clamped.notAfter.getTime(), new Date(x509(shortRoot.trustBundle()[0]!).validTo).getTime(), 'a leaf never outlives its CA');
    const short = await (await LocalCa.open({})).issue({ ...bookstore, validityMs: 10 * 60_000 });
    assert.ok(Math.abs(short.notAfter.getTime() - Date.now() - 10 * 60_000) < 2000);
  });

  it('gives every certificate a distinct positive serial', async () => {
    const ca = await LocalCa.open({});
    const serials = new Set<string>();
    for (let i = 0; i < 200; i++) serials.add((await ca.issue(bookstore)).serial);
    assert.equal(serials.size, 200);
    for (const s of serials) assert.match(s, /^[0-7][0-9A-F]{31}$/);
  });
});

describe('LocalCa root in the data directory', () => {
  it('creates the root with a 0700 directory and a 0600 key, and reuses it on the next start', async () => {
    const caDir = path.join(tmp.dir, 'data', 'ca');
    const first = await LocalCa.open({ caDir });
    assert.equal(statSync(caDir).mode & 0o777, 0o700);
    assert.equal(statSync(path.join(caDir, 'ca.key')).mode & 0o777, 0o600);
    const again = await LocalCa.open({ caDir });
    assert.deepEqual(again.trustBundle(), first.trustBundle());
    const leaf = x509((await again.issue(bookstore)).certPem);
    assert.ok(leaf.verify(x509(first.trustBundle()[0]!).publicKey));
  });

  it('refuses a key file readable by others and names the file', async () => {
    const caDir = path.join(tmp.dir, 'loose', 'ca');
    await LocalCa.open({ caDir });
    const keyFile = path.join(caDir, 'ca.key');
    for (const mode of [0o644, 0o640, 0o604]) {
      chmodSync(keyFile, mode);
      await assert.rejects(LocalCa.open({ caDir }), (error: unknown) => {
        assert.ok(error instanceof CaKeyPermissionError);
        assert.equal(error.code, 'CA_KEY_PERMISSIONS');
        assert.equal(error.file, keyFile);
        assert.ok(error.message.includes(keyFile) && error.message.includes('chmod 600'), error.message);
        return true;
      });
    }
    chmodSync(keyFile, 0o600);
    await LocalCa.open({ caDir });
  });

  it('rotates its root with an overlap and keeps every phase across restarts', async () => {
    const caDir = path.join(tmp.dir, 'rotate', 'ca');
    const ca = await LocalCa.open({ caDir });
    const oldRoot = ca.trustBundle()[0]!;
    const seen: number[] = [];
    ca.onTrustBundleChange((bundle) => seen.push(bundle.length));
    const rotator = ca.rootRotation!;
    await rotator.stage();
    assert.equal(ca.trustBundle().length, 2);
    assert.equal(ca.trustBundle()[0], oldRoot);
    assert.ok(x509((await ca.issue(bookstore)).certPem).checkIssued(x509(oldRoot)), 'staged root does not sign yet');
    assert.equal((await LocalCa.open({ caDir })).trustBundle().length, 2, 'overlap persisted');
    await assert.rejects(rotator.stage(), CaMaterialError);
    await rotator.activate();
    const newRoot = ca.trustBundle()[1]!;
    const underNew = await ca.issue(bookstore);
    assert.ok(x509(underNew.certPem).checkIssued(x509(newRoot)));
    assert.match(opensslVerify(tmp.dir, { roots: ca.trustBundle(), leaf: underNew.certPem }), /: OK/);
    const reopened = await LocalCa.open({ caDir });
    assert.ok(x509((await reopened.issue(bookstore)).certPem).checkIssued(x509(newRoot)), 'new root signs after restart');
    await rotator.retire();
    assert.deepEqual(ca.trustBundle(), [newRoot]);
    assert.deepEqual((await LocalCa.open({ caDir })).trustBundle(), [newRoot]);
    assert.deepEqual(seen, [2, 1]);
    assert.equal(statSync(path.join(caDir, 'ca.key')).mode & 0o777, 0o600);
  });
});

describe('LocalCa with a bring-your-own CA', () => {
  // The CA material comes from openssl, not from this code, so the test also covers foreign encodings.
  function opensslChain(dir: string): { root: string; inter: string; interKey: string; rootKey: string } {
    const f = (n: string): string => path.join(dir, n);
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('root.key'), '-out', f('root.pem'), '-days', '30',
      '-subj', '/O=Example/CN=Example Root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('inter.key'), '-out', f('inter.csr'),
      '-subj', '/O=Example/CN=Example Mesh Intermediate']);
    writeFileSync(f('ext.cnf'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    openssl(['x509', '-req', '-in', f('inter.csr'), '-CA', f('root.pem'), '-CAkey', f('root.key'), '-CAcreateserial', '-out', f('inter.pem'),
      '-days', '30', '-extfile', f('ext.cnf')]);
    chmodSync(f('inter.key'), 0o600);
    return { root: f('root.pem'), inter: f('inter.pem'), interKey: f('inter.key'), rootKey: f('root.key') };
  }

  // One chain for both tests: openssl's RSA root key generation is the slow part.
  let chain: ReturnType<typeof opensslChain> | undefined;
  const byoChain = (): ReturnType<typeof opensslChain> => {
    if (chain === undefined) {
      const dir = path.join(tmp.dir, 'byo');
      mkdirSync(dir);
      chain = opensslChain(dir);
    }
    return chain;
  };

  it('signs with an intermediate, ships it in the chain, and trusts only the root', async () => {
    const m = byoChain();
    const dir = path.dirname(m.root);
    const ca = await LocalCa.open({ bringYourOwn: { certFile: m.inter, keyFile: m.interKey, chainFile: m.root } });
    const rootPem = readFileSync(m.root, 'utf8');
    const interPem = readFileSync(m.inter, 'utf8');
    assert.deepEqual(ca.trustBundle(), [rootPem]);
    assert.equal(ca.rootRotation, undefined, 'a BYO CA is rotated where it is kept');
    for (const keyAlgorithm of ['ecdsa-p256', 'rsa-2048'] as const) {
      const issuer = keyAlgorithm === 'ecdsa-p256' ? ca : await LocalCa.open({ keyAlgorithm, bringYourOwn: { certFile: m.inter, keyFile: m.interKey, chainFile: m.root } });
      const issued = await issuer.issue(bookstore);
      assert.deepEqual(issued.chainPem, [interPem]);
      assert.ok(x509(issued.certPem).checkIssued(x509(interPem)));
      assert.match(opensslVerify(tmp.dir, { roots: [rootPem], chain: issued.chainPem, leaf: issued.certPem }), /: OK/);
      assert.throws(() => opensslVerify(tmp.dir, { roots: [rootPem], leaf: issued.certPem }), /unable to get local issuer certificate/);
    }
    // The whole chain in the cert file works too.
    const bundled = path.join(dir, 'bundled.pem');
    writeFileSync(bundled, interPem + rootPem);
    const fromBundle = await LocalCa.open({ bringYourOwn: { certFile: bundled, keyFile: m.interKey } });
    assert.deepEqual(fromBundle.trustBundle(), [rootPem]);
  });

  it('refuses incomplete chains, wrong keys and loose key files with the file named', async () => {
    const m = byoChain();
    const dir = path.dirname(m.root);
    await assert.rejects(LocalCa.open({ bringYourOwn: { certFile: m.inter, keyFile: m.interKey } }), (e: unknown) => {
      assert.ok(e instanceof CaMaterialError);
      assert.match(e.message, /set chainFile/);
      return true;
    });
    chmodSync(m.rootKey, 0o600);
    await assert.rejects(LocalCa.open({ bringYourOwn: { certFile: m.inter, keyFile: m.rootKey, chainFile: m.root } }), /does not belong to the CA certificate/);
    chmodSync(m.interKey, 0o644);
    await assert.rejects(LocalCa.open({ bringYourOwn: { certFile: m.inter, keyFile: m.interKey, chainFile: m.root } }), (e: unknown) => {
      assert.ok(e instanceof CaKeyPermissionError);
      assert.equal(e.file, m.interKey);
      return true;
    });
    await assert.rejects(LocalCa.open({ bringYourOwn: { certFile: path.join(dir, 'nope.pem'), keyFile: m.interKey } }), /nope\.pem does not exist/);
  });
});

describe('ca-local plugin', () => {
  it('validates its config section and names the bad field', () => {
    assert.deepEqual(validateConfig(undefined), {
      keyAlgorithm: 'ecdsa-p256', validityMs: undefined, rootValidityMs: undefined, trustDomain: undefined, caDir: undefined, bringYourOwn: undefined,
    });
    assert.equal(validateConfig({ validity: '1h30m' }).validityMs, 5_400_000);
    assert.equal(validateConfig({ rootValidity: '3650d' }).rootValidityMs, 3650 * 86_400_000);
    const bad: [unknown, string][] = [
      [{ keyAlgorithm: 'dsa' }, 'keyAlgorithm'],
      [{ validity: '24 hours' }, 'validity'],
      [{ validity: -5 }, 'validity'],
      [{ trustDomain: 'Not A Domain' }, 'trustDomain'],
      [{ bringYourOwn: { key: 'k.pem' } }, 'bringYourOwn.cert'],
      [{ bringYourOwn: { cert: 'c.pem', key: 'k.pem', extra: 1 } }, 'bringYourOwn.extra'],
      [{ caDir: 'ca', bringYourOwn: { cert: 'c.pem', key: 'k.pem' } }, 'caDir'],
      [{ vality: '1h' }, 'vality'],
      ['text', ''],
    ];
    for (const [raw, field] of bad) {
      assert.throws(() => validateConfig(raw), (e: unknown) => e instanceof PluginConfigError && e.path === field, JSON.stringify(raw));
    }
  });

  it('registers a LocalCa under Tokens.CertificateIssuer with its root in <dataDir>/ca', async () => {
    assert.equal(plugin.name, 'ca-local');
    assert.equal(plugin.apiVersion, PLUGIN_API_VERSION);
    const dataDir = path.join(tmp.dir, 'plugin-data');
    const child = container.createChildContainer();
    const logger = captureLogger();
    await plugin.register(child, plugin.validateConfig!({ validity: '2h', trustDomain: 'mesh.example' }), {
      logger, dataDir, configDir: tmp.dir, trustDomain: 'cluster.local',
    });
    const issuer = child.resolve<CertificateIssuer>(Tokens.CertificateIssuer);
    assert.ok(issuer instanceof LocalCa);
    assert.equal(issuer.trustDomain, 'mesh.example');
    assert.equal(statSync(path.join(dataDir, 'ca', 'ca.key')).mode & 0o777, 0o600);
    const issued = await issuer.issue(bookstore);
    assert.ok(Math.abs(issued.notAfter.getTime() - Date.now() - 2 * 3600_000) < 2000);
    assert.ok(!JSON.stringify(logger.records).includes('PRIVATE KEY'), 'no key material in the logs');
  });
});
