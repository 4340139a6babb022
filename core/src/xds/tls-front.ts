import { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import { ConfigError } from '../errors.js';
import type { ProxyIdentity } from './adapter.js';
import { verifyClientCertificate, XdsIdentityError } from './identity.js';
import type { PeerTls } from './listener.js';

export type XdsTls =
  | {
      readonly mode: 'mtls';
      /** Server key and certificate (PEM), e.g. from the certificate issuer. */
      readonly key: string;
      readonly cert: string;
      /** Trust bundle (root PEMs) that proxy certificates must chain to. */
      readonly ca: readonly string[];
    }
  | { readonly mode: 'insecure' };

/**
 * The ADS port's TLS: the serving certificate and the trust bundle (both replaceable while serving), and the
 * identity each connection proved, found by the peer address grpc-js gives a stream (the listener recorded
 * what that connection presented in its handshake).
 */
export class TlsFront {
  readonly mtls: boolean;
  private bundle: X509Certificate[] = [];
  private bundlePem: readonly string[] = [];
  private servingKey = '';
  private servingCert = '';

  constructor(
    tlsOptions: XdsTls,
    private readonly trustDomain: string,
  ) {
    this.mtls = tlsOptions.mode === 'mtls';
    if (tlsOptions.mode === 'mtls') {
      if (tlsOptions.ca.length === 0) throw new ConfigError('xds mTLS needs a trust bundle (tls.ca) to verify proxy certificates');
      this.bundle = tlsOptions.ca.map((pem) => new X509Certificate(pem));
      this.bundlePem = tlsOptions.ca;
      this.servingKey = tlsOptions.key;
      this.servingCert = tlsOptions.cert;
    }
  }

  /** What the socket server presents and verifies with; undefined in insecure mode. */
  secureContext(): tls.SecureContextOptions | undefined {
    if (!this.mtls) return undefined;
    return { key: this.servingKey, cert: this.servingCert, ca: [...this.bundlePem] };
  }

  /** A new trust bundle (root rotation): new handshakes and new streams verify against it. */
  setTrustBundle(ca: readonly string[]): void {
    if (!this.mtls) throw new ConfigError('setTrustBundle needs the xds server in mtls mode');
    this.bundle = ca.map((pem) => new X509Certificate(pem));
    this.bundlePem = [...ca];
  }

  /** A new serving certificate; returns its fingerprint. Fails here, naming the problem, on a bad PEM. */
  setServingCertificate(key: string, cert: string): string {
    if (!this.mtls) throw new ConfigError('setServingCertificate needs the xds server in mtls mode');
    const fingerprint = new X509Certificate(cert).fingerprint256;
    this.servingKey = key;
    this.servingCert = cert;
    return fingerprint;
  }

  /**
   * The identity a stream's connection proved. The certificate's own checks come first so a refusal names the
   * precise reason (expired, not yet valid, not signed by the trust bundle, not a proxy name, other trust
   * domain); the TLS layer's verdict (chain, usage) must agree as well.
   */
  verifyPeer(seen: PeerTls | undefined): ProxyIdentity {
    if (seen?.der === undefined) {
      throw new XdsIdentityError(
        'XDS_UNAUTHENTICATED',
        'no client certificate was presented; ADS requires mTLS with a current proxy certificate issued by the mesh CA (see "weft bootstrap")',
      );
    }
    const identity = verifyClientCertificate(seen.der, this.bundle, this.trustDomain);
    if (!seen.authorized) {
      throw new XdsIdentityError(
        'XDS_UNAUTHENTICATED',
        `client certificate was not accepted by the TLS layer (${seen.authorizationError ?? 'unknown reason'}); issue the proxy a new bootstrap certificate from the mesh CA`,
      );
    }
    return identity;
  }
}
