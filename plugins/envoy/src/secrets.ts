/**
 * SDS: the workload's own certificate, the inbound validation context (the mesh roots), and per upstream
 * service a validation context that accepts exactly the identities behind that service. Dumps show
 * fingerprints only; the key travels in `any` and only to proxies of its own identity.
 */
import { CertExternals, TypeUrl, identitiesBehind, meshSettings, type DerivationSpec, type EncodedResource, type ServiceCertificate, type envoy } from '@weft/core';
import { ROOT_CERT_INBOUND, principalName, rootCertInboundOsmName, rootCertOutboundName, serviceCertName, splitKey } from './names.js';
import { encodeRedacted, hashResource, pemFingerprint } from './proto.js';

type SubjectAltNameMatcher = envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher;

export function serviceCertSecret(identity: string): DerivationSpec<EncodedResource | null> {
  return {
    id: `envoy/secret/service-cert/${identity}`,
    hash: hashResource,
    compute(r) {
      const [ns, sa] = splitKey(identity);
      const cert = r.external<ServiceCertificate>(CertExternals.serviceCert(ns, sa));
      // Not issued yet: leave it out; Envoy keeps the listener warming until the secret arrives.
      if (cert === undefined) return null;
      const name = serviceCertName(ns, sa);
      const chain = [cert.certPem, ...cert.chainPem].join('\n');
      return encodeRedacted(
        TypeUrl.Secret,
        name,
        {
          name,
          tlsCertificate: {
            certificateChain: { inlineBytes: Buffer.from(chain, 'utf8') },
            privateKey: { inlineBytes: Buffer.from(cert.keyPem, 'utf8') },
          },
        },
        {
          name,
          tlsCertificate: {
            certificateChain: { sha256: cert.fingerprint, serial: cert.serial, notAfter: cert.notAfter, intermediates: cert.chainPem.map(pemFingerprint) },
            privateKey: '[redacted]',
          },
        },
      );
    },
  };
}

function trustBundle(r: Parameters<DerivationSpec<unknown>['compute']>[0]): readonly string[] | undefined {
  const bundle = r.external<readonly string[]>(CertExternals.trustBundle);
  return bundle === undefined || bundle.length === 0 ? undefined : bundle;
}

function rootInbound(name: string): DerivationSpec<EncodedResource | null> {
  return {
    id: name === ROOT_CERT_INBOUND ? 'envoy/secret/root-inbound' : `envoy/secret/root-inbound/${name}`,
    hash: hashResource,
    compute(r) {
      const bundle = trustBundle(r);
      if (bundle === undefined) return null;
      return encodeRedacted(
        TypeUrl.Secret,
        name,
        { name, validationContext: { trustedCa: { inlineBytes: Buffer.from(bundle.join('\n'), 'utf8') } } },
        { name, validationContext: { trustedCa: { sha256: bundle.map(pemFingerprint) } } },
      );
    },
  };
}

/** The mesh roots that inbound chains validate clients against; one secret every proxy shares. */
export const rootInboundSecret: DerivationSpec<EncodedResource | null> = rootInbound(ROOT_CERT_INBOUND);

/**
 * The same roots under OSM's per-identity name (`root-cert-for-mtls-inbound:<ns>/<sa>`), for a sidecar that
 * still holds listeners OSM sent it: it only goes out when the proxy subscribes to that name.
 */
export function rootInboundOsmSecret(identity: string): DerivationSpec<EncodedResource | null> {
  const [ns, sa] = splitKey(identity);
  return rootInbound(rootCertInboundOsmName(ns, sa));
}

export function rootOutboundSecret(svcKey: string): DerivationSpec<EncodedResource | null> {
  return {
    id: `envoy/secret/root-outbound/${svcKey}`,
    hash: hashResource,
    compute(r) {
      const bundle = trustBundle(r);
      if (bundle === undefined) return null;
      const { trustDomain } = r.derive(meshSettings);
      const sans = r.derive(identitiesBehind(svcKey)).map((id): SubjectAltNameMatcher => {
        const [ns, sa] = splitKey(id);
        return { sanType: 'DNS', matcher: { exact: principalName(ns, sa, trustDomain) } };
      });
      // No identity behind the service: an empty matcher list would accept any mesh certificate, so the
      // secret is withheld and the cluster stays unusable until someone serves it.
      if (sans.length === 0) return null;
      const [ns, svc] = splitKey(svcKey);
      const name = rootCertOutboundName(ns, svc);
      return encodeRedacted(
        TypeUrl.Secret,
        name,
        { name, validationContext: { trustedCa: { inlineBytes: Buffer.from(bundle.join('\n'), 'utf8') }, matchTypedSubjectAltNames: sans } },
        { name, validationContext: { trustedCa: { sha256: bundle.map(pemFingerprint) }, matchTypedSubjectAltNames: sans } },
      );
    },
  };
}
