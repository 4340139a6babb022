/**
 * @weft/kube-client: the one Kubernetes API client of Weft's Kubernetes plugins (the source, the injector),
 * on @kubernetes/client-node. A library, not a plugin: it registers nothing and depends only on @weft/core.
 */
export {
  collectionPath,
  connectKubernetes,
  KubeClient,
  METADATA_LIST_ACCEPT,
  METADATA_WATCH_ACCEPT,
  withoutManagedFields,
  type ConnectOptions,
  type KubeObject,
  type ListOptions,
  type ObjectList,
  type ResourceType,
  type WatchOptions,
} from './client.js';
export { isRetriableStatus, KubernetesApiError, toKubernetesApiError } from './errors.js';
export { ResourceInformer, type InformerHandlers, type InformerOptions } from './informer.js';
