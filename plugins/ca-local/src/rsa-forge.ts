import forge from 'node-forge';
import type { CertificateRequest } from '@weft/core';

/**
 * The RSA path through forge's own certificate API (forge's pki only handles RSA keys). Key generation
 * goes through forge too, which hands it to Node's native RSA key generation when it can.
 */

export interface ForgeCa {
  readonly cert: forge.pki.Certificate;
  readonly key: forge.pki.rsa.PrivateKey;
  /** Subject key identifier of the CA, binary string. */
  readonly keyId: string;
}

export function generateRsaKeyPair(bits = 2048): Promise<forge.pki.rsa.KeyPair> {
  return new Promise((resolve, reject) =>
    forge.pki.rsa.generateKeyPair({ bits, e: 0x10001 }, (error, keys) => (error ? reject(error) : resolve(keys))),
  );
}

export function pkcs8Pem(key: forge.pki.rsa.PrivateKey): string {
  return forge.pki.privateKeyInfoToPem(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(key)));
}

function altNames(request: CertificateRequest): { type: number; value?: string; ip?: string }[] {
  return [
    ...(request.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(request.uris ?? []).map((value) => ({ type: 6, value })),
    ...(request.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
}

export interface ForgeLeafInput {
  readonly request: CertificateRequest;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: forge.pki.rsa.PublicKey;
}

/** Signs a leaf with an RSA CA through forge's certificate API; returns the certificate's DER. */
export function forgeLeaf(ca: ForgeCa, input: ForgeLeafInput): Buffer {
  const cert = forge.pki.createCertificate();
  cert.publicKey = input.publicKey;
  cert.serialNumber = input.serialHex;
  cert.validity.notBefore = input.notBefore;
  cert.validity.notAfter = input.notAfter;
  cert.setSubject([{ type: '2.5.4.3', value: input.request.commonName }]);
  cert.setIssuer(ca.cert.subject.attributes);
  const usage = input.request.usage;
  const sans = altNames(input.request);
  cert.setExtensions([
    { name: 'basicConstraints', critical: true, cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    {
      name: 'extKeyUsage',
      serverAuth: usage === 'server' || usage === 'both',
      clientAuth: usage === 'client' || usage === 'both',
    },
    ...(sans.length > 0 ? [{ name: 'subjectAltName', altNames: sans }] : []),
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.keyId },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  return Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
}

/** A self-signed RSA root through forge's certificate API; returns the certificate's DER. */
export function forgeRoot(
  keys: forge.pki.rsa.KeyPair,
  input: { readonly commonName: string; readonly serialHex: string; readonly notBefore: Date; readonly notAfter: Date },
): Buffer {
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = input.serialHex;
  cert.validity.notBefore = input.notBefore;
  cert.validity.notAfter = input.notAfter;
  const name = [
    { type: '2.5.4.10', value: 'Weft' },
    { type: '2.5.4.3', value: input.commonName },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', critical: true, cA: true },
    { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true, digitalSignature: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
}

/** forge's view of an RSA CA (the caller checked that the CA key is RSA; forge parses nothing else). */
export function forgeCa(certPem: string, keyPem: string): ForgeCa {
  const cert = forge.pki.certificateFromPem(certPem);
  const key = forge.pki.privateKeyFromPem(keyPem);
  const ski = cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  const keyId = ski?.subjectKeyIdentifier !== undefined
    ? forge.util.hexToBytes(ski.subjectKeyIdentifier)
    : cert.generateSubjectKeyIdentifier().getBytes();
  return { cert, key, keyId };
}
