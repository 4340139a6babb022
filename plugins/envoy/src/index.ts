/**
 * @weft/plugin-envoy: the proxy adapter for Envoy sidecars (proxy kind "envoy").
 */
import { PLUGIN_API_VERSION, Tokens, type WeftPlugin } from '@weft/core';
import type { DependencyContainer } from 'tsyringe';
import { EnvoyAdapter } from './adapter.js';

export { EnvoyAdapter, ENVOY_TYPE_URLS } from './adapter.js';
export { envoyBootstrap } from './bootstrap.js';
export * as names from './names.js';

const plugin: WeftPlugin = {
  name: 'envoy',
  apiVersion: PLUGIN_API_VERSION,
  register(container: DependencyContainer): void {
    container.register(Tokens.ProxyAdapter, { useValue: new EnvoyAdapter() });
  },
};

export default plugin;
export { plugin };
