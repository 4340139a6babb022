/**
 * @weft/plugin-injector: the sidecar injector, a mutating admission webhook that gives pods of the mesh
 * an Envoy sidecar, its iptables init container and its bootstrap certificate (OSM's injector, for Weft).
 */
import * as path from 'node:path';
import type { DependencyContainer } from 'tsyringe';
import { PLUGIN_API_VERSION, Tokens, type PluginContext, type ResourceSource, type WeftPlugin } from '@weft/core';
import { validateInjectorConfig, type InjectorConfig } from './config.js';
import { InjectorSource } from './source.js';

export { validateInjectorConfig, parseHostPort, type InjectorConfig } from './config.js';
export {
  ADMISSION_API_VERSION,
  AdmissionReviewError,
  admissionDenied,
  admissionResponse,
  checkPod,
  parseAdmissionReview,
  type AdmissionRequest,
} from './admission.js';
export {
  BOOTSTRAP_FILE,
  buildPodPatch,
  buildProxySecret,
  buildWebhookConfiguration,
  DEFAULT_INJECTION_OPTIONS,
  healthcheckContainer,
  HEALTHCHECK_PATH,
  INBOUND_PORT_EXCLUSION_ANNOTATION,
  initContainer,
  injectionDecision,
  iptablesScript,
  LIVENESS_PROBE_PATH,
  meshConfigExclusions,
  metaOf,
  NO_EXCLUSIONS,
  ORIGINAL_TCP_PORT_HEADER,
  OUTBOUND_IP_RANGE_EXCLUSION_ANNOTATION,
  OUTBOUND_PORT_EXCLUSION_ANNOTATION,
  planPodInjection,
  PodInjectionError,
  READINESS_PROBE_PATH,
  STARTUP_PROBE_PATH,
  trafficExclusions,
  pointerToken,
  PROXY_VOLUME,
  proxySecretName,
  proxyTlsFiles,
  proxyVolume,
  sidecarContainer,
  SIDECAR_INJECTION_KEY,
  type InjectionDecision,
  type InjectionOptions,
  type IptablesOptions,
  type JsonPatchOperation,
  type PodInjection,
  type TrafficExclusions,
  type ObjectMetaView,
  type ProxySecretInput,
  type WebhookRegistration,
} from './patch.js';
export { SidecarInjector, type Admitted, type SidecarInjectorOptions } from './injector.js';
export { MESH_CONFIG_RESOURCE, meshConfigReader, pickMeshConfig, type MeshConfigLister } from './meshconfig.js';
export { KubernetesApiError } from '@weft/kube-client';
export {
  ClusterKube,
  connectInjectorKube,
  type InjectorKube,
  type MetadataCollection,
  type MetadataList,
  type ObjectMetadata,
  type PodInformer,
  type PodInformerOptions,
} from './cluster.js';
export { injectorSecretUuid, SecretCollector, type SecretCollectorOptions, type SweepResult } from './gc.js';
export { WebhookServer, type ServingCertificate, type WebhookServerOptions } from './server.js';
export { InjectorSource, servingNames, type InjectorSourceOptions } from './source.js';

const plugin: WeftPlugin<InjectorConfig> = {
  name: 'sidecar-injector',
  apiVersion: PLUGIN_API_VERSION,
  validateConfig: validateInjectorConfig,
  register(container: DependencyContainer, config: InjectorConfig, context: PluginContext): void {
    // A relative kubeconfig is relative to weft.yaml, like every path in it.
    const resolved = config.kubeconfig === undefined ? config : { ...config, kubeconfig: path.resolve(context.configDir, config.kubeconfig) };
    const source = new InjectorSource({ config: resolved, container, trustDomain: context.trustDomain, logger: context.logger });
    container.register<ResourceSource>(Tokens.ResourceSource, { useValue: source });
  },
};

export default plugin;
export { plugin };
