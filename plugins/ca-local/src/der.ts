import { createHash, sign, type KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import forge from 'node-forge';
import { CaMaterialError } from './errors.js';

/**
 * X.509 v3 certificates built with node-forge's ASN.1/DER layer and signed with Node's crypto. forge's
 * own certificate API only handles RSA keys; this path handles any signer key Node can sign with
 * (ECDSA P-256 by default, RSA too) and any subject public key given as SPKI DER.
 */

const asn1 = forge.asn1;
type Asn1 = forge.asn1.Asn1;
const U = asn1.Class.UNIVERSAL;
const CTX = asn1.Class.CONTEXT_SPECIFIC;
const T = asn1.Type;

export const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
} as const;

/** Key usage bits (RFC 5280 4.2.1.3), numbered from the most significant bit of the first byte. */
export const KeyUsage = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyCertSign: 5,
  cRLSign: 6,
} as const;

const bin = (buf: Uint8Array): string => Buffer.from(buf).toString('binary');
const buf = (binary: string): Buffer => Buffer.from(binary, 'binary');

function seq(items: Asn1[]): Asn1 {
  return asn1.create(U, T.SEQUENCE, true, items);
}
const oidBytes = new Map<string, string>();
function oid(value: string): Asn1 {
  // Encoding an OID is string work forge repeats on every call; certificates use a dozen, over and over.
  let bytes = oidBytes.get(value);
  if (bytes === undefined) oidBytes.set(value, (bytes = asn1.oidToDer(value).getBytes()));
  return asn1.create(U, T.OID, false, bytes);
}
function octets(value: Uint8Array): Asn1 {
  return asn1.create(U, T.OCTETSTRING, false, bin(value));
}
function bitString(value: Uint8Array, unusedBits = 0): Asn1 {
  return asn1.create(U, T.BITSTRING, false, String.fromCharCode(unusedBits) + bin(value));
}
function der(node: Asn1): Buffer {
  return buf(asn1.toDer(node).getBytes());
}

/** A distinguished name as (attribute OID, value) pairs, most significant first. */
export type Name = readonly (readonly [string, string])[];

export function encodeName(name: Name): Asn1 {
  return seq(
    name.map(([type, value]) =>
      asn1.create(U, T.SET, true, [seq([oid(type), asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(value))])]),
    ),
  );
}

function time(date: Date): Asn1 {
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050 on.
  return date.getUTCFullYear() < 2050
    ? asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(id)];
  if (critical) parts.push(asn1.create(U, T.BOOLEAN, false, '\xff'));
  parts.push(asn1.create(U, T.OCTETSTRING, false, asn1.toDer(value).getBytes()));
  return seq(parts);
}

export function basicConstraints(ca: boolean, pathLength?: number): Asn1 {
  const items: Asn1[] = [];
  if (ca) items.push(asn1.create(U, T.BOOLEAN, false, '\xff'));
  if (ca && pathLength !== undefined) items.push(asn1.create(U, T.INTEGER, false, asn1.integerToDer(pathLength).getBytes()));
  return extension(OID.basicConstraints, true, seq(items));
}

export function keyUsage(bits: readonly number[]): Asn1 {
  const bytes = new Uint8Array(2);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  // DER: trailing zero bytes dropped, the unused low bits of the last byte counted.
  const length = bytes[1] !== 0 ? 2 : 1;
  const last = bytes[length - 1]!;
  let unused = 0;
  while (last !== 0 && unused < 7 && (last & (1 << unused)) === 0) unused++;
  return extension(OID.keyUsage, true, bitString(bytes.subarray(0, length), unused));
}

export function extKeyUsage(usages: readonly string[]): Asn1 {
  return extension(OID.extKeyUsage, false, seq(usages.map(oid)));
}

function ipBytes(ip: string): Uint8Array {
  if (isIPv4(ip)) return Uint8Array.from(ip.split('.').map(Number));
  if (isIPv6(ip)) {
    const [head, tail] = ip.includes('::') ? ip.split('::') as [string, string] : [ip, undefined];
    const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
    const h = groups(head);
    const t = tail === undefined ? [] : groups(tail);
    const words = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    if (words.length !== 8 || words.some((w) => w.includes('.'))) {
      throw new CaMaterialError(`IP address "${ip}": IPv6 with an embedded IPv4 part is not supported; write it in hex`);
    }
    const out = new Uint8Array(16);
    words.forEach((w, i) => {
      const v = parseInt(w, 16);
      out[2 * i] = v >> 8;
      out[2 * i + 1] = v & 0xff;
    });
    return out;
  }
  throw new CaMaterialError(`"${ip}" is not an IPv4 or IPv6 address; fix ipAddresses in the certificate request`);
}

export function subjectAltName(names: {
  readonly dnsNames?: readonly string[];
  readonly uris?: readonly string[];
  readonly ipAddresses?: readonly string[];
}): Asn1 {
  const general: Asn1[] = [
    ...(names.dnsNames ?? []).map((n) => asn1.create(CTX, 2, false, n)),
    ...(names.uris ?? []).map((u) => asn1.create(CTX, 6, false, u)),
    ...(names.ipAddresses ?? []).map((ip) => asn1.create(CTX, 7, false, bin(ipBytes(ip)))),
  ];
  return extension(OID.subjectAltName, false, seq(general));
}

export function subjectKeyIdentifier(keyId: Uint8Array): Asn1 {
  return extension(OID.subjectKeyIdentifier, false, octets(keyId));
}

export function authorityKeyIdentifier(keyId: Uint8Array): Asn1 {
  return extension(OID.authorityKeyIdentifier, false, seq([asn1.create(CTX, 0, false, bin(keyId))]));
}

/** A SubjectPublicKeyInfo parsed once, for both the certificate body and the key identifier. */
export function parseSpki(spkiDer: Uint8Array): Asn1 {
  return asn1.fromDer(bin(spkiDer));
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey bits of an SPKI (DER or already parsed). */
export function keyIdentifier(spki: Uint8Array | Asn1): Buffer {
  const node = spki instanceof Uint8Array ? parseSpki(spki) : spki;
  // forge keeps the raw contents (unused-bits byte first) when it also decoded them as nested ASN.1.
  const bits = (node.value as Asn1[])[1] as (Asn1 & { bitStringContents?: string }) | undefined;
  const contents = bits?.bitStringContents ?? (typeof bits?.value === 'string' ? bits.value : undefined);
  if (bits === undefined || bits.type !== T.BITSTRING || contents === undefined) {
    throw new CaMaterialError('public key is not a SubjectPublicKeyInfo');
  }
  return createHash('sha1').update(buf(contents.slice(1))).digest();
}

/** Positive 127-bit random serial; the first byte is never zero so the encoding has a fixed length. */
export function randomSerial(random: Uint8Array): Buffer {
  const serial = Buffer.from(random.subarray(0, 16));
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  return serial;
}

export interface TbsInput {
  readonly serial: Uint8Array;
  readonly issuer: Asn1;
  readonly subject: Asn1;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The subject's public key, DER or parsed with parseSpki. */
  readonly spki: Uint8Array | Asn1;
  readonly extensions: readonly Asn1[];
}

function signatureAlgorithm(signer: KeyObject): Asn1 {
  switch (signer.asymmetricKeyType) {
    case 'ec': {
      const curve = signer.asymmetricKeyDetails?.namedCurve;
      if (curve !== 'prime256v1') {
        throw new CaMaterialError(`CA key on curve ${curve ?? 'unknown'} is not supported; use an ECDSA P-256 or RSA CA key`);
      }
      return seq([oid(OID.ecdsaWithSha256)]);
    }
    case 'rsa':
      return seq([oid(OID.sha256WithRsa), asn1.create(U, T.NULL, false, '')]);
    default:
      throw new CaMaterialError(
        `CA key type ${signer.asymmetricKeyType ?? 'unknown'} is not supported; use an ECDSA P-256 or RSA CA key`,
      );
  }
}

/** Builds and signs a certificate; returns its DER. */
export function buildCertificate(input: TbsInput, signer: KeyObject): Buffer {
  const algorithm = signatureAlgorithm(signer);
  const tbs = seq([
    asn1.create(CTX, 0, true, [asn1.create(U, T.INTEGER, false, '\x02')]),
    asn1.create(U, T.INTEGER, false, bin(input.serial)),
    algorithm,
    input.issuer,
    seq([time(input.notBefore), time(input.notAfter)]),
    input.subject,
    input.spki instanceof Uint8Array ? parseSpki(input.spki) : input.spki,
    asn1.create(CTX, 3, true, [seq([...input.extensions])]),
  ]);
  const tbsDer = der(tbs);
  // Node signs ECDSA as a DER Ecdsa-Sig-Value, the form X.509 carries.
  const signature = sign('sha256', tbsDer, signer);
  // The outer SEQUENCE is framed by hand so the signed TBS bytes are used as they are, not re-encoded.
  const body = Buffer.concat([tbsDer, der(algorithm), der(bitString(signature))]);
  return Buffer.concat([derHeader(0x30, body.length), body]);
}

function derHeader(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
  return Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
}

/** The subject Name and subject key identifier of a CA certificate, for the issuer side of its leaves. */
export function caIdentity(caDer: Uint8Array): { subject: Asn1; keyId: Buffer | undefined } {
  const cert = asn1.fromDer(bin(caDer));
  const tbs = (cert.value as Asn1[])[0];
  const fields = tbs?.value;
  if (!Array.isArray(fields)) throw new CaMaterialError('CA certificate is not an X.509 certificate');
  const hasVersion = fields[0]?.tagClass === CTX && fields[0].type === 0;
  const at = (i: number): Asn1 | undefined => fields[hasVersion ? i : i - 1];
  const subject = at(5);
  if (subject === undefined) throw new CaMaterialError('CA certificate has no subject');
  let keyId: Buffer | undefined;
  for (const field of fields) {
    if (field.tagClass !== CTX || field.type !== 3 || !Array.isArray(field.value)) continue;
    for (const ext of (field.value[0]?.value ?? []) as Asn1[]) {
      const parts = ext.value as Asn1[];
      if (asn1.derToOid(parts[0]!.value as string) !== OID.subjectKeyIdentifier) continue;
      const valueNode = parts[parts.length - 1]!;
      const inner = typeof valueNode.value === 'string' ? asn1.fromDer(valueNode.value) : (valueNode.value[0] as Asn1);
      keyId = buf(inner.value as string);
    }
  }
  return { subject, keyId };
}

// P-256 key encodings have fixed shapes; filling them in costs microseconds where Node's OpenSSL 3 key
// encoder costs several hundred (it was most of the time of an issuance).
const SPKI_P256 = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const PKCS8_P256_HEAD = Buffer.from('308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420', 'hex');
const PKCS8_P256_PUBLIC = Buffer.from('a144034200', 'hex');

/**
 * SubjectPublicKeyInfo (DER) and PKCS#8 (PEM, RFC 5915 inside) of a P-256 key given as its private
 * scalar and uncompressed public point, both as Node's ECDH returns them.
 */
export function p256KeyEncodings(privateScalar: Buffer, publicPoint: Buffer): { spkiDer: Buffer; pkcs8Pem: string } {
  if (publicPoint.length !== 65 || publicPoint[0] !== 0x04 || privateScalar.length > 32) {
    throw new CaMaterialError('not a P-256 key pair (expected a 65-byte uncompressed point and a scalar of at most 32 bytes)');
  }
  // ECDH drops leading zero bytes of the scalar; ECPrivateKey wants exactly 32.
  const scalar = privateScalar.length === 32 ? privateScalar : Buffer.concat([Buffer.alloc(32 - privateScalar.length), privateScalar]);
  const pkcs8 = Buffer.concat([PKCS8_P256_HEAD, scalar, PKCS8_P256_PUBLIC, publicPoint]);
  return { spkiDer: Buffer.concat([SPKI_P256, publicPoint]), pkcs8Pem: pem('PRIVATE KEY', pkcs8) };
}

/** PEM armour with 64-character lines (sliced: a regex over the base64 was a visible share of issuance). */
export function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}
