/**
 * The injector's I/O edge to the Kubernetes API: read a namespace, create a Secret, create or update the
 * MutatingWebhookConfiguration, and for the Secret collector list and watch pods, list and delete Secrets. @kubernetes/client-node loads the kubeconfig (cluster, credentials, TLS);
 * requests are plain JSON over node:https, so nothing else depends on the client library's shapes.
 */
import * as https from 'node:https';
import { WeftError } from '@weft/core';

/** A Kubernetes API request failed; `status` is the HTTP status when there was an answer. */
export class InjectorKubeError extends WeftError {
  constructor(
    message: string,
    readonly status: number | null,
    options: { cause?: unknown } = {},
  ) {
    const retriable = status === null || status >= 500 || status === 408 || status === 429;
    super('INJECTOR_KUBE_API_FAILED', message, { retriable, ...options });
  }
}

export interface InjectorKube {
  readonly server: string;
  /** Labels and annotations of a namespace. */
  getNamespace(name: string): Promise<Record<string, unknown>>;
  createSecret(namespace: string, secret: Record<string, unknown>): Promise<void>;
  /** Creates the configuration, or replaces the one of that name. */
  applyWebhookConfiguration(config: Record<string, unknown> & { metadata: { name: string } }): Promise<void>;
  /** Metadata of the objects of a collection matching a label selector (all pages), and the list's resourceVersion. */
  listMetadata(collection: MetadataCollection, labelSelector: string): Promise<MetadataList>;
  /**
   * Watches pods cluster-wide from a resourceVersion. `onDone` is called once, when the watch ends: without
   * an error when the server closed it (resume), with one when it failed (a 410 has `status` 410: relist).
   */
  watchPods(labelSelector: string, resourceVersion: string, timeoutSeconds: number, onEvent: (event: WatchEvent) => void, onDone: (err?: InjectorKubeError) => void): WatchHandle;
  /** Deletes a Secret if it is still the object of that uid; false when it is gone or another object has the name now. */
  deleteSecret(namespace: string, name: string, uid: string): Promise<boolean>;
}

export type MetadataCollection = 'pods' | 'secrets';

export interface ObjectMetadata {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly resourceVersion: string;
  readonly creationTimestamp: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface MetadataList {
  readonly items: readonly ObjectMetadata[];
  readonly resourceVersion: string;
}

export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  readonly object: ObjectMetadata;
}

export interface WatchHandle {
  stop(): void;
}

/** The apiserver answers lists with metadata only (PartialObjectMetadataList): Secret keys never reach Weft. */
const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json';
const METADATA_ITEM = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json';

function metadataOf(obj: unknown): ObjectMetadata {
  const meta = (typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)['metadata'] : undefined) as Record<string, unknown> | undefined;
  const str = (k: string): string => (typeof meta?.[k] === 'string' ? (meta[k] as string) : '');
  const rawLabels = meta?.['labels'];
  const labels: Record<string, string> = {};
  if (typeof rawLabels === 'object' && rawLabels !== null) {
    for (const [k, v] of Object.entries(rawLabels)) if (typeof v === 'string') labels[k] = v;
  }
  return { name: str('name'), namespace: str('namespace'), uid: str('uid'), resourceVersion: str('resourceVersion'), creationTimestamp: str('creationTimestamp'), labels };
}

export interface InjectorKubeOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly requestTimeoutMs?: number;
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export async function connectInjectorKube(options: InjectorKubeOptions = {}): Promise<InjectorKube> {
  // client-node is an ES module; this package compiles to CommonJS, so it is loaded with import().
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  try {
    if (options.kubeconfig !== undefined) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
    if (options.context !== undefined) {
      if (!kc.getContexts().some((c) => c.name === options.context)) throw new Error(`it has no context named ${JSON.stringify(options.context)}`);
      kc.setCurrentContext(options.context);
    }
  } catch (err) {
    throw new InjectorKubeError(
      `cannot load the kubeconfig ${options.kubeconfig ?? '(default: $KUBECONFIG, ~/.kube/config or in-cluster)'}: ${(err as Error).message}`,
      null,
      { cause: err },
    );
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new InjectorKubeError('the kubeconfig has no current cluster; set current-context or name one with `context`', null);
  const requestOptions: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(requestOptions);
  return new HttpsKube(cluster.server, requestOptions, options.requestTimeoutMs ?? 10_000);
}

class HttpsKube implements InjectorKube {
  constructor(
    readonly server: string,
    private readonly options: https.RequestOptions,
    private readonly timeoutMs: number,
  ) {}

  async getNamespace(name: string): Promise<Record<string, unknown>> {
    return this.ok('GET', `/api/v1/namespaces/${encodeURIComponent(name)}`);
  }

  async createSecret(namespace: string, secret: Record<string, unknown>): Promise<void> {
    await this.ok('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`, secret);
  }

  async applyWebhookConfiguration(config: Record<string, unknown> & { metadata: { name: string } }): Promise<void> {
    const collection = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
    const item = `${collection}/${encodeURIComponent(config.metadata.name)}`;
    const current = await this.request('GET', item);
    if (current.status === 404) {
      await this.ok('POST', collection, config);
      return;
    }
    if (current.status !== 200) throw this.failure('GET', item, current);
    const meta = current.body['metadata'] as { resourceVersion?: string } | undefined;
    // The resourceVersion makes the replace conditional: a concurrent writer makes it fail instead of being lost.
    await this.ok('PUT', item, { ...config, metadata: { ...config.metadata, resourceVersion: meta?.resourceVersion } });
  }

  async listMetadata(collection: MetadataCollection, labelSelector: string): Promise<MetadataList> {
    const items: ObjectMetadata[] = [];
    let resourceVersion = '';
    let next = '';
    do {
      const query = new URLSearchParams({ labelSelector, limit: '500', ...(next === '' ? {} : { continue: next }) });
      const page = await this.ok('GET', `/api/v1/${collection}?${query.toString()}`, undefined, METADATA_LIST);
      for (const item of Array.isArray(page['items']) ? page['items'] : []) items.push(metadataOf(item));
      const meta = page['metadata'] as { resourceVersion?: string; continue?: string } | undefined;
      resourceVersion = meta?.resourceVersion ?? resourceVersion;
      next = meta?.continue ?? '';
    } while (next !== '');
    return { items, resourceVersion };
  }

  watchPods(labelSelector: string, resourceVersion: string, timeoutSeconds: number, onEvent: (event: WatchEvent) => void, onDone: (err?: InjectorKubeError) => void): WatchHandle {
    const query = new URLSearchParams({ watch: '1', labelSelector, resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) });
    const p = `/api/v1/pods?${query.toString()}`;
    let done = false;
    const finish = (err?: InjectorKubeError): void => {
      if (done) return;
      done = true;
      onDone(err);
    };
    const req = https.request(new URL(this.server + p), { ...this.options, method: 'GET', headers: { ...this.options.headers, Accept: METADATA_ITEM } }, (res) => {
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let message = Buffer.concat(chunks).toString('utf8').slice(0, 500);
          try {
            const body = JSON.parse(message) as { message?: unknown };
            if (typeof body.message === 'string') message = body.message;
          } catch {
            // Not a Status: keep the text as it came.
          }
          finish(new InjectorKubeError(`watch ${this.server}${p}: HTTP ${res.statusCode ?? 0}: ${message}`, res.statusCode ?? null));
        });
        return;
      }
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line === '') continue;
          let event: { type?: unknown; object?: Record<string, unknown> };
          try {
            event = JSON.parse(line) as typeof event;
          } catch (err) {
            req.destroy();
            finish(new InjectorKubeError(`watch ${this.server}${p}: an event is not JSON: ${(err as Error).message}`, null, { cause: err }));
            return;
          }
          if (event.type === 'ERROR') {
            const code = typeof event.object?.['code'] === 'number' ? event.object['code'] : null;
            req.destroy();
            finish(new InjectorKubeError(`watch ${this.server}${p}: ${String(event.object?.['message'] ?? 'ERROR event')}`, code));
            return;
          }
          if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED' || event.type === 'BOOKMARK') {
            onEvent({ type: event.type, object: metadataOf(event.object) });
          }
        }
      });
      res.on('end', () => finish());
      res.on('error', (err) => finish(new InjectorKubeError(`watch ${this.server}${p}: ${err.message}`, null, { cause: err })));
      res.on('close', () => finish(res.complete ? undefined : new InjectorKubeError(`watch ${this.server}${p}: the connection closed mid-stream`, null)));
    });
    req.on('error', (err) => finish(new InjectorKubeError(`watch ${this.server}${p}: ${err.message}`, null, { cause: err })));
    // The server ends the watch after timeoutSeconds and sends bookmarks meanwhile: a connection silent for much
    // longer is dead (a partition), and only this timeout notices it.
    const idleMs = (timeoutSeconds + 60) * 1000;
    req.setTimeout(idleMs, () => req.destroy(new Error(`no data for ${idleMs / 1000} s`)));
    req.end();
    return {
      stop: () => {
        done = true;
        req.destroy();
      },
    };
  }

  async deleteSecret(namespace: string, name: string, uid: string): Promise<boolean> {
    const p = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`;
    // The uid precondition: a Secret of that name created since it was listed is not the one judged orphaned.
    const a = await this.request('DELETE', p, { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid } });
    if (a.status === 404 || a.status === 409) return false;
    if (a.status < 200 || a.status > 299) throw this.failure('DELETE', p, a);
    return true;
  }

  private failure(method: string, p: string, a: Answer): InjectorKubeError {
    const message = typeof a.body['message'] === 'string' ? a.body['message'] : JSON.stringify(a.body);
    return new InjectorKubeError(`${method} ${this.server}${p}: HTTP ${a.status}: ${message}`, a.status);
  }

  private async ok(method: string, p: string, body?: unknown, accept?: string): Promise<Record<string, unknown>> {
    const a = await this.request(method, p, body, accept);
    if (a.status < 200 || a.status > 299) throw this.failure(method, p, a);
    return a.body;
  }

  private request(method: string, p: string, body?: unknown, accept = 'application/json'): Promise<Answer> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => reject(new InjectorKubeError(`${method} ${this.server}${p}: ${err.message}`, null, { cause: err }));
      const req = https.request(
        new URL(this.server + p),
        {
          ...this.options,
          method,
          timeout: this.timeoutMs,
          headers: { ...this.options.headers, Accept: accept, ...(data ? { 'Content-Type': 'application/json' } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', fail);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: Record<string, unknown> = {};
            if (text !== '') {
              try {
                parsed = JSON.parse(text) as Record<string, unknown>;
              } catch {
                // A proxy or load balancer in front of the API server answered with something else: keep its text.
                parsed = { message: text.slice(0, 500) };
              }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', fail);
      req.end(data);
    });
  }
}
