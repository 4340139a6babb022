import { TypeUrl, type BootstrapServer, type DerivationSpec, type ProxyAdapter, type ProxyIdentity, type ResourceSet } from '@weft/core';
import { envoyBootstrap } from './bootstrap.js';
import { isServedType, proxySet } from './sets.js';

/** Types an Envoy sidecar is served, in the order they must be added. */
export const ENVOY_TYPE_URLS: readonly string[] = [
  TypeUrl.Secret,
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
];

/** Proxy kind "envoy": OSM-equivalent sidecar configuration as derivations on the core engine. */
export class EnvoyAdapter implements ProxyAdapter {
  readonly kind = 'envoy';
  readonly typeUrls = ENVOY_TYPE_URLS;

  resources(proxy: ProxyIdentity, typeUrl: string): DerivationSpec<ResourceSet> {
    if (!isServedType(typeUrl)) throw new TypeError(`the envoy adapter does not serve ${typeUrl}; it serves ${ENVOY_TYPE_URLS.join(', ')}`);
    return proxySet(proxy, typeUrl);
  }

  bootstrap(proxy: ProxyIdentity, server: BootstrapServer): unknown {
    return envoyBootstrap(proxy, server);
  }
}
