import type { X509Certificate } from 'node:crypto';
import { WeftError } from '../errors.js';
import { DEFAULT_TRUST_DOMAIN } from '../model/types.js';
import type { CertificateRequest } from './types.js';

/**
 * Identity naming (OSM's scheme, SPIFFE form) and the certificate requests built from it. Pure: no I/O,
 * no key material. Parsing takes an already-parsed X509Certificate so the caller decides where it came from.
 */

/** A certificate or identity string does not follow Weft's naming scheme. */
export class CertificateIdentityError extends WeftError {
  constructor(message: string) {
    super('CERT_IDENTITY_INVALID', message);
  }
}

/** A request for a certificate cannot be built from the given names. */
export class CertificateRequestError extends WeftError {
  constructor(message: string) {
    super('CERT_REQUEST_INVALID', message);
  }
}

export interface ServiceIdentityRef {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** What a proxy's bootstrap certificate says about it. */
export interface ProxyCertificateIdentity {
  readonly uuid: string;
  /** Proxy kind, selects the adapter ("sidecar", "grpc", ...). */
  readonly kind: string;
  readonly serviceAccount: string;
  readonly namespace: string;
  readonly trustDomain: string;
  /** spiffe://<td>/ns/<ns>/sa/<sa> */
  readonly spiffe: string;
}

// RFC 1123 label: what Kubernetes allows for namespaces; service accounts may be subdomains but a dot
// would make the CN ambiguous, so Weft restricts both to one label.
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const KIND = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const UUID = /^[0-9a-zA-Z]([0-9a-zA-Z-]{0,62})$/;
const TRUST_DOMAIN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function checkLabel(what: string, value: string, ErrorType: new (m: string) => WeftError): void {
  if (!LABEL.test(value)) {
    throw new ErrorType(
      `${what} "${value}" is not a DNS label (lower-case letters, digits and '-', 1-63 characters, ` +
        `no leading or trailing '-'); use the Kubernetes name as written`,
    );
  }
}

function checkTrustDomain(value: string, ErrorType: new (m: string) => WeftError): void {
  if (!TRUST_DOMAIN.test(value) || value.length > 253) {
    throw new ErrorType(`trust domain "${value}" is not a DNS name (e.g. "cluster.local"); fix trustDomain`);
  }
}

/** spiffe://<td>/ns/<ns>/sa/<sa> */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** OSM's service identity, also the DNS SAN of service certificates: <sa>.<ns>.<td> */
export function serviceIdentityName(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `${serviceAccount}.${namespace}.${trustDomain}`;
}

/** Parses a SPIFFE id of Weft's form; throws CertificateIdentityError naming the id otherwise. */
export function parseSpiffeId(uri: string): { trustDomain: string; namespace: string; serviceAccount: string } {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (m === null) {
    throw new CertificateIdentityError(
      `URI "${uri}" is not a SPIFFE id of the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`,
    );
  }
  const [, trustDomain, namespace, serviceAccount] = m as unknown as [string, string, string, string];
  checkTrustDomain(trustDomain, CertificateIdentityError);
  checkLabel(`namespace in SPIFFE id "${uri}"`, namespace, CertificateIdentityError);
  checkLabel(`service account in SPIFFE id "${uri}"`, serviceAccount, CertificateIdentityError);
  return { trustDomain, namespace, serviceAccount };
}

/** Common options of the request builders. */
export interface RequestOptions {
  readonly trustDomain?: string;
  readonly validityMs?: number;
}

function td(options: RequestOptions): string {
  const trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  checkTrustDomain(trustDomain, CertificateRequestError);
  return trustDomain;
}

function withValidity(request: CertificateRequest, options: RequestOptions): CertificateRequest {
  if (options.validityMs === undefined) return request;
  if (!Number.isFinite(options.validityMs) || options.validityMs <= 0) {
    throw new CertificateRequestError(`validity ${options.validityMs} ms must be a positive number of milliseconds`);
  }
  return { ...request, validityMs: options.validityMs };
}

/**
 * A service identity's certificate: CN and DNS SAN <sa>.<ns>.<td>, URI SAN spiffe://<td>/ns/<ns>/sa/<sa>.
 * Usable as server and client, since every sidecar both accepts and originates mTLS.
 */
export function serviceCertificateRequest(identity: ServiceIdentityRef, options: RequestOptions = {}): CertificateRequest {
  const trustDomain = td(options);
  checkLabel('namespace', identity.namespace, CertificateRequestError);
  checkLabel('service account', identity.serviceAccount, CertificateRequestError);
  const dns = serviceIdentityName(trustDomain, identity.namespace, identity.serviceAccount);
  return withValidity(
    {
      commonName: dns,
      dnsNames: [dns],
      uris: [spiffeId(trustDomain, identity.namespace, identity.serviceAccount)],
      usage: 'both',
    },
    options,
  );
}

/** A proxy's bootstrap (xDS client) certificate: CN <uuid>.<kind>.<sa>.<ns>.<td> plus the SPIFFE URI. */
export function proxyCertificateRequest(
  proxy: ServiceIdentityRef & { readonly uuid: string; readonly kind: string },
  options: RequestOptions = {},
): CertificateRequest {
  const trustDomain = td(options);
  if (!UUID.test(proxy.uuid)) {
    throw new CertificateRequestError(`proxy uuid "${proxy.uuid}" must be letters, digits and '-' (no dots)`);
  }
  if (!KIND.test(proxy.kind)) {
    throw new CertificateRequestError(`proxy kind "${proxy.kind}" must be a short DNS label such as "sidecar"`);
  }
  checkLabel('namespace', proxy.namespace, CertificateRequestError);
  checkLabel('service account', proxy.serviceAccount, CertificateRequestError);
  return withValidity(
    {
      commonName: `${proxy.uuid}.${proxy.kind}.${proxy.serviceAccount}.${proxy.namespace}.${trustDomain}`,
      uris: [spiffeId(trustDomain, proxy.namespace, proxy.serviceAccount)],
      usage: 'client',
    },
    options,
  );
}

/** A TLS server certificate (xDS server, webhooks, other mesh components). CN is the first DNS name. */
export function servingCertificateRequest(
  names: { readonly dnsNames: readonly string[]; readonly ipAddresses?: readonly string[]; readonly commonName?: string },
  options: { readonly validityMs?: number } = {},
): CertificateRequest {
  const first = names.commonName ?? names.dnsNames[0] ?? names.ipAddresses?.[0];
  if (first === undefined) {
    throw new CertificateRequestError('a serving certificate needs at least one DNS name or IP address');
  }
  for (const name of names.dnsNames) {
    if (!/^(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/.test(name)) {
      throw new CertificateRequestError(`DNS name "${name}" is not a valid host name`);
    }
  }
  return withValidity(
    {
      commonName: first,
      dnsNames: [...names.dnsNames],
      ...(names.ipAddresses === undefined ? {} : { ipAddresses: [...names.ipAddresses] }),
      usage: 'server',
    },
    options,
  );
}

/** The xDS server's certificate for the given DNS names. */
export function xdsServerCertificateRequest(
  dnsNames: readonly string[],
  options: { readonly validityMs?: number; readonly ipAddresses?: readonly string[] } = {},
): CertificateRequest {
  return servingCertificateRequest(
    { dnsNames, ...(options.ipAddresses === undefined ? {} : { ipAddresses: options.ipAddresses }) },
    options,
  );
}

/** Values of the subject's CN attribute (Node prints the subject as "K=V" lines). */
function commonNames(x509: X509Certificate): string[] {
  return x509.subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice(3));
}

/** URI SANs of a certificate. Node prints "DNS:a, URI:b"; values with ", " are quoted, which Weft never issues. */
export function uriSans(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  if (san === undefined) return [];
  return san
    .split(', ')
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice(4).replace(/^"(.*)"$/, '$1'));
}

/**
 * Reads a proxy's identity from its client certificate: CN <uuid>.<kind>.<sa>.<ns>.<td> and, when the
 * certificate carries one, a SPIFFE URI SAN that must name the same identity.
 */
export function identityFromCertificate(x509: X509Certificate): ProxyCertificateIdentity {
  const cns = commonNames(x509);
  if (cns.length !== 1) {
    throw new CertificateIdentityError(
      `certificate ${x509.serialNumber} has ${cns.length} common names; a proxy certificate has exactly one, ` +
        `of the form <uuid>.<kind>.<service-account>.<namespace>.<trust-domain>`,
    );
  }
  const cn = cns[0]!;
  const parts = cn.split('.');
  if (parts.length < 5) {
    throw new CertificateIdentityError(
      `certificate CN "${cn}" is not of the form <uuid>.<kind>.<service-account>.<namespace>.<trust-domain>; ` +
        `issue the proxy certificate with "weft bootstrap"`,
    );
  }
  const [uuid, kind, serviceAccount, namespace] = parts as [string, string, string, string];
  const trustDomain = parts.slice(4).join('.');
  if (!UUID.test(uuid)) throw new CertificateIdentityError(`certificate CN "${cn}": uuid "${uuid}" is malformed`);
  if (!KIND.test(kind)) throw new CertificateIdentityError(`certificate CN "${cn}": proxy kind "${kind}" is malformed`);
  checkLabel(`certificate CN "${cn}": service account`, serviceAccount, CertificateIdentityError);
  checkLabel(`certificate CN "${cn}": namespace`, namespace, CertificateIdentityError);
  checkTrustDomain(trustDomain, CertificateIdentityError);
  const spiffe = spiffeId(trustDomain, namespace, serviceAccount);
  const spiffeUris = uriSans(x509).filter((u) => u.startsWith('spiffe://'));
  if (spiffeUris.length > 1) {
    throw new CertificateIdentityError(`certificate CN "${cn}" carries ${spiffeUris.length} SPIFFE URIs; expected one`);
  }
  if (spiffeUris.length === 1 && spiffeUris[0] !== spiffe) {
    throw new CertificateIdentityError(
      `certificate CN "${cn}" names ${spiffe} but its URI SAN is ${spiffeUris[0]}; the two must agree`,
    );
  }
  return { uuid, kind, serviceAccount, namespace, trustDomain, spiffe };
}
