/**
 * The I/O edge to the Kubernetes API that Weft's Kubernetes plugins share: @kubernetes/client-node loads the
 * kubeconfig (cluster, credentials, TLS, in-cluster), its typed APIs make the requests and its ListWatch
 * informers follow collections. Callers see wire-shaped objects (what the API server sends and a watch event
 * carries) and KubernetesApiError, so their logic does not depend on the generated models.
 */
import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { KubernetesApiError, toKubernetesApiError } from './errors.js';
import { ResourceInformer, type InformerHandlers, type InformerOptions } from './informer.js';

/** A collection the API serves, read cluster-wide. */
export interface ResourceType {
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
}

/** An object as the API server sends it: apiVersion/kind may be absent on list items. */
export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

export interface ObjectList {
  readonly items: readonly KubeObject[];
  /** The list's resourceVersion: a watch from here sees every change after the list. */
  readonly resourceVersion: string;
}

export interface ListOptions {
  readonly labelSelector?: string;
  /**
   * Ask for PartialObjectMetadata: the server sends metadata only, so the bodies (a Secret's keys) never
   * reach Weft.
   */
  readonly metadataOnly?: boolean;
}

/** The cluster-wide collection path: list and watch across every namespace. */
export const collectionPath = (t: ResourceType): string =>
  t.group === '' ? `/api/${t.version}/${t.plural}` : `/apis/${t.group}/${t.version}/${t.plural}`;

export const METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json';
export const METADATA_WATCH_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json';

export interface ConnectOptions {
  /** A kubeconfig file; when absent, client-node's default loading ($KUBECONFIG, ~/.kube/config, in-cluster). */
  readonly kubeconfig?: string;
  /** A context of that kubeconfig; its current context when absent. */
  readonly context?: string;
}

export interface WatchOptions {
  readonly resourceVersion: string;
  readonly timeoutSeconds: number;
  readonly labelSelector?: string;
  /** Watch PartialObjectMetadata: bodies never reach Weft. */
  readonly metadataOnly?: boolean;
}

const PAGE = 500;

interface Page {
  readonly items?: KubeObject[];
  readonly metadata?: { readonly resourceVersion?: string; readonly continue?: string; readonly _continue?: string };
}

type PageParams = { limit: number; _continue?: string; labelSelector?: string };

/** Loads the kubeconfig and returns a client on its current (or named) context. */
export async function connectKubernetes(options: ConnectOptions = {}): Promise<KubeClient> {
  // client-node is an ES module; the plugins compile to CommonJS, so it is loaded with import().
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
    throw new KubernetesApiError(
      `cannot load the kubeconfig ${options.kubeconfig ?? '(default: $KUBECONFIG, ~/.kube/config or in-cluster)'}: ${(err as Error).message}`,
      null,
      { cause: err },
    );
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new KubernetesApiError('the kubeconfig has no current cluster; set current-context or name one with `context`', null);
  return new KubeClient(k8s, kc, cluster.server);
}

export class KubeClient {
  readonly core: K8s.CoreV1Api;
  readonly discovery: K8s.DiscoveryV1Api;
  readonly customObjects: K8s.CustomObjectsApi;
  readonly admission: K8s.AdmissionregistrationV1Api;

  constructor(
    /** The client-node module (loaded with import()). */
    readonly k8s: typeof K8s,
    readonly kubeConfig: K8s.KubeConfig,
    /** The API server's URL, for messages. */
    readonly server: string,
  ) {
    this.core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.discovery = kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
    this.customObjects = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    this.admission = kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
  }

  /** Runs a typed-API call, turning its failure into a KubernetesApiError that names the request. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toKubernetesApiError(`${what} ${this.server}`, err);
    }
  }

  /** Lists a collection across all namespaces, following `continue` pages, as wire-shaped objects. */
  async list(type: ResourceType, options: ListOptions = {}): Promise<ObjectList> {
    const items: KubeObject[] = [];
    let token: string | undefined;
    let resourceVersion = '';
    const headers = options.metadataOnly === true ? this.k8s.setHeaderOptions('Accept', METADATA_LIST_ACCEPT) : undefined;
    const where = `GET ${this.server}${collectionPath(type)}`;
    do {
      const params: PageParams = { limit: PAGE, ...(token === undefined ? {} : { _continue: token }), ...(options.labelSelector === undefined ? {} : { labelSelector: options.labelSelector }) };
      let page: Page;
      try {
        page = await this.page(type, params, headers);
      } catch (err) {
        throw toKubernetesApiError(where, err);
      }
      for (const item of page.items ?? []) items.push(withoutManagedFields(item));
      // Every page of one list is at the first page's resourceVersion; the last one says it too.
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      const next = page.metadata?.continue ?? page.metadata?._continue;
      token = next === '' ? undefined : next;
    } while (token !== undefined);
    if (resourceVersion === '') throw new KubernetesApiError(`${where}: the list has no resourceVersion`, null);
    return { items, resourceVersion };
  }

  /**
   * One watch of a collection from a resourceVersion, with bookmarks and the server's timeout. `onDone` is
   * called once: null when the server ended the watch (resume from the last resourceVersion), an error when
   * it failed (status 410: the resourceVersion expired, list again). Prefer `informer`, which does all that.
   */
  async watch(
    type: ResourceType,
    options: WatchOptions,
    onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK', obj: KubeObject) => void,
    onDone: (err: KubernetesApiError | null) => void,
  ): Promise<{ stop(): void }> {
    const path = collectionPath(type);
    const where = `watch ${this.server}${path}`;
    const watcher = new this.k8s.Watch(options.metadataOnly === true ? metadataOnlyConfig(this.kubeConfig) : this.kubeConfig);
    let failure: KubernetesApiError | undefined;
    let stopped = false;
    const controller = await watcher.watch(
      path,
      {
        resourceVersion: options.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: options.timeoutSeconds,
        ...(options.labelSelector === undefined ? {} : { labelSelector: options.labelSelector }),
      },
      (phase, obj) => {
        if (stopped || failure !== undefined) return;
        if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' || phase === 'BOOKMARK') onEvent(phase, withoutManagedFields(obj as KubeObject));
        else if (phase === 'ERROR') {
          const status = obj as { code?: unknown; message?: unknown };
          failure = new KubernetesApiError(`${where}: ${String(status.message ?? 'ERROR event')}`, typeof status.code === 'number' ? status.code : null);
        }
      },
      (err) => {
        if (stopped) return;
        stopped = true;
        onDone(err === null || err === undefined ? (failure ?? null) : toKubernetesApiError(where, err));
      },
    );
    return {
      stop: () => {
        stopped = true;
        controller.abort();
      },
    };
  }

  /** An informer over a collection: list, watch, resume, relist on 410 Gone, retry after failures. */
  informer(type: ResourceType, options: InformerOptions, handlers: InformerHandlers): ResourceInformer {
    return new ResourceInformer(this, type, options, handlers);
  }

  /**
   * One page through the typed API of the collection (the generated models, turned back into the wire
   * shape so that a list item and a watch event of one object look the same), or through CustomObjectsApi
   * for the kinds CRDs add.
   */
  private async page(type: ResourceType, params: PageParams, options: K8s.ConfigurationOptions | undefined): Promise<Page> {
    let typed: unknown;
    switch (`${type.group}/${type.version}/${type.plural}`) {
      case '/v1/namespaces':
        typed = await this.core.listNamespace(params, options);
        break;
      case '/v1/serviceaccounts':
        typed = await this.core.listServiceAccountForAllNamespaces(params, options);
        break;
      case '/v1/services':
        typed = await this.core.listServiceForAllNamespaces(params, options);
        break;
      case '/v1/pods':
        typed = await this.core.listPodForAllNamespaces(params, options);
        break;
      case '/v1/endpoints':
        typed = await this.core.listEndpointsForAllNamespaces(params, options);
        break;
      case '/v1/secrets':
        typed = await this.core.listSecretForAllNamespaces(params, options);
        break;
      case 'discovery.k8s.io/v1/endpointslices':
        typed = await this.discovery.listEndpointSliceForAllNamespaces(params, options);
        break;
      default:
        if (type.group === '') throw new KubernetesApiError(`no typed list for core ${type.version} ${type.plural}; add it to KubeClient`, 400);
        // Custom objects come back as the server sent them.
        return (await this.customObjects.listClusterCustomObject({ group: type.group, version: type.version, plural: type.plural, ...params }, options)) as Page;
    }
    // The models hold Dates and rename `continue`; JSON gives back the wire form (no model of these kinds renames another field).
    return JSON.parse(JSON.stringify(typed)) as Page;
  }
}

/**
 * The kubeconfig seen through a delegate whose requests ask for PartialObjectMetadata: client-node's Watch
 * takes its headers from the kubeconfig, and has no other way to be given an Accept header.
 */
export function metadataOnlyConfig(kc: K8s.KubeConfig): K8s.KubeConfig {
  const delegate = Object.create(kc) as K8s.KubeConfig;
  delegate.applyToFetchOptions = async (opts) => {
    const init = await kc.applyToFetchOptions(opts);
    const headers = init.headers as { set?: (k: string, v: string) => void } | Record<string, string> | undefined;
    if (headers !== undefined && typeof headers.set === 'function') headers.set('Accept', METADATA_WATCH_ACCEPT);
    else init.headers = { ...(headers as Record<string, string> | undefined), Accept: METADATA_WATCH_ACCEPT };
    return init;
  };
  return delegate;
}

/**
 * The object without metadata.managedFields (server-side apply's bookkeeping, often the larger part of an
 * object): nothing in Weft reads it, and informers hold every object of their collection.
 */
export function withoutManagedFields<T extends KubeObject>(obj: T): T {
  const meta = obj.metadata as (KubeObject['metadata'] & { managedFields?: unknown }) | undefined;
  if (meta?.managedFields === undefined) return obj;
  const { managedFields: _dropped, ...rest } = meta;
  return { ...obj, metadata: rest };
}
