import {
  X509Certificate,
  createECDH,
  createHash,
  createPrivateKey,
  generateKeyPair,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import forge from 'node-forge';
import {
  DEFAULT_TRUST_DOMAIN,
  type CertificateIssuer,
  type CertificateRequest,
  type IssuedCertificate,
  type Logger,
  type RootRotator,
} from '@weft/core';
import {
  KeyUsage,
  OID,
  authorityKeyIdentifier,
  basicConstraints,
  buildCertificate,
  caIdentity,
  encodeName,
  extKeyUsage,
  keyIdentifier,
  keyUsage,
  p256KeyEncodings,
  parseSpki,
  pem,
  randomSerial,
  subjectAltName,
  subjectKeyIdentifier,
} from './der.js';
import { CaMaterialError } from './errors.js';
import { forgeCa, forgeLeaf, forgeRoot, generateRsaKeyPair, pkcs8Pem, type ForgeCa } from './rsa-forge.js';
import { CaStore, readByoMaterial, type CaFiles } from './store.js';

export type KeyAlgorithm = 'ecdsa-p256' | 'rsa-2048';

export const DEFAULT_VALIDITY_MS = 24 * 3600_000;
export const DEFAULT_ROOT_VALIDITY_MS = 10 * 365 * 24 * 3600_000;
/** notBefore is set this far in the past so that peers with a slightly slow clock accept a fresh certificate. */
export const CLOCK_SKEW_MS = 60_000;

export interface BringYourOwnCa {
  /** The signing CA certificate (a root, or an intermediate). */
  readonly certFile: string;
  readonly keyFile: string;
  /** Certificates above the signing CA, up to and including the root (PEM bundle, any order). */
  readonly chainFile?: string;
}

export interface LocalCaOptions {
  /** Directory of a generated root (created on first start, mode 0700). Absent: an in-memory root. */
  readonly caDir?: string;
  /** Use this CA instead of generating one. */
  readonly bringYourOwn?: BringYourOwnCa;
  /** Leaf (and generated root) key algorithm; default ecdsa-p256. */
  readonly keyAlgorithm?: KeyAlgorithm;
  /** Default leaf validity (default 24 h). */
  readonly validityMs?: number;
  /** Validity of a generated root (default 10 years). */
  readonly rootValidityMs?: number;
  readonly trustDomain?: string;
  readonly logger?: Logger;
  /** Time source for validity periods (tests issue already-expired certificates with it). */
  readonly now?: () => number;
}

/** A CA that signs: its certificate, key, and what a leaf needs to name it. */
interface Signer {
  readonly certPem: string;
  readonly key: KeyObject;
  readonly subject: forge.asn1.Asn1;
  readonly keyId: Buffer;
  /** Intermediates a leaf carries: the signing CA when it is not a root, then those above it. */
  readonly chainPem: readonly string[];
  readonly forge: ForgeCa | undefined;
  /** A leaf never outlives its CA: verification would fail from that moment on anyway. */
  readonly notAfter: number;
}

function pemOf(der: Uint8Array): string {
  return pem('CERTIFICATE', der);
}

function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

function makeSigner(certPem: string, keyPem: string, chainPem: readonly string[], source: string): Signer {
  let x509: X509Certificate;
  let key: KeyObject;
  try {
    x509 = new X509Certificate(certPem);
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new CaMaterialError(`${source}: cannot parse the CA certificate or key: ${String(error)}`, { cause: error });
  }
  if (!x509.ca) {
    throw new CaMaterialError(`${source}: the certificate ${x509.subject.replace(/\n/g, ', ')} is not a CA (basicConstraints CA:FALSE)`);
  }
  if (!x509.checkPrivateKey(key)) {
    throw new CaMaterialError(`${source}: the private key does not belong to the CA certificate; give the matching key file`);
  }
  const { subject, keyId } = caIdentity(x509.raw);
  const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
  return {
    certPem,
    key,
    subject,
    keyId: keyId ?? keyIdentifier(spki),
    chainPem,
    forge: key.asymmetricKeyType === 'rsa' ? forgeCa(certPem, keyPem) : undefined,
    notAfter: new Date(x509.validTo).getTime(),
  };
}

/**
 * The default issuer: a local CA. Leaves get ECDSA P-256 keys (or RSA 2048); the certificate structure is
 * built with forge's ASN.1 layer and signed by Node's crypto, or for RSA leaves under an RSA CA, through
 * forge's certificate API.
 */
export class LocalCa implements CertificateIssuer {
  readonly name = 'ca-local';
  readonly rootRotation: RootRotator | undefined;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly trustDomain: string;
  private signer: Signer;
  private bundle: readonly string[];
  private staged: { certPem: string; keyPem: string } | undefined;
  private readonly store: CaStore | undefined;
  private readonly validityMs: number;
  private readonly rootValidityMs: number;
  private readonly now: () => number;
  private readonly logger: Logger | undefined;
  private readonly listeners = new Set<(bundle: readonly string[]) => void>();

  private constructor(
    options: LocalCaOptions,
    state: { signer: Signer; bundle: readonly string[]; store?: CaStore; rotatable: boolean; staged?: CaFiles },
  ) {
    this.keyAlgorithm = options.keyAlgorithm ?? 'ecdsa-p256';
    this.trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    this.validityMs = options.validityMs ?? DEFAULT_VALIDITY_MS;
    this.rootValidityMs = options.rootValidityMs ?? DEFAULT_ROOT_VALIDITY_MS;
    this.now = options.now ?? Date.now;
    this.logger = options.logger?.child({ component: 'ca-local' });
    this.signer = state.signer;
    this.bundle = state.bundle;
    this.store = state.store;
    this.staged = state.staged;
    this.rootRotation = state.rotatable
      ? { stage: () => this.stage(), activate: () => this.activate(), retire: () => this.retire() }
      : undefined;
  }

  /**
   * Opens the CA: bring-your-own material when given; otherwise the root in `caDir` (generated on first
   * start); otherwise an in-memory root that lives as long as the process.
   */
  static async open(options: LocalCaOptions = {}): Promise<LocalCa> {
    const validity = options.validityMs ?? DEFAULT_VALIDITY_MS;
    if (!(validity > 0)) throw new CaMaterialError(`validity ${validity} ms must be positive`);
    if (options.bringYourOwn !== undefined) {
      const byo = await readByoMaterial(options.bringYourOwn);
      const signer = makeSigner(byo.certPem, byo.keyPem, byo.intermediates, options.bringYourOwn.certFile);
      return new LocalCa(options, { signer, bundle: byo.roots, rotatable: false });
    }
    if (options.caDir === undefined) {
      const root = await generateRoot(options);
      const signer = makeSigner(root.certPem, root.keyPem, [], 'in-memory root');
      return new LocalCa(options, { signer, bundle: [root.certPem], rotatable: true });
    }
    const store = new CaStore(options.caDir);
    let state = await store.load();
    if (state === undefined) {
      const root = await generateRoot(options);
      await store.init(root);
      state = { current: root, bundle: [root.certPem], staged: undefined };
      options.logger?.info('generated a new root CA', { dir: options.caDir, fingerprint: fingerprintOf(root.certPem) });
    }
    const signer = makeSigner(state.current.certPem, state.current.keyPem, [], store.files.key);
    return new LocalCa(options, {
      signer,
      bundle: state.bundle,
      store,
      rotatable: true,
      ...(state.staged === undefined ? {} : { staged: state.staged }),
    });
  }

  trustBundle(): readonly string[] {
    return this.bundle;
  }

  /** The signing CA certificate (a root, or the BYO intermediate). */
  signingCertificate(): string {
    return this.signer.certPem;
  }

  onTrustBundleChange(listener: (bundle: readonly string[]) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  async issue(request: CertificateRequest): Promise<IssuedCertificate> {
    if (request.commonName === '') throw new CaMaterialError('certificate request has an empty commonName');
    const validity = request.validityMs ?? this.validityMs;
    if (!(validity > 0)) throw new CaMaterialError(`certificate request validity ${validity} ms must be positive`);
    const now = this.now();
    const notBefore = wholeSeconds(now - CLOCK_SKEW_MS);
    const signer = this.signer;
    const notAfter = wholeSeconds(Math.min(now + validity, signer.notAfter));
    const serial = randomSerial(randomBytes(16));
    let der: Buffer;
    let keyPem: string;
    if (this.keyAlgorithm === 'rsa-2048' && signer.forge !== undefined) {
      const keys = await generateRsaKeyPair(2048);
      keyPem = pkcs8Pem(keys.privateKey);
      der = forgeLeaf(signer.forge, { request, serialHex: serial.toString('hex'), notBefore, notAfter, publicKey: keys.publicKey });
    } else {
      const keys = await leafKeys(this.keyAlgorithm);
      keyPem = keys.privateKey;
      const spki = parseSpki(keys.publicKey);
      der = buildCertificate(
        {
          serial,
          issuer: signer.subject,
          subject: encodeName([[OID.commonName, request.commonName]]),
          notBefore,
          notAfter,
          spki,
          extensions: leafExtensions(request, spki, signer.keyId, this.keyAlgorithm),
        },
        signer.key,
      );
    }
    return {
      certPem: pemOf(der),
      keyPem,
      chainPem: signer.chainPem,
      serial: serial.toString('hex').toUpperCase(),
      notBefore,
      notAfter,
      fingerprint: createHash('sha256').update(der).digest('hex'),
    };
  }

  private async stage(): Promise<void> {
    if (this.staged !== undefined) {
      throw new CaMaterialError('a next root is already staged; activate it before staging another');
    }
    const next = await generateRoot({ keyAlgorithm: this.keyAlgorithm, rootValidityMs: this.rootValidityMs, trustDomain: this.trustDomain, now: this.now });
    const bundle = [...this.bundle, next.certPem];
    await this.store?.stage(next, bundle);
    this.staged = next;
    this.setBundle(bundle);
    this.logger?.info('staged the next root CA', { fingerprint: fingerprintOf(next.certPem) });
  }

  private async activate(): Promise<void> {
    const next = this.staged;
    if (next === undefined) throw new CaMaterialError('no next root is staged; stage one first');
    const signer = makeSigner(next.certPem, next.keyPem, [], this.store?.files.nextKey ?? 'staged root');
    await this.store?.activate();
    this.signer = signer;
    this.staged = undefined;
    this.logger?.info('the next root CA signs from now on', { fingerprint: fingerprintOf(next.certPem) });
  }

  private async retire(): Promise<void> {
    if (this.staged !== undefined) throw new CaMaterialError('the staged root is not active yet; activate it before retiring the old one');
    const bundle = [this.signer.certPem];
    await this.store?.writeBundle(bundle);
    this.setBundle(bundle);
    this.logger?.info('previous root CAs left the trust bundle', { fingerprint: fingerprintOf(this.signer.certPem) });
  }

  private setBundle(bundle: readonly string[]): void {
    this.bundle = bundle;
    for (const listener of this.listeners) listener(bundle);
  }
}

function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}

async function leafKeys(algorithm: KeyAlgorithm): Promise<{ publicKey: Buffer; privateKey: string }> {
  if (algorithm === 'ecdsa-p256') {
    // Synchronous on purpose: P-256 generation takes tens of microseconds, less than a thread-pool hop.
    const ecdh = createECDH('prime256v1');
    const point = ecdh.generateKeys();
    const { spkiDer, pkcs8Pem } = p256KeyEncodings(ecdh.getPrivateKey(), point);
    return { publicKey: spkiDer, privateKey: pkcs8Pem };
  }
  return new Promise((resolve, reject) =>
    generateKeyPair(
      'rsa',
      {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'der' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      },
      (error, publicKey, privateKey) => (error ? reject(error) : resolve({ publicKey, privateKey })),
    ),
  );
}

// The extensions that depend only on usage and key type are the same for every leaf: built once.
const fixedExtensions = new Map<string, forge.asn1.Asn1[]>();
function usageExtensions(usage: CertificateRequest['usage'], algorithm: KeyAlgorithm): forge.asn1.Asn1[] {
  const key = `${usage}/${algorithm}`;
  let exts = fixedExtensions.get(key);
  if (exts === undefined) {
    const usages = [
      ...(usage === 'server' || usage === 'both' ? [OID.serverAuth] : []),
      ...(usage === 'client' || usage === 'both' ? [OID.clientAuth] : []),
    ];
    exts = [
      basicConstraints(false),
      // RSA keys may also carry TLS 1.2 key transport; ECDSA keys only sign.
      keyUsage(algorithm === 'rsa-2048' ? [KeyUsage.digitalSignature, KeyUsage.keyEncipherment] : [KeyUsage.digitalSignature]),
      extKeyUsage(usages),
    ];
    fixedExtensions.set(key, exts);
  }
  return exts;
}

function leafExtensions(request: CertificateRequest, spki: forge.asn1.Asn1, caKeyId: Buffer, algorithm: KeyAlgorithm): forge.asn1.Asn1[] {
  const sans = (request.dnsNames?.length ?? 0) + (request.uris?.length ?? 0) + (request.ipAddresses?.length ?? 0);
  return [
    ...usageExtensions(request.usage, algorithm),
    ...(sans > 0 ? [subjectAltName(request)] : []),
    subjectKeyIdentifier(keyIdentifier(spki)),
    authorityKeyIdentifier(caKeyId),
  ];
}

/** A self-signed root: ECDSA through the ASN.1 path, RSA through forge's certificate API. */
async function generateRoot(options: LocalCaOptions): Promise<CaFiles> {
  const now = (options.now ?? Date.now)();
  const notBefore = wholeSeconds(now - CLOCK_SKEW_MS);
  const notAfter = wholeSeconds(now + (options.rootValidityMs ?? DEFAULT_ROOT_VALIDITY_MS));
  const serial = randomSerial(randomBytes(16));
  // A distinct name per root keeps path building unambiguous while two roots are trusted side by side.
  const commonName = `Weft root CA ${options.trustDomain ?? DEFAULT_TRUST_DOMAIN} ${serial.subarray(0, 4).toString('hex')}`;
  if (options.keyAlgorithm === 'rsa-2048') {
    const keys = await generateRsaKeyPair(2048);
    const der = forgeRoot(keys, { commonName, serialHex: serial.toString('hex'), notBefore, notAfter });
    return { certPem: pemOf(der), keyPem: pkcs8Pem(keys.privateKey) };
  }
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const keyId = keyIdentifier(spki);
  const name = encodeName([
    [OID.organization, 'Weft'],
    [OID.commonName, commonName],
  ]);
  const der = buildCertificate(
    {
      serial,
      issuer: name,
      subject: name,
      notBefore,
      notAfter,
      spki,
      extensions: [
        basicConstraints(true),
        keyUsage([KeyUsage.digitalSignature, KeyUsage.keyCertSign, KeyUsage.cRLSign]),
        subjectKeyIdentifier(keyId),
        authorityKeyIdentifier(keyId),
      ],
    },
    privateKey,
  );
  return { certPem: pemOf(der), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}
