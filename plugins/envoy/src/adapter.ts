import { TypeUrl, type BootstrapOptions, type BootstrapServer, type DerivationSpec, type ProxyAdapter, type ProxyIdentity, type ProxyViews, type ResourceSet } from '@weft/core';
import { envoyBootstrap } from './bootstrap.js';
import { isServedType, proxySet, proxyViews } from './sets.js';

/** Types an Envoy sidecar is served, in the order they must be added. */
export const ENVOY_TYPE_URLS: readonly string[] = [
  TypeUrl.Secret,
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
];

/**
 * An Envoy sidecar: OSM-equivalent configuration as derivations on the core engine. The kind only selects
 * the adapter ("envoy", or OSM's "sidecar"); what a proxy gets depends on its identity and workload alone.
 */
export class EnvoyAdapter implements ProxyAdapter {
  readonly typeUrls = ENVOY_TYPE_URLS;

  constructor(readonly kind: string = 'envoy') {}

  resources(proxy: ProxyIdentity, typeUrl: string): DerivationSpec<ResourceSet> {
    if (!isServedType(typeUrl)) throw new TypeError(`the envoy adapter does not serve ${typeUrl}; it serves ${ENVOY_TYPE_URLS.join(', ')}`);
    return proxySet(proxy, typeUrl);
  }

  views(proxy: ProxyIdentity): DerivationSpec<ProxyViews> {
    return proxyViews(proxy);
  }

  bootstrap(proxy: ProxyIdentity, server: BootstrapServer, options?: BootstrapOptions): unknown {
    return envoyBootstrap(proxy, server, options);
  }
}
