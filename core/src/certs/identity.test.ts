import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  CertificateIdentityError,
  CertificateRequestError,
  identityFromCertificate,
  parseSpiffeId,
  proxyCertificateRequest,
  serviceCertificateRequest,
  servingCertificateRequest,
  spiffeId,
  uriSans,
  xdsServerCertificateRequest,
} from './identity.js';

const dir = mkdtempSync(path.join(tmpdir(), 'weft-identity-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A self-signed certificate made by openssl (a prerequisite of the suite), with the given CN and SANs. */
function opensslCert(cn: string | undefined, san?: string): X509Certificate {
  const out = path.join(dir, `c${n++}.pem`);
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${out}.key`,
    '-out', out, '-days', '1', '-subj', cn === undefined ? '/O=NoCN' : `/CN=${cn}`];
  if (san !== undefined) args.push('-addext', `subjectAltName=${san}`);
  execFileSync('openssl', args, { stdio: 'pipe' });
  return new X509Certificate(readFileSync(out));
}

describe('certificate requests', () => {
  it('names a service identity as OSM and SPIFFE do', () => {
    assert.deepEqual(serviceCertificateRequest({ namespace: 'bookstore', serviceAccount: 'bookbuyer' }), {
      commonName: 'bookbuyer.bookstore.cluster.local',
      dnsNames: ['bookbuyer.bookstore.cluster.local'],
      uris: ['spiffe://cluster.local/ns/bookstore/sa/bookbuyer'],
      usage: 'both',
    });
    const custom = serviceCertificateRequest({ namespace: 'a', serviceAccount: 'b' }, { trustDomain: 'mesh.example.com', validityMs: 60_000 });
    assert.equal(custom.uris?.[0], 'spiffe://mesh.example.com/ns/a/sa/b');
    assert.equal(custom.validityMs, 60_000);
  });

  it('names a proxy bootstrap certificate <uuid>.<kind>.<sa>.<ns>.<td>', () => {
    const r = proxyCertificateRequest({ uuid: 'f00d-1', kind: 'grpc', namespace: 'ns1', serviceAccount: 'sa1' });
    assert.equal(r.commonName, 'f00d-1.grpc.sa1.ns1.cluster.local');
    assert.deepEqual(r.uris, ['spiffe://cluster.local/ns/ns1/sa/sa1']);
    assert.equal(r.usage, 'client');
  });

  it('builds serving and xDS server requests', () => {
    assert.deepEqual(xdsServerCertificateRequest(['weft.weft-system.svc', 'localhost'], { ipAddresses: ['127.0.0.1'] }), {
      commonName: 'weft.weft-system.svc',
      dnsNames: ['weft.weft-system.svc', 'localhost'],
      ipAddresses: ['127.0.0.1'],
      usage: 'server',
    });
    assert.equal(servingCertificateRequest({ dnsNames: [], ipAddresses: ['10.0.0.1'] }).commonName, '10.0.0.1');
  });

  it('refuses names that would make identities ambiguous, naming the input', () => {
    const bad: [() => unknown, RegExp][] = [
      [() => serviceCertificateRequest({ namespace: 'Book_Store', serviceAccount: 'x' }), /namespace "Book_Store"/],
      [() => serviceCertificateRequest({ namespace: 'ns', serviceAccount: 'a.b' }), /service account "a.b"/],
      [() => serviceCertificateRequest({ namespace: 'ns', serviceAccount: 'sa' }, { trustDomain: 'bad domain' }), /trust domain "bad domain"/],
      [() => serviceCertificateRequest({ namespace: 'ns', serviceAccount: 'sa' }, { validityMs: 0 }), /validity 0 ms/],
      [() => proxyCertificateRequest({ uuid: 'a.b', kind: 'sidecar', namespace: 'n', serviceAccount: 's' }), /uuid "a.b"/],
      [() => proxyCertificateRequest({ uuid: 'ab', kind: 'side.car', namespace: 'n', serviceAccount: 's' }), /kind "side.car"/],
      [() => servingCertificateRequest({ dnsNames: [] }), /at least one DNS name/],
      [() => servingCertificateRequest({ dnsNames: ['bad name'] }), /"bad name"/],
    ];
    for (const [fn, message] of bad) {
      assert.throws(fn, (e: unknown) => e instanceof CertificateRequestError && e.code === 'CERT_REQUEST_INVALID' && message.test(e.message));
    }
  });
});

describe('identityFromCertificate', () => {
  it('reads uuid, kind, service account, namespace and trust domain from CN and URI SAN', () => {
    const cert = opensslCert('7f3e.sidecar.bookbuyer.bookstore.cluster.local', 'URI:spiffe://cluster.local/ns/bookstore/sa/bookbuyer');
    assert.deepEqual(identityFromCertificate(cert), {
      uuid: '7f3e',
      kind: 'sidecar',
      serviceAccount: 'bookbuyer',
      namespace: 'bookstore',
      trustDomain: 'cluster.local',
      spiffe: 'spiffe://cluster.local/ns/bookstore/sa/bookbuyer',
    });
    assert.deepEqual(uriSans(cert), ['spiffe://cluster.local/ns/bookstore/sa/bookbuyer']);
  });

  it('accepts an OSM-style certificate without a URI SAN (trust domain with several labels)', () => {
    const id = identityFromCertificate(opensslCert('u1.grpc.sa.ns.mesh.example.com', 'DNS:sa.ns.mesh.example.com'));
    assert.equal(id.trustDomain, 'mesh.example.com');
    assert.equal(id.spiffe, 'spiffe://mesh.example.com/ns/ns/sa/sa');
  });

  it('refuses malformed certificates with typed errors', () => {
    const cases: [X509Certificate, RegExp][] = [
      [opensslCert(undefined), /0 common names/],
      [opensslCert('bookbuyer.bookstore.cluster'), /not of the form <uuid>/],
      [opensslCert('u1.sidecar.Bad_SA.ns.cluster.local'), /service account "Bad_SA"/],
      [opensslCert('u1.sidecar.sa.ns.cluster.local', 'URI:spiffe://cluster.local/ns/other/sa/sa'), /the two must agree/],
      [
        opensslCert('u1.sidecar.sa.ns.cluster.local', 'URI:spiffe://cluster.local/ns/ns/sa/sa,URI:spiffe://cluster.local/ns/x/sa/y'),
        /2 SPIFFE URIs/,
      ],
    ];
    for (const [cert, message] of cases) {
      assert.throws(
        () => identityFromCertificate(cert),
        (e: unknown) => e instanceof CertificateIdentityError && e.code === 'CERT_IDENTITY_INVALID' && message.test(e.message),
        message.source,
      );
    }
  });

  it('parses and builds SPIFFE ids symmetrically', () => {
    assert.deepEqual(parseSpiffeId(spiffeId('cluster.local', 'ns', 'sa')), { trustDomain: 'cluster.local', namespace: 'ns', serviceAccount: 'sa' });
    for (const bad of ['spiffe://cluster.local/ns/a', 'https://x/ns/a/sa/b', 'spiffe://td/ns/A/sa/b']) {
      assert.throws(() => parseSpiffeId(bad), CertificateIdentityError);
    }
  });
});
