import type { DependencyContainer } from 'tsyringe';
import { PLUGIN_API_VERSION, Tokens, type PluginContext, type WeftPlugin } from '@weft/core';
import { toOptions, validateConfig, type LocalCaConfig } from './config.js';
import { LocalCa } from './local-ca.js';

export { LocalCa, DEFAULT_VALIDITY_MS, DEFAULT_ROOT_VALIDITY_MS, CLOCK_SKEW_MS } from './local-ca.js';
export type { KeyAlgorithm, LocalCaOptions, BringYourOwnCa } from './local-ca.js';
export { validateConfig, parseDuration, toOptions } from './config.js';
export type { LocalCaConfig } from './config.js';
export { CaMaterialError, CaKeyPermissionError } from './errors.js';

/** The default certificate issuer of Weft. */
const plugin: WeftPlugin<LocalCaConfig> = {
  name: 'ca-local',
  apiVersion: PLUGIN_API_VERSION,
  validateConfig,
  async register(container: DependencyContainer, config: LocalCaConfig, context: PluginContext): Promise<void> {
    const ca = await LocalCa.open(toOptions(config, context));
    container.register(Tokens.CertificateIssuer, { useValue: ca });
  },
};

export default plugin;
