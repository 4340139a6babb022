import type { DependencyContainer } from 'tsyringe';
import type { CertificateIssuer } from '../../certs/types.js';
import { ConfigError } from '../../errors.js';
import type { EventLogBackend } from '../../log/types.js';
import type { Logger } from '../../observe/logger.js';
import { Tokens, type ResourceSource } from '../../plugin/api.js';
import { createPluginContainer, loadPlugins, type LoadedPlugin } from '../../plugin/loader.js';
import type { ProxyAdapter } from '../../xds/adapter.js';
import { builtinBackends } from '../backends.js';
import { CORE_PACKAGE_DIR, type WeftConfig } from '../config.js';
import type { Runner } from './runner.js';

/** Extension points, resolved from the container and checked for clashes. */
export interface Extensions {
  readonly backends: EventLogBackend[];
  readonly sources: ResourceSource[];
  readonly issuers: CertificateIssuer[];
  readonly adapters: ProxyAdapter[];
}

function all<T>(container: DependencyContainer, token: string): T[] {
  return container.isRegistered(token, true) ? container.resolveAll<T>(token) : [];
}

function unique<T>(items: readonly T[], keyOfItem: (t: T) => string, what: string, label: string): void {
  const seen = new Set<string>();
  for (const item of items) {
    const k = keyOfItem(item);
    if (seen.has(k)) throw new ConfigError(`${label}: two plugins register a ${what} "${k}"; load only one of them`);
    seen.add(k);
  }
}

export function resolveExtensions(container: DependencyContainer, config: WeftConfig): Extensions {
  const ext: Extensions = {
    backends: all<EventLogBackend>(container, Tokens.EventLogBackend),
    sources: all<ResourceSource>(container, Tokens.ResourceSource),
    issuers: all<CertificateIssuer>(container, Tokens.CertificateIssuer),
    adapters: all<ProxyAdapter>(container, Tokens.ProxyAdapter),
  };
  unique(ext.sources, (s) => s.name, 'resource source named', config.label);
  unique(ext.adapters, (a) => a.kind, 'proxy adapter for kind', config.label);
  if (ext.issuers.length > 1) {
    throw new ConfigError(
      `${config.label}: ${ext.issuers.length} certificate issuers are registered (${ext.issuers.map((i) => i.name).join(', ')}); ` +
        'load exactly one issuer plugin',
    );
  }
  if (ext.issuers.length === 0 && !config.xds.insecure) {
    throw new ConfigError(
      `${config.label}: no certificate issuer plugin is loaded, so proxies cannot get mTLS certificates; ` +
        'add @weft/plugin-ca-local to plugins, or set xds.insecure: true for development',
    );
  }
  return ext;
}

/** Imports and registers the configured plugins into a fresh container with the built-in log backends. */
export async function loadConfiguredPlugins(
  config: WeftConfig,
  logger: Logger,
): Promise<{ container: DependencyContainer; plugins: LoadedPlugin[] }> {
  const container = createPluginContainer();
  for (const backend of builtinBackends(logger.child({ component: 'log' }))) {
    container.register<EventLogBackend>(Tokens.EventLogBackend, { useValue: backend });
  }
  const plugins = await loadPlugins(config.plugins, container, {
    label: config.label,
    configDir: config.configDir,
    resolvePaths: [CORE_PACKAGE_DIR],
    context: { logger, dataDir: config.dataDir, configDir: config.configDir, trustDomain: config.trustDomain },
  });
  return { container, plugins };
}

export interface LoadedExtensions {
  readonly container: DependencyContainer;
  readonly plugins: LoadedPlugin[];
  readonly ext: Extensions;
}

/**
 * Loads the configured plugins and resolves what they register. It runs before anything listens or
 * watches, so a bad plugin or a clash of extensions fails the start with nothing to undo.
 */
export class PluginsRunner implements Runner<LoadedExtensions> {
  readonly name = 'plugins';

  constructor(private readonly inputs: { readonly config: WeftConfig; readonly logger: Logger }) {}

  async start(): Promise<LoadedExtensions> {
    const { config, logger } = this.inputs;
    const { container, plugins } = await loadConfiguredPlugins(config, logger);
    for (const p of plugins) logger.info('plugin loaded', { plugin: p.name, from: p.spec, index: p.index });
    return { container, plugins, ext: resolveExtensions(container, config) };
  }

  // A plugin's register() only fills the container; what it registered starts and stops with its runner.
  async stop(): Promise<void> {}
}
