/**
 * @weft/plugin-envoy: the proxy adapter for Envoy sidecars. It serves the proxy kinds its config lists,
 * by default "envoy" (what `weft bootstrap` writes) and "sidecar", the kind OSM v1.2 puts in the bootstrap
 * certificate CN of every pod it injected, so those pods move to Weft without re-injection.
 */
import { PLUGIN_API_VERSION, PluginConfigError, Tokens, type WeftPlugin } from '@weft/core';
import type { DependencyContainer } from 'tsyringe';
import { EnvoyAdapter } from './adapter.js';

export { EnvoyAdapter, ENVOY_TYPE_URLS } from './adapter.js';
export { envoyBootstrap } from './bootstrap.js';
export { isPrometheusScrapeEnabled, parseGoBool } from './annotations.js';
export * as names from './names.js';

export interface EnvoyPluginConfig {
  /** Proxy kinds (the second label of the certificate CN) this adapter serves. */
  readonly kinds: readonly string[];
}

/** Weft's own kind, and OSM v1.2's only proxy kind (pkg/envoy: KindSidecar). */
export const DEFAULT_KINDS: readonly string[] = ['envoy', 'sidecar'];

/**
 * Kinds OSM used for proxies that are not sidecars. OSM up to v1.1 had "gateway" for its multicluster
 * gateway (removed in v1.2); sidecar config would be wrong for it, so it is refused here and a proxy of
 * that kind is refused by the ADS server ("no proxy adapter for kind").
 */
const NOT_SIDECARS: Readonly<Record<string, string>> = {
  gateway: `OSM's multicluster gateway kind`,
};

const KIND = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

function validateConfig(raw: unknown): EnvoyPluginConfig {
  const c = raw ?? {};
  if (typeof c !== 'object' || Array.isArray(c)) throw new PluginConfigError('', `must be a mapping with kinds (got ${JSON.stringify(raw)})`);
  const o = c as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'kinds') throw new PluginConfigError(k, 'unknown field; expected kinds');
  if (o.kinds === undefined) return { kinds: DEFAULT_KINDS };
  if (!Array.isArray(o.kinds)) throw new PluginConfigError('kinds', `must be a list of proxy kinds such as [envoy, sidecar] (got ${JSON.stringify(o.kinds)})`);
  if (o.kinds.length === 0) throw new PluginConfigError('kinds', 'must list at least one proxy kind, e.g. [envoy, sidecar]; remove the plugin to serve none');
  const kinds: string[] = [];
  o.kinds.forEach((k: unknown, i) => {
    const path = `kinds[${i}]`;
    if (typeof k !== 'string' || !KIND.test(k)) throw new PluginConfigError(path, `must be a short DNS label such as "sidecar" (got ${JSON.stringify(k)})`);
    const why = NOT_SIDECARS[k];
    if (why !== undefined) throw new PluginConfigError(path, `"${k}" is ${why}; the Envoy adapter serves sidecars only`);
    if (kinds.includes(k)) throw new PluginConfigError(path, `"${k}" is listed twice`);
    kinds.push(k);
  });
  return { kinds };
}

const plugin: WeftPlugin<EnvoyPluginConfig> = {
  name: 'envoy',
  apiVersion: PLUGIN_API_VERSION,
  validateConfig,
  register(container: DependencyContainer, config: EnvoyPluginConfig): void {
    // One adapter per kind; they build the same derivations, so proxies of either kind share every resource.
    for (const kind of config.kinds) container.register(Tokens.ProxyAdapter, { useValue: new EnvoyAdapter(kind) });
  },
};

export default plugin;
export { plugin };
