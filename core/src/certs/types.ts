/**
 * The certificate issuer extension point. Issuers hold keys; the core never writes a key to the log,
 * to the debug endpoints or to logs. Only issuance metadata (model kind CertificateIssued) is logged.
 */
export interface CertificateRequest {
  /** Subject common name, e.g. "<uuid>.<kind>.<sa>.<ns>.<trust-domain>" for a proxy bootstrap certificate. */
  readonly commonName: string;
  readonly dnsNames?: readonly string[];
  /** URI SANs, e.g. "spiffe://cluster.local/ns/bookstore/sa/bookstore". */
  readonly uris?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Validity; the issuer's default (24 h) when absent. */
  readonly validityMs?: number;
  readonly usage: 'server' | 'client' | 'both';
}

export interface IssuedCertificate {
  /** Leaf certificate, PEM. */
  readonly certPem: string;
  /** Leaf private key, PKCS#8 PEM. Never logged, never put on the event log. */
  readonly keyPem: string;
  /** Intermediates between the leaf and a root in the trust bundle, leaf-most first (PEM each). */
  readonly chainPem: readonly string[];
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 of the leaf's DER, lower-case hex. */
  readonly fingerprint: string;
}

export interface CertificateIssuer {
  readonly name: string;
  issue(request: CertificateRequest): Promise<IssuedCertificate>;
  /** Root certificates (PEM) that verify what this issuer signs; more than one during a root rotation. */
  trustBundle(): readonly string[];
  /** Called whenever the trust bundle changes (root rotation). Returns an unsubscribe function. */
  onTrustBundleChange?(listener: (bundle: readonly string[]) => void): () => void;
  /** Root rotation with an overlap, for issuers that own their root; absent when the issuer cannot rotate it. */
  readonly rootRotation?: RootRotator;
}

/**
 * The issuer's half of a root rotation with overlap; the certificate manager drives the phases and
 * re-issues the leaves between `activate` and `retire`.
 */
export interface RootRotator {
  /** Creates the next root and adds it to the trust bundle; signing continues under the current root. */
  stage(): Promise<void>;
  /** Signs with the staged root from now on; the previous root stays in the trust bundle. */
  activate(): Promise<void>;
  /** Drops the previous roots from the trust bundle. */
  retire(): Promise<void>;
}

/** SHA-256 fingerprint of the certificate material that a dump or a debug endpoint may show. */
export interface CertificateFingerprint {
  readonly fingerprint: string;
  readonly serial: string;
  readonly notAfter: string;
}

/** A service identity's certificate as the derivations see it (external input `cert/<ns>/<sa>`). */
export interface ServiceCertificate {
  readonly certPem: string;
  /** Private key; only ever encoded into the SDS Secret of proxies of this identity. */
  readonly keyPem: string;
  readonly chainPem: readonly string[];
  readonly serial: string;
  readonly notAfter: string;
  readonly fingerprint: string;
}

/**
 * Names of the external inputs the certificate manager sets on the derivation engine.
 * `trust-bundle` holds `readonly string[]` (root PEMs).
 */
export const CertExternals = {
  serviceCert: (namespace: string, serviceAccount: string): string => `cert/${namespace}/${serviceAccount}`,
  trustBundle: 'trust-bundle',
} as const;

/** What the xDS layer needs from the certificate manager. */
export interface IdentityCertificates {
  /** Makes sure the identity has a current certificate set as an external input (issues one if needed). */
  ensure(identity: { readonly namespace: string; readonly serviceAccount: string }): Promise<void>;
  /**
   * The identity already has a current certificate set, so `ensure` would have nothing to do. Lets a proxy
   * of an identity seen before get its first push without awaiting anything.
   */
  isReady(identity: { readonly namespace: string; readonly serviceAccount: string }): boolean;
}
