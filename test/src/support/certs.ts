import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

/**
 * Certificates for tests: a CA, a server certificate for 127.0.0.1, proxy client certificates with Weft's
 * CN and SPIFFE URI. Keys come from node:crypto (fast); node-forge builds and signs the certificates.
 */

export interface TestCert {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface TestCa extends TestCert {
  issue(options: LeafOptions): TestCert;
}

export interface LeafOptions {
  readonly commonName: string;
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ips?: readonly string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly server?: boolean;
}

function keyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  return { privateKey: forgeKey, publicKey, keyPem };
}

function serial(): string {
  // Positive, 16 bytes.
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

export function createCa(name = 'weft-test-ca'): TestCa {
  const k = keyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = k.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  const attrs = [{ name: 'commonName', value: name }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(k.privateKey, forge.md.sha256.create());
  const caCert = cert;
  return {
    certPem: forge.pki.certificateToPem(cert),
    keyPem: k.keyPem,
    issue(options: LeafOptions): TestCert {
      const leafKey = keyPair();
      const leaf = forge.pki.createCertificate();
      leaf.publicKey = leafKey.publicKey;
      leaf.serialNumber = serial();
      leaf.validity.notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
      leaf.validity.notAfter = options.notAfter ?? new Date(Date.now() + 3600_000);
      leaf.setSubject([{ name: 'commonName', value: options.commonName }]);
      leaf.setIssuer(caCert.subject.attributes);
      const altNames: { type: number; value?: string; ip?: string }[] = [];
      for (const u of options.uris ?? []) altNames.push({ type: 6, value: u });
      for (const d of options.dnsNames ?? []) altNames.push({ type: 2, value: d });
      for (const ip of options.ips ?? []) altNames.push({ type: 7, ip });
      const ext: object[] = [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: options.server === true, clientAuth: true },
        { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
      ];
      if (altNames.length > 0) ext.push({ name: 'subjectAltName', altNames });
      leaf.setExtensions(ext);
      leaf.sign(k.privateKey, forge.md.sha256.create());
      return { certPem: forge.pki.certificateToPem(leaf), keyPem: leafKey.keyPem };
    },
  };
}

/** A server certificate for the ADS server on 127.0.0.1 / localhost. */
export function serverCert(ca: TestCa): TestCert {
  return ca.issue({ commonName: 'weft-xds.weft-system.svc', dnsNames: ['localhost', 'weft-xds.weft-system.svc'], ips: ['127.0.0.1'], server: true });
}

/** A proxy bootstrap certificate: CN <uuid>.<kind>.<sa>.<ns>.<td> and the SPIFFE URI SAN. */
export function proxyCert(
  ca: TestCa,
  p: { uuid: string; kind: string; serviceAccount: string; namespace: string; trustDomain?: string; notBefore?: Date; notAfter?: Date },
): TestCert {
  const td = p.trustDomain ?? 'cluster.local';
  return ca.issue({
    commonName: `${p.uuid}.${p.kind}.${p.serviceAccount}.${p.namespace}.${td}`,
    uris: [`spiffe://${td}/ns/${p.namespace}/sa/${p.serviceAccount}`],
    ...(p.notBefore === undefined ? {} : { notBefore: p.notBefore }),
    ...(p.notAfter === undefined ? {} : { notAfter: p.notAfter }),
  });
}
