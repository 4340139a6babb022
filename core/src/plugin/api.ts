import type { DependencyContainer } from 'tsyringe';
import type { EventInput } from '../log/types.js';
import type { ResourceKind } from '../model/types.js';
import type { Logger } from '../observe/logger.js';

/** The plugin API version this core speaks. A plugin declaring another one is refused at load. */
export const PLUGIN_API_VERSION = 'weft.dev/v1alpha1';

/**
 * DI tokens of the extension points. A plugin registers implementations under these tokens in the
 * container it is handed (`container.register(Tokens.ProxyAdapter, { useValue: adapter })`);
 * the core resolves them with `resolveAll`. The core never imports a plugin.
 */
export const Tokens = {
  EventLogBackend: 'weft.EventLogBackend',
  ResourceSource: 'weft.ResourceSource',
  CertificateIssuer: 'weft.CertificateIssuer',
  ProxyAdapter: 'weft.ProxyAdapter',
} as const;
export type ExtensionToken = (typeof Tokens)[keyof typeof Tokens];

export interface PluginContext {
  readonly logger: Logger;
  /** Data directory of this Weft instance (the file log and CA keys live under it). */
  readonly dataDir: string;
  /** Directory of the weft.yaml that loaded the plugin; relative paths in plugin config resolve here. */
  readonly configDir: string;
  readonly trustDomain: string;
}

/** A plugin module's export (default export or `plugin`). */
export interface WeftPlugin<C = unknown> {
  readonly name: string;
  readonly apiVersion: string;
  /**
   * Validates and normalizes the plugin's config section. Throw PluginConfigError with the path of the
   * bad field (relative to the section) so the loader can name `plugins[i].config.<path>`.
   */
  validateConfig?(raw: unknown): C;
  register(container: DependencyContainer, config: C, context: PluginContext): void | Promise<void>;
}

/** What a resource source writes to. */
export interface SourceSink {
  /** Appends one atomic batch to the log; resolves once durable. */
  append(batch: readonly EventInput[]): Promise<number[]>;
  /**
   * Resources whose last event came from this source, as "Kind/key" -> body, so a source can reconcile
   * after a restart and append only what differs.
   */
  known(): ReadonlyMap<string, { readonly kind: ResourceKind; readonly key: string; readonly body: unknown }>;
  readonly logger: Logger;
}

/** Watches something (a folder, the Kubernetes API) and turns changes into events. */
export interface ResourceSource {
  readonly name: string;
  /**
   * True for a source that appends nothing (a webhook such as the sidecar injector's): it runs on every
   * replica of a shared log, writer or not. Absent or false: it runs only on the log's writer.
   */
  readonly everyReplica?: boolean;
  /**
   * Appends the initial state as one batch, then keeps watching until stop(). On a shared log a source runs
   * only while its replica is the writer, so the same instance is started again after a stop when the
   * replica becomes the writer again: it must then reconcile from `sink.known()`, not from its last run.
   */
  start(sink: SourceSink): Promise<void>;
  stop(): Promise<void>;
}
