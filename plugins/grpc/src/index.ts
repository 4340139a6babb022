/**
 * @weft/plugin-grpc: the proxy adapter for proxyless gRPC (proxy kind "grpc").
 */
import { PLUGIN_API_VERSION, PluginConfigError, Tokens, type PluginContext, type WeftPlugin } from '@weft/core';
import type { DependencyContainer } from 'tsyringe';
import { GrpcAdapter } from './adapter.js';
import { DEFAULT_BOOTSTRAP } from './bootstrap.js';

export { GrpcAdapter, GRPC_TYPE_URLS, type GrpcAdapterOptions } from './adapter.js';
export { grpcBootstrap, CERT_FILES, DEFAULT_BOOTSTRAP, type BootstrapOptions, type GrpcBootstrap } from './bootstrap.js';
export { writeCertificateFiles, type WorkloadCertificate } from './certfiles.js';
export { GRPC_RETRY_CODES } from './client.js';
export type { Notice } from './notices.js';
export * as names from './names.js';

export interface GrpcPluginConfig {
  readonly mtls: boolean;
  readonly certProvider: string;
  readonly certDir: string;
  readonly refreshInterval: string;
}

const KEYS = ['mtls', 'certProvider', 'certDir', 'refreshInterval'] as const;

function validateConfig(raw: unknown): GrpcPluginConfig {
  const c = raw ?? {};
  if (typeof c !== 'object' || Array.isArray(c)) throw new PluginConfigError('', `must be a mapping with ${KEYS.join(', ')} (got ${JSON.stringify(raw)})`);
  const o = c as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(KEYS as readonly string[]).includes(k)) throw new PluginConfigError(k, `unknown field; expected one of ${KEYS.join(', ')}`);
  }
  if (o.mtls !== undefined && typeof o.mtls !== 'boolean') throw new PluginConfigError('mtls', `must be true or false (got ${JSON.stringify(o.mtls)})`);
  const str = (k: 'certProvider' | 'certDir' | 'refreshInterval', dflt: string, pattern?: RegExp, hint?: string): string => {
    const v = o[k];
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || v === '' || (pattern !== undefined && !pattern.test(v))) {
      throw new PluginConfigError(k, `must be ${hint ?? 'a non-empty string'} (got ${JSON.stringify(v)})`);
    }
    return v;
  };
  return {
    mtls: (o.mtls as boolean | undefined) ?? true,
    certProvider: str('certProvider', DEFAULT_BOOTSTRAP.certProvider),
    certDir: str('certDir', DEFAULT_BOOTSTRAP.certDir, /^\//, 'an absolute path as the workloads see it, e.g. "/var/run/weft/certs"'),
    refreshInterval: str('refreshInterval', DEFAULT_BOOTSTRAP.refreshInterval, /^\d+(\.\d+)?s$/, 'a duration in seconds such as "10s"'),
  };
}

const plugin: WeftPlugin<GrpcPluginConfig> = {
  name: 'grpc',
  apiVersion: PLUGIN_API_VERSION,
  validateConfig,
  register(container: DependencyContainer, config: GrpcPluginConfig, context: PluginContext): void {
    const adapter = new GrpcAdapter({
      mtls: config.mtls,
      certProvider: config.certProvider,
      logger: context.logger,
      bootstrap: { certDir: config.certDir, refreshInterval: config.refreshInterval },
    });
    container.register(Tokens.ProxyAdapter, { useValue: adapter });
  },
};

export default plugin;
export { plugin, validateConfig };
