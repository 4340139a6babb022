import * as http from 'node:http';
import * as https from 'node:https';
import { WeftError } from '@weft/core';
import type { KubeConfig } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };

/**
 * The I/O edge: list and watch over the Kubernetes API, with @kubernetes/client-node for the kubeconfig
 * (cluster, credentials, TLS) and its Watch for the streaming half. The source sees only KubeApi, so its
 * logic does not depend on the client library's shapes.
 */

export interface ListResult {
  readonly items: readonly unknown[];
  /** The list's resourceVersion: a watch from here sees every change after the list. */
  readonly resourceVersion: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  readonly type: WatchEventType;
  /** The object; for ERROR, a meta/v1 Status (code 410 when the resourceVersion is too old). */
  readonly object: unknown;
}

export interface WatchHandle {
  abort(): void;
}

export interface KubeApi {
  /** The API server's URL, for messages. */
  readonly server: string;
  /** Lists a collection across all namespaces, following `continue` pages. */
  list(path: string): Promise<ListResult>;
  /**
   * Watches a collection from a resourceVersion. `onDone` is called once, when the server ends the watch
   * (its timeout), the connection breaks, or abort() is called.
   */
  watch(
    path: string,
    resourceVersion: string,
    timeoutSeconds: number,
    onEvent: (event: WatchEvent) => void,
    onDone: (err: Error | null) => void,
  ): Promise<WatchHandle>;
}

/** A request to the API server failed; `status` is the HTTP status when there was an answer. */
export class KubernetesApiError extends WeftError {
  constructor(
    message: string,
    readonly status: number | null,
    options: { cause?: unknown } = {},
  ) {
    // Only answers that say the request itself is wrong (4xx but 408/429) will fail again as they are.
    const retriable = status === null || status >= 500 || status === 408 || status === 429;
    super('KUBERNETES_API_FAILED', message, { retriable, ...options });
  }
}

export interface KubeApiOptions {
  /** A kubeconfig file; when absent, client-node's default loading ($KUBECONFIG, ~/.kube/config, in-cluster). */
  readonly kubeconfig?: string;
  /** A context of that kubeconfig; its current context when absent. */
  readonly context?: string;
  /** How long one list page may take. */
  readonly requestTimeoutMs?: number;
}

const PAGE = 500;

/** Loads the kubeconfig and returns a KubeApi on its current (or named) context. */
export async function connectKubeApi(options: KubeApiOptions = {}): Promise<KubeApi> {
  // client-node is an ES module; this package compiles to CommonJS, so it is loaded with import().
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  try {
    if (options.kubeconfig !== undefined) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
    if (options.context !== undefined) {
      if (!kc.getContexts().some((c) => c.name === options.context)) {
        throw new Error(`it has no context named ${JSON.stringify(options.context)}`);
      }
      kc.setCurrentContext(options.context);
    }
  } catch (err) {
    throw new KubernetesApiError(
      `cannot load the kubeconfig ${options.kubeconfig ?? '(default: $KUBECONFIG, ~/.kube/config or in-cluster)'}: ${(err as Error).message}`,
      null,
      { cause: err },
    );
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null) {
    throw new KubernetesApiError('the kubeconfig has no current cluster; set current-context or name one with `context`', null);
  }
  return new ClientNodeApi(kc, new k8s.Watch(kc), cluster.server, options.requestTimeoutMs ?? 30_000);
}

interface WatchLike {
  watch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, obj: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

class ClientNodeApi implements KubeApi {
  constructor(
    private readonly kc: KubeConfig,
    private readonly watcher: WatchLike,
    readonly server: string,
    private readonly requestTimeoutMs: number,
  ) {}

  async list(path: string): Promise<ListResult> {
    const items: unknown[] = [];
    let token: string | undefined;
    let resourceVersion = '';
    do {
      const query = new URLSearchParams({ limit: String(PAGE) });
      if (token !== undefined) query.set('continue', token);
      const page = (await this.get(`${path}?${query.toString()}`)) as {
        items?: unknown[];
        metadata?: { resourceVersion?: string; continue?: string };
      };
      items.push(...(page.items ?? []));
      // Every page of one list is at the first page's resourceVersion; the last one says it too.
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      token = page.metadata?.continue === '' ? undefined : page.metadata?.continue;
    } while (token !== undefined);
    if (resourceVersion === '') throw new KubernetesApiError(`GET ${this.server}${path}: the list has no resourceVersion`, null);
    return { items, resourceVersion };
  }

  async watch(
    path: string,
    resourceVersion: string,
    timeoutSeconds: number,
    onEvent: (event: WatchEvent) => void,
    onDone: (err: Error | null) => void,
  ): Promise<WatchHandle> {
    const controller = await this.watcher.watch(
      path,
      { resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
      (type, object) => onEvent({ type: type as WatchEventType, object }),
      (err) => {
        if (err === null || err === undefined) return onDone(null);
        const status = (err as { statusCode?: unknown }).statusCode;
        onDone(
          new KubernetesApiError(`watch ${this.server}${path}: ${(err as Error).message ?? String(err)}`, typeof status === 'number' ? status : null, {
            cause: err,
          }),
        );
      },
    );
    return { abort: () => controller.abort() };
  }

  private async get(pathAndQuery: string): Promise<unknown> {
    const url = new URL(this.server + pathAndQuery);
    const opts: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(opts);
    const lib = url.protocol === 'http:' ? http : https;
    const where = `GET ${this.server}${pathAndQuery}`;
    return new Promise((resolve, reject) => {
      const req = lib.request(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new KubernetesApiError(`${where}: ${err.message}`, null, { cause: err })));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status !== 200) {
            let message = text.slice(0, 300);
            try {
              message = (JSON.parse(text) as { message?: string }).message ?? message;
            } catch {
              // Not a Status object (a proxy's HTML page, say): its first bytes are the message.
            }
            reject(new KubernetesApiError(`${where}: HTTP ${status}: ${message}`, status));
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch (err) {
            reject(new KubernetesApiError(`${where}: the answer is not JSON: ${(err as Error).message}`, status, { cause: err }));
          }
        });
      });
      req.setTimeout(this.requestTimeoutMs, () =>
        req.destroy(new Error(`no answer within ${this.requestTimeoutMs} ms`)),
      );
      req.on('error', (err) => reject(new KubernetesApiError(`${where}: ${err.message}`, null, { cause: err })));
      req.end();
    });
  }
}
