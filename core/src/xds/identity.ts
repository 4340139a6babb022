import { X509Certificate } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { CertificateIdentityError, identityFromCertificate } from '../certs/identity.js';
import { WeftError } from '../errors.js';
import type { ProxyIdentity } from './adapter.js';
import type { NodeInfo } from './wire.js';

/**
 * Who is on the other end of an ADS stream. With mTLS (the default) the client certificate says it: signed
 * by a root of the mesh trust bundle, currently valid, CN <uuid>.<kind>.<sa>.<ns>.<trust-domain> agreeing
 * with its SPIFFE URI SAN when it has one (OSM v1.2's have none), and the first request's node.id equal to
 * the uuid or to the whole CN (as OSM writes it). In insecure mode (dev, bench)
 * the node says it, see `identityFromNode`.
 */

/** A stream refused for who it is; `grpcCode` is the status the stream ends with. */
export class XdsIdentityError extends WeftError {
  readonly grpcCode: status;
  constructor(code: 'XDS_UNAUTHENTICATED' | 'XDS_PERMISSION_DENIED' | 'XDS_BAD_NODE', message: string) {
    super(code, message);
    this.grpcCode =
      code === 'XDS_UNAUTHENTICATED' ? status.UNAUTHENTICATED : code === 'XDS_PERMISSION_DENIED' ? status.PERMISSION_DENIED : status.INVALID_ARGUMENT;
  }
}

/**
 * Checks a client certificate (DER) against the trust bundle and the clock, and reads the proxy's identity.
 * The ADS server hands over whatever certificate the connection presented, verified by the TLS layer or not,
 * so that a refusal names the precise reason (expired, foreign CA, ...); `undefined` means none was presented.
 */
export function verifyClientCertificate(
  der: Buffer | undefined,
  bundle: readonly X509Certificate[],
  trustDomain: string,
  now: Date = new Date(),
): ProxyIdentity {
  if (der === undefined || der.length === 0) {
    throw new XdsIdentityError(
      'XDS_UNAUTHENTICATED',
      'no client certificate was presented; ADS requires mTLS with a current proxy certificate issued by the mesh CA (see "weft bootstrap")',
    );
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (err) {
    throw new XdsIdentityError('XDS_UNAUTHENTICATED', `client certificate cannot be parsed: ${(err as Error).message}`);
  }
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (now < notBefore) {
    throw new XdsIdentityError('XDS_UNAUTHENTICATED', `client certificate ${cert.serialNumber} is not valid before ${notBefore.toISOString()}; check the clocks`);
  }
  if (now > notAfter) {
    throw new XdsIdentityError(
      'XDS_UNAUTHENTICATED',
      `client certificate ${cert.serialNumber} expired at ${notAfter.toISOString()}; issue the proxy a new bootstrap certificate`,
    );
  }
  // Leaves must be signed by a root of the bundle directly: grpc-js does not hand over the peer's chain.
  const signed = bundle.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  if (!signed) {
    throw new XdsIdentityError(
      'XDS_UNAUTHENTICATED',
      `client certificate ${cert.serialNumber} (issuer "${cert.issuer.replace(/\n/g, ', ')}") is not signed by the mesh trust bundle`,
    );
  }
  let id;
  try {
    id = identityFromCertificate(cert);
  } catch (err) {
    if (err instanceof CertificateIdentityError) throw new XdsIdentityError('XDS_PERMISSION_DENIED', err.message);
    throw err;
  }
  if (id.trustDomain !== trustDomain) {
    throw new XdsIdentityError(
      'XDS_PERMISSION_DENIED',
      `client certificate names trust domain "${id.trustDomain}", this mesh is "${trustDomain}"`,
    );
  }
  return { uuid: id.uuid, kind: id.kind, serviceAccount: id.serviceAccount, namespace: id.namespace, trustDomain: id.trustDomain };
}

/** The CN of a proxy's bootstrap certificate, as OSM spells it: `<uuid>.<kind>.<sa>.<ns>.<trust-domain>`. */
export function proxyCommonName(identity: ProxyIdentity): string {
  return `${identity.uuid}.${identity.kind}.${identity.serviceAccount}.${identity.namespace}.${identity.trustDomain}`;
}

/**
 * The first request's node must name the certificate's proxy: node.id is its uuid (what `weft bootstrap`
 * writes) or its whole CN (what OSM v1.2's injector writes into the bootstraps of the pods it injected, so
 * those pods connect without re-injection). Anything else is refused: a node claiming another proxy.
 */
export function checkNodeMatches(identity: ProxyIdentity, node: NodeInfo | undefined): void {
  const cn = proxyCommonName(identity);
  const fix = `set node.id to "${identity.uuid}" (the certificate's uuid) or to the certificate CN "${cn}"`;
  if (node === undefined || node.id === '') {
    throw new XdsIdentityError('XDS_PERMISSION_DENIED', `the first request carries no node.id; ${fix}`);
  }
  if (node.id !== identity.uuid && node.id !== cn) {
    throw new XdsIdentityError('XDS_PERMISSION_DENIED', `node.id "${node.id}" does not match the client certificate's uuid "${identity.uuid}"; ${fix}`);
  }
}

/** Node metadata keys read in insecure mode. */
export const NODE_METADATA_KEYS = { kind: 'kind', serviceAccount: 'serviceAccount', namespace: 'namespace' } as const;

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Insecure mode only: the identity a node claims. Either node.id is CN-shaped
 * (`<uuid>.<kind>.<sa>.<ns>.<trust-domain>`), or node.id is the uuid and node.metadata carries
 * `kind`, `serviceAccount` and `namespace`.
 */
export function identityFromNode(node: NodeInfo | undefined, trustDomain: string): ProxyIdentity {
  if (node === undefined || node.id === '') {
    throw new XdsIdentityError('XDS_BAD_NODE', 'the first request carries no node.id; set node.id in the bootstrap');
  }
  const parts = node.id.split('.');
  if (parts.length >= 5) {
    const [uuid, kind, serviceAccount, namespace] = parts as [string, string, string, string];
    const td = parts.slice(4).join('.');
    if (td !== trustDomain) {
      throw new XdsIdentityError('XDS_PERMISSION_DENIED', `node.id "${node.id}" names trust domain "${td}", this mesh is "${trustDomain}"`);
    }
    for (const [what, v] of [['kind', kind], ['service account', serviceAccount], ['namespace', namespace]] as const) {
      if (!LABEL.test(v)) throw new XdsIdentityError('XDS_BAD_NODE', `node.id "${node.id}": ${what} "${v}" is not a DNS label`);
    }
    return { uuid, kind, serviceAccount, namespace, trustDomain };
  }
  const kind = node.metadata[NODE_METADATA_KEYS.kind];
  const serviceAccount = node.metadata[NODE_METADATA_KEYS.serviceAccount];
  const namespace = node.metadata[NODE_METADATA_KEYS.namespace];
  const missing = Object.values(NODE_METADATA_KEYS).filter((k) => {
    const v = node.metadata[k];
    return v === undefined || !LABEL.test(v);
  });
  if (kind === undefined || serviceAccount === undefined || namespace === undefined || missing.length > 0) {
    throw new XdsIdentityError(
      'XDS_BAD_NODE',
      `node "${node.id}" does not say who it is: give node.metadata ${missing.map((k) => `"${k}"`).join(', ')} as DNS labels, ` +
        `or use a node.id of the form <uuid>.<kind>.<service-account>.<namespace>.<trust-domain>`,
    );
  }
  return { uuid: node.id, kind, serviceAccount, namespace, trustDomain };
}
