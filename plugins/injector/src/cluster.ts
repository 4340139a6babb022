/**
 * What the injector asks of the Kubernetes API: read a namespace, create a Secret, create or update the
 * MutatingWebhookConfiguration, and for the Secret collector list pods and Secrets (metadata only: Secret
 * keys never reach Weft), follow pods with an informer and delete Secrets. Done with @weft/kube-client
 * (client-node's typed APIs and its ListWatch informer); the injector sees only this interface, so its tests
 * fake it, and the collector's tests run it against a fake API server over HTTP.
 */
import {
  connectKubernetes,
  toKubernetesApiError,
  type ConnectOptions,
  type InformerHandlers,
  type KubeClient,
  type ResourceInformer,
} from '@weft/kube-client';

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
   * An informer of the pods (cluster-wide, metadata only) matching a label selector: @weft/kube-client's,
   * which lists, watches, resumes a watch the server ends and lists again on 410 Gone. Not started.
   */
  podInformer(labelSelector: string, options: PodInformerOptions, handlers: InformerHandlers): PodInformer;
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

export interface PodInformerOptions {
  /** Asked of the server for each watch; it then ends the watch and the informer resumes. */
  readonly watchTimeoutSeconds: number;
  /** Wait before a failed list or watch is tried again. */
  readonly retryMs: number;
}

/** What the collector uses of an informer. */
export type PodInformer = Pick<ResourceInformer, 'start' | 'stop' | 'resourceVersion'>;

/** The metadata of an object as a list, a watch or an informer carries it (wire shape). */
export function metadataOf(obj: unknown): ObjectMetadata {
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

  podInformer(labelSelector: string, options: PodInformerOptions, handlers: InformerHandlers): PodInformer {
    // Metadata only: the collector needs a pod's name, namespace and uuid label, never its spec.
    return this.client.informer({ group: '', version: 'v1', plural: 'pods' }, { labelSelector, metadataOnly: true, ...options }, handlers);
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
