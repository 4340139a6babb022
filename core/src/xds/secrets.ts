import { TypeUrl, type ProxyIdentity, type ResourceSet } from './adapter.js';
import type { AdsRequest } from './wire.js';
import type { SecretOwner } from './osm-names.js';

export { osmSecretOwner, secretOwnerFor, SERVICE_CERT_SECRET_PREFIX, type SecretOwner } from './osm-names.js';

/**
 * Which SDS secrets carry an identity's private key, so that the ADS server can hold the rule "a proxy is
 * only ever sent its own identity's key" itself, whatever an adapter puts in a resource set or a proxy asks
 * for. A secret name names an owner when it is an identity secret; other secrets (validation contexts with
 * only public roots) have no owner and anyone may subscribe to them.
 */

/** Reads a secret name's owner; adapters may name their identity secrets another way (ProxyAdapter.secretOwner). */
export type SecretOwnerOf = (name: string) => SecretOwner | undefined;

/** The owner of `name` when it is another identity's secret than the proxy's; undefined when the proxy may have it. */
export function foreignSecretOwner(name: string, proxy: Pick<ProxyIdentity, 'namespace' | 'serviceAccount'>, ownerOf: SecretOwnerOf): SecretOwner | undefined {
  const owner = ownerOf(name);
  if (owner === undefined) return undefined;
  return owner.namespace === proxy.namespace && owner.serviceAccount === proxy.serviceAccount ? undefined : owner;
}

export interface RefusedSecret {
  readonly name: string;
  readonly owner: SecretOwner;
}

/**
 * An SDS request with every other identity's key secret taken out of what it subscribes to (and of what a
 * reconnecting delta client says it holds), so the session never tracks, answers or reports them.
 */
export function withoutForeignSecrets(
  req: AdsRequest,
  proxy: Pick<ProxyIdentity, 'namespace' | 'serviceAccount'>,
  ownerOf: SecretOwnerOf,
): { readonly request: AdsRequest; readonly refused: readonly RefusedSecret[] } {
  if (req.typeUrl !== TypeUrl.Secret) return { request: req, refused: [] };
  const refused: RefusedSecret[] = [];
  const keep = (name: string): boolean => {
    const owner = foreignSecretOwner(name, proxy, ownerOf);
    if (owner === undefined) return true;
    if (!refused.some((r) => r.name === name)) refused.push({ name, owner });
    return false;
  };
  if (req.kind === 'sotw') {
    const resourceNames = req.resourceNames.filter(keep);
    return refused.length === 0 ? { request: req, refused } : { request: { ...req, resourceNames }, refused };
  }
  const subscribe = req.subscribe.filter(keep);
  const initialResourceVersions = new Map([...req.initialResourceVersions].filter(([name]) => keep(name)));
  return refused.length === 0 ? { request: req, refused } : { request: { ...req, subscribe, initialResourceVersions }, refused };
}

/**
 * A proxy's secret set without other identities' key secrets: the last line should an adapter put one there.
 * Returns the set itself when nothing is foreign (the common case costs one scan, no copy).
 */
export function ownSecretsOnly(
  set: ResourceSet,
  proxy: Pick<ProxyIdentity, 'namespace' | 'serviceAccount'>,
  ownerOf: SecretOwnerOf,
): { readonly set: ResourceSet; readonly refused: readonly RefusedSecret[] } {
  let refused: RefusedSecret[] | undefined;
  for (const name of set.keys()) {
    const owner = foreignSecretOwner(name, proxy, ownerOf);
    if (owner !== undefined) (refused ??= []).push({ name, owner });
  }
  if (refused === undefined) return { set, refused: [] };
  const out = new Map(set);
  for (const r of refused) out.delete(r.name);
  return { set: out, refused };
}
