/**
 * What the injector asks of the Kubernetes API: read a namespace, create a Secret, create or update the
 * MutatingWebhookConfiguration, and for the Secret collector list pods and Secrets (metadata only: Secret
 * keys never reach Weft), watch pods and delete Secrets. Done with @weft/kube-client (client-node's typed
 * APIs); the collector and the injector see only this interface, so their tests use a fake of it.
 */
import { connectKubernetes, toKubernetesApiError, type ConnectOptions, type KubeClient, type KubernetesApiError } from '@weft/kube-client';

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
  watchPods(labelSelector: string, resourceVersion: string, timeoutSeconds: number, onEvent: (event: WatchEvent) => void, onDone: (err?: KubernetesApiError) => void): WatchHandle;
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

/** Connects to the cluster of a kubeconfig (client-node's default loading when none is named). */
export async function connectInjectorKube(options: ConnectOptions = {}): Promise<InjectorKube> {
  return new ClusterKube(await connectKubernetes(options));
}

const plain = (typed: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(typed)) as Record<string, unknown>;

export class ClusterKube implements InjectorKube {
  readonly server: string;

  constructor(private readonly client: KubeClient) {
    this.server = client.server;
  }

  async getNamespace(name: string): Promise<Record<string, unknown>> {
    return plain(await this.client.call(`GET /api/v1/namespaces/${name}`, () => this.client.core.readNamespace({ name })));
  }

  async createSecret(namespace: string, secret: Record<string, unknown>): Promise<void> {
    await this.client.call(`POST /api/v1/namespaces/${namespace}/secrets`, () => this.client.core.createNamespacedSecret({ namespace, body: secret }));
  }

  async applyWebhookConfiguration(config: Record<string, unknown> & { metadata: { name: string } }): Promise<void> {
    const { admission } = this.client;
    const name = config.metadata.name;
    const where = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${name}`;
    let resourceVersion: string | undefined;
    try {
      resourceVersion = (await admission.readMutatingWebhookConfiguration({ name })).metadata?.resourceVersion;
    } catch (err) {
      const e = toKubernetesApiError(`GET ${this.server}${where}`, err);
      if (e.status !== 404) throw e;
      await this.client.call('POST /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', () => admission.createMutatingWebhookConfiguration({ body: config }));
      return;
    }
    // The resourceVersion makes the replace conditional: a concurrent writer makes it fail instead of being lost.
    const body = { ...config, metadata: { ...config.metadata, resourceVersion } };
    await this.client.call(`PUT ${where}`, () => admission.replaceMutatingWebhookConfiguration({ name, body }));
  }

  async listMetadata(collection: MetadataCollection, labelSelector: string): Promise<MetadataList> {
    const list = await this.client.list({ group: '', version: 'v1', plural: collection }, { labelSelector, metadataOnly: true });
    return { items: list.items.map(metadataOf), resourceVersion: list.resourceVersion };
  }

  watchPods(labelSelector: string, resourceVersion: string, timeoutSeconds: number, onEvent: (event: WatchEvent) => void, onDone: (err?: KubernetesApiError) => void): WatchHandle {
    let handle: { stop(): void } | undefined;
    let stopped = false;
    this.client
      .watch({ group: '', version: 'v1', plural: 'pods' }, { resourceVersion, timeoutSeconds, labelSelector, metadataOnly: true }, (type, obj) => onEvent({ type, object: metadataOf(obj) }), (err) => onDone(err ?? undefined))
      .then(
        (h) => {
          handle = h;
          if (stopped) h.stop();
        },
        (err: unknown) => onDone(toKubernetesApiError(`watch ${this.server}/api/v1/pods`, err)),
      );
    return {
      stop: () => {
        stopped = true;
        handle?.stop();
      },
    };
  }

  async deleteSecret(namespace: string, name: string, uid: string): Promise<boolean> {
    const where = `DELETE ${this.server}/api/v1/namespaces/${namespace}/secrets/${name}`;
    try {
      // The uid precondition: a Secret of that name created since it was listed is not the one judged orphaned.
      await this.client.core.deleteNamespacedSecret({ namespace, name, body: { preconditions: { uid } } });
      return true;
    } catch (err) {
      const e = toKubernetesApiError(where, err);
      if (e.status === 404 || e.status === 409) return false;
      throw e;
    }
  }
}
