/**
 * The injector's I/O edge to the Kubernetes API: read a namespace, create a Secret, create or update the
 * MutatingWebhookConfiguration. @kubernetes/client-node loads the kubeconfig (cluster, credentials, TLS);
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

  private failure(method: string, p: string, a: Answer): InjectorKubeError {
    const message = typeof a.body['message'] === 'string' ? a.body['message'] : JSON.stringify(a.body);
    return new InjectorKubeError(`${method} ${this.server}${p}: HTTP ${a.status}: ${message}`, a.status);
  }

  private async ok(method: string, p: string, body?: unknown): Promise<Record<string, unknown>> {
    const a = await this.request(method, p, body);
    if (a.status < 200 || a.status > 299) throw this.failure(method, p, a);
    return a.body;
  }

  private request(method: string, p: string, body?: unknown): Promise<Answer> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => reject(new InjectorKubeError(`${method} ${this.server}${p}: ${err.message}`, null, { cause: err }));
      const req = https.request(
        new URL(this.server + p),
        {
          ...this.options,
          method,
          timeout: this.timeoutMs,
          headers: { ...this.options.headers, Accept: 'application/json', ...(data ? { 'Content-Type': 'application/json' } : {}) },
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
