import type { ProxyAdapter } from './adapter.js';

/**
 * OSM's naming of identity secrets, which the ADS server always recognises (whatever the adapter), so that
 * a proxy is never sent another identity's key under OSM's names.
 */

/** The identity an identity secret belongs to. */
export interface SecretOwner {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** Prefix of OSM's service certificate secret names: `service-cert:<namespace>/<service-account>`. */
export const SERVICE_CERT_SECRET_PREFIX = 'service-cert:';

/** The owner of a secret named OSM's way (`service-cert:<ns>/<sa>`); undefined for any other name. */
export function osmSecretOwner(name: string): SecretOwner | undefined {
  if (!name.startsWith(SERVICE_CERT_SECRET_PREFIX)) return undefined;
  const rest = name.slice(SERVICE_CERT_SECRET_PREFIX.length);
  const slash = rest.indexOf('/');
  // A malformed identity secret name still claims to hold a key: an owner nobody has refuses it for all.
  if (slash <= 0 || slash === rest.length - 1 || rest.indexOf('/', slash + 1) >= 0) return { namespace: rest, serviceAccount: '' };
  return { namespace: rest.slice(0, slash), serviceAccount: rest.slice(slash + 1) };
}

/** How a proxy kind's secret names map to owners: the adapter's own naming first, OSM's always. */
export function secretOwnerFor(adapter: Pick<ProxyAdapter, 'secretOwner'>): (name: string) => SecretOwner | undefined {
  const own = adapter.secretOwner?.bind(adapter);
  return own === undefined ? osmSecretOwner : (name) => own(name) ?? osmSecretOwner(name);
}
