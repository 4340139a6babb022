import * as fs from 'node:fs';
import * as path from 'node:path';
import { PLUGIN_API_VERSION, PluginConfigError, Tokens, type ResourceSource, type WeftPlugin } from '@weft/core';
import { connectKubernetes, type KubeClient } from '@weft/kube-client';
import { watchedKinds, type EndpointSource } from './kinds.js';
import { KubernetesSource } from './source.js';

export { connectKubernetes, KubeClient, KubernetesApiError, type ConnectOptions } from '@weft/kube-client';
export { apiVersionOf, collectionPath, ENDPOINT_SLICES, ENDPOINTS, WATCHED_KINDS, watchedKinds, type EndpointSource, type WatchedKind } from './kinds.js';
export { mergeSlices, SERVICE_NAME_LABEL, sliceOf, type Slice } from './slices.js';
export { KubernetesSource, type KubernetesSourceOptions } from './source.js';
export {
  ClusterState,
  describeObject,
  diffHeld,
  idOfObject,
  KubernetesObjectRejected,
  normalizeObject,
  type Applied,
  type Held,
  type Normalized,
} from './state.js';

export interface KubernetesPluginConfig {
  /** A kubeconfig file, relative to the config file's directory; client-node's default loading when absent. */
  readonly kubeconfig?: string;
  /** A context of the kubeconfig; its current context when absent. */
  readonly context?: string;
  /** Source name on the events; give each Kubernetes source its own when there are several clusters. */
  readonly name: string;
  readonly watchTimeoutSeconds: number;
  readonly retryMs: number;
  readonly missingKindRetryMs: number;
  /** Where Services' endpoints come from: EndpointSlices (default) or, for old clusters, v1 Endpoints. */
  readonly endpointSource: EndpointSource;
}

const FIELDS = ['kubeconfig', 'context', 'name', 'watchTimeoutSeconds', 'retryMs', 'missingKindRetryMs', 'endpointSource'];

function optionalInt(raw: Record<string, unknown>, key: string, dflt: number, min: number, max: number): number {
  const v = raw[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new PluginConfigError(key, `must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
  }
  return v;
}

function optionalString(raw: Record<string, unknown>, key: string, what: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw new PluginConfigError(key, `must be ${what} (got ${JSON.stringify(v)})`);
  return v;
}

export function validateKubernetesConfig(raw: unknown): KubernetesPluginConfig {
  const r: Record<string, unknown> = raw === undefined || raw === null ? {} : (raw as Record<string, unknown>);
  if (typeof r !== 'object' || Array.isArray(r)) {
    throw new PluginConfigError('', 'must be a mapping (all fields are optional: kubeconfig, context, name, ...)');
  }
  for (const k of Object.keys(r)) {
    if (!FIELDS.includes(k)) throw new PluginConfigError(k, `unknown field; expected one of ${FIELDS.join(', ')}`);
  }
  const name = r.name ?? 'kubernetes';
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/.test(name)) {
    throw new PluginConfigError('name', `must be a short identifier (got ${JSON.stringify(name)})`);
  }
  const kubeconfig = optionalString(r, 'kubeconfig', 'the path of a kubeconfig file');
  const context = optionalString(r, 'context', 'the name of a context in the kubeconfig');
  const endpointSource = r.endpointSource ?? 'endpointslices';
  if (endpointSource !== 'endpointslices' && endpointSource !== 'endpoints') {
    throw new PluginConfigError('endpointSource', `must be endpointslices (the default) or endpoints (v1 Endpoints, for clusters before discovery.k8s.io/v1) (got ${JSON.stringify(endpointSource)})`);
  }
  return {
    ...(kubeconfig === undefined ? {} : { kubeconfig }),
    ...(context === undefined ? {} : { context }),
    name,
    watchTimeoutSeconds: optionalInt(r, 'watchTimeoutSeconds', 300, 1, 3600),
    retryMs: optionalInt(r, 'retryMs', 1_000, 10, 600_000),
    missingKindRetryMs: optionalInt(r, 'missingKindRetryMs', 30_000, 100, 3_600_000),
    endpointSource,
  };
}

/** The Kubernetes source: Namespaces, Services, Pods, Endpoints, ServiceAccounts and SMI/OSM policy, watched. */
export const plugin: WeftPlugin<KubernetesPluginConfig> = {
  name: 'kubernetes',
  apiVersion: PLUGIN_API_VERSION,
  validateConfig: validateKubernetesConfig,
  async register(container, config, context) {
    let kubeconfig: string | undefined;
    if (config.kubeconfig !== undefined) {
      kubeconfig = path.resolve(context.configDir, config.kubeconfig);
      // Checked here so a typo stops Weft at load with the plugin's name on it.
      if (!fs.existsSync(kubeconfig)) {
        throw new PluginConfigError('kubeconfig', `${kubeconfig} does not exist; fix the path or leave it out to use the default`);
      }
    }
    let client: KubeClient;
    try {
      client = await connectKubernetes({
        ...(kubeconfig === undefined ? {} : { kubeconfig }),
        ...(config.context === undefined ? {} : { context: config.context }),
      });
    } catch (err) {
      throw new PluginConfigError(config.kubeconfig === undefined ? '' : 'kubeconfig', (err as Error).message);
    }
    const source = new KubernetesSource({
      name: config.name,
      client,
      kinds: watchedKinds(config.endpointSource),
      watchTimeoutSeconds: config.watchTimeoutSeconds,
      retryMs: config.retryMs,
      missingKindRetryMs: config.missingKindRetryMs,
      logger: context.logger.child({ source: config.name, server: client.server }),
    });
    container.register<ResourceSource>(Tokens.ResourceSource, { useValue: source });
  },
};

export default plugin;
