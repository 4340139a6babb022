/**
 * The Kubernetes resources the source lists and watches, and where the API serves them. Manifest kinds
 * (Pod, not Workload); core's MANIFEST_KINDS says how each one normalizes.
 */
import type { ResourceType } from '@weft/kube-client';

export { collectionPath } from '@weft/kube-client';

export interface WatchedKind extends ResourceType {
  /** The manifest kind, as in MANIFEST_KINDS (Pod, Service, TrafficSplit, ...). */
  readonly kind: string;
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  /** A CustomResourceDefinition serves it; the API may not have it (404 until the CRD is installed). */
  readonly custom: boolean;
}

const core = (kind: string, plural: string): WatchedKind => ({ kind, group: '', version: 'v1', plural, custom: false });
const crd = (kind: string, group: string, version: string, plural: string): WatchedKind => ({
  kind,
  group,
  version,
  plural,
  custom: true,
});

/** v1 Endpoints: read only when `endpointSource: endpoints` (old clusters); deprecated since Kubernetes 1.33. */
export const ENDPOINTS: WatchedKind = core('Endpoints', 'endpoints');
/** discovery.k8s.io/v1 EndpointSlices: the default; a Service's slices merge into its Endpoints resource. */
export const ENDPOINT_SLICES: WatchedKind = { kind: 'EndpointSlice', group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', custom: false };

/** Where the endpoints of Services come from. */
export type EndpointSource = 'endpointslices' | 'endpoints';

/** The kinds the source reads by default: endpoints from EndpointSlices. */
export const WATCHED_KINDS: readonly WatchedKind[] = [
  core('Namespace', 'namespaces'),
  core('ServiceAccount', 'serviceaccounts'),
  core('Service', 'services'),
  core('Pod', 'pods'),
  ENDPOINT_SLICES,
  crd('TrafficTarget', 'access.smi-spec.io', 'v1alpha3', 'traffictargets'),
  crd('HTTPRouteGroup', 'specs.smi-spec.io', 'v1alpha4', 'httproutegroups'),
  crd('TCPRoute', 'specs.smi-spec.io', 'v1alpha4', 'tcproutes'),
  crd('TrafficSplit', 'split.smi-spec.io', 'v1alpha2', 'trafficsplits'),
  crd('Egress', 'policy.openservicemesh.io', 'v1alpha1', 'egresses'),
  crd('IngressBackend', 'policy.openservicemesh.io', 'v1alpha1', 'ingressbackends'),
  crd('Retry', 'policy.openservicemesh.io', 'v1alpha1', 'retries'),
  crd('UpstreamTrafficSetting', 'policy.openservicemesh.io', 'v1alpha1', 'upstreamtrafficsettings'),
  crd('MeshConfig', 'config.openservicemesh.io', 'v1alpha2', 'meshconfigs'),
];

export const apiVersionOf = (k: WatchedKind): string => (k.group === '' ? k.version : `${k.group}/${k.version}`);

/** The kinds to read for an endpoint source: the defaults, with v1 Endpoints instead of EndpointSlices if asked. */
export function watchedKinds(endpointSource: EndpointSource): readonly WatchedKind[] {
  return endpointSource === 'endpointslices' ? WATCHED_KINDS : WATCHED_KINDS.map((k) => (k === ENDPOINT_SLICES ? ENDPOINTS : k));
}
