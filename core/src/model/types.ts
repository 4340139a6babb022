/**
 * Typed mesh resources: the normalized form that travels on the log as an event body. Manifests
 * (Kubernetes-style YAML/JSON) are validated and normalized into these by model/validate.ts (parseManifests in model/parse.ts), so every
 * consumer (catalog, translators) reads one shape: defaults filled in, durations in milliseconds,
 * maps sorted, optional lists present as empty lists.
 *
 * Keys: namespaced kinds use "namespace/name"; cluster-scoped kinds (Namespace) use "name".
 */

export type ResourceKind =
  | 'Namespace'
  | 'Service'
  | 'Workload'
  | 'Endpoints'
  | 'ServiceAccount'
  | 'TrafficTarget'
  | 'HTTPRouteGroup'
  | 'TCPRoute'
  | 'TrafficSplit'
  | 'Egress'
  | 'IngressBackend'
  | 'Retry'
  | 'UpstreamTrafficSetting'
  | 'MeshConfig'
  /** Issuance metadata from a certificate issuer (never key material). */
  | 'CertificateIssued';

export const RESOURCE_KINDS: readonly ResourceKind[] = [
  'Namespace',
  'Service',
  'Workload',
  'Endpoints',
  'ServiceAccount',
  'TrafficTarget',
  'HTTPRouteGroup',
  'TCPRoute',
  'TrafficSplit',
  'Egress',
  'IngressBackend',
  'Retry',
  'UpstreamTrafficSetting',
  'MeshConfig',
  'CertificateIssued',
];

export interface Meta {
  /** "" for cluster-scoped kinds. */
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export type L4Protocol = 'TCP' | 'UDP' | 'SCTP';

/** Application protocols OSM understands (appProtocol / port name prefix); default "http" as in OSM. */
export type AppProtocol = 'http' | 'tcp' | 'grpc' | 'tcp-server-first' | 'https';

export interface ServicePort {
  readonly name: string;
  readonly port: number;
  /** Numeric after normalization when the manifest gave a number; a named port stays a string. */
  readonly targetPort: number | string;
  readonly protocol: L4Protocol;
  readonly appProtocol: AppProtocol;
}

export interface Service {
  readonly meta: Meta;
  readonly ports: readonly ServicePort[];
  /** null: a service without selector (endpoints managed by hand). */
  readonly selector: Readonly<Record<string, string>> | null;
  readonly clusterIP: string | null;
}

export interface ContainerPort {
  readonly name: string;
  readonly containerPort: number;
  readonly protocol: L4Protocol;
}

/** A Pod in the mesh (or any workload instance carrying a proxy). */
export interface Workload {
  readonly meta: Meta;
  readonly serviceAccount: string;
  readonly ips: readonly string[];
  readonly ports: readonly ContainerPort[];
  /** Value of the `osm-proxy-uuid` label: the proxy's node id. */
  readonly proxyUuid: string | null;
  readonly ready: boolean;
}

export interface EndpointAddress {
  readonly ip: string;
  /** The workload behind the address, as "namespace/name", when known. */
  readonly workload: string | null;
}

export interface EndpointPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: L4Protocol;
  readonly appProtocol: AppProtocol | null;
}

export interface EndpointSubset {
  readonly addresses: readonly EndpointAddress[];
  readonly ports: readonly EndpointPort[];
}

export interface Endpoints {
  readonly meta: Meta;
  readonly subsets: readonly EndpointSubset[];
}

export interface ServiceAccount {
  readonly meta: Meta;
}

export interface Namespace {
  readonly meta: Meta;
  /** Value of the label `openservicemesh.io/monitored-by`; null when the namespace is not in a mesh. */
  readonly monitoredBy: string | null;
}

/** SMI identity reference; only ServiceAccount exists in v1alpha3. */
export interface IdentityRef {
  readonly kind: 'ServiceAccount';
  readonly name: string;
  readonly namespace: string;
}

export interface TrafficTargetRule {
  readonly kind: 'HTTPRouteGroup' | 'TCPRoute';
  readonly name: string;
  /** Names of matches inside the route group; empty means all of them. */
  readonly matches: readonly string[];
}

/** access.smi-spec.io/v1alpha3 */
export interface TrafficTarget {
  readonly meta: Meta;
  readonly destination: IdentityRef;
  readonly sources: readonly IdentityRef[];
  readonly rules: readonly TrafficTargetRule[];
}

export interface HTTPMatch {
  readonly name: string;
  /** Regular expression (RE2) for the path; null means any path. */
  readonly pathRegex: string | null;
  /** Upper-case methods; ["*"] means every method. */
  readonly methods: readonly string[];
  /** Header name (lower-case) -> value regular expression. */
  readonly headers: Readonly<Record<string, string>>;
}

/** specs.smi-spec.io/v1alpha4 */
export interface HTTPRouteGroup {
  readonly meta: Meta;
  readonly matches: readonly HTTPMatch[];
}

/** specs.smi-spec.io/v1alpha4 */
export interface TCPRoute {
  readonly meta: Meta;
  /** Ports the route allows; empty means every port. */
  readonly ports: readonly number[];
}

export interface TrafficSplitBackend {
  readonly service: string;
  readonly weight: number;
}

/** split.smi-spec.io/v1alpha2 */
export interface TrafficSplit {
  readonly meta: Meta;
  /** Apex (root) service name, in the split's namespace. */
  readonly service: string;
  readonly backends: readonly TrafficSplitBackend[];
  /** HTTPRouteGroup names the split is limited to; empty means all traffic. */
  readonly matches: readonly string[];
}

export interface PortSpec {
  readonly number: number;
  readonly protocol: string;
}

/** policy.openservicemesh.io/v1alpha1 Egress */
export interface Egress {
  readonly meta: Meta;
  readonly sources: readonly IdentityRef[];
  readonly hosts: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly ports: readonly PortSpec[];
  /** HTTPRouteGroup names (apiGroup specs.smi-spec.io) limiting HTTP egress; empty = all. */
  readonly matches: readonly string[];
  /**
   * Name of the UpstreamTrafficSetting (same namespace) the Egress matches (apiGroup
   * policy.openservicemesh.io), or null. Optional only so hand-built values need not spell it; manifests
   * always produce it.
   */
  readonly upstreamTrafficSetting?: string | null;
}

export interface IngressBackendTarget {
  readonly name: string;
  readonly port: PortSpec;
  readonly tls: { readonly skipClientCertValidation: boolean; readonly sniHosts: readonly string[] } | null;
}

export interface IngressSource {
  readonly kind: 'Service' | 'IPRange' | 'AuthenticatedPrincipal';
  /** Service name, CIDR, or principal name. */
  readonly name: string;
  readonly namespace: string | null;
}

/** policy.openservicemesh.io/v1alpha1 IngressBackend */
export interface IngressBackend {
  readonly meta: Meta;
  readonly backends: readonly IngressBackendTarget[];
  readonly sources: readonly IngressSource[];
}

export interface RetryPolicySpec {
  /** Envoy retry_on string, e.g. "5xx" or "5xx,connect-failure". */
  readonly retryOn: string;
  readonly perTryTimeoutMs: number | null;
  readonly numRetries: number | null;
  readonly retryBackoffBaseIntervalMs: number | null;
}

/** policy.openservicemesh.io/v1alpha1 Retry */
export interface Retry {
  readonly meta: Meta;
  readonly source: IdentityRef;
  readonly destinations: readonly { readonly kind: 'Service'; readonly name: string; readonly namespace: string }[];
  readonly retryPolicy: RetryPolicySpec;
}

export interface LocalHttpRateLimit {
  readonly requests: number;
  readonly unit: 'second' | 'minute' | 'hour';
  readonly burst: number;
  readonly responseStatusCode: number;
  readonly responseHeadersToAdd: readonly { readonly name: string; readonly value: string }[];
}

export interface LocalTcpRateLimit {
  readonly connections: number;
  readonly unit: 'second' | 'minute' | 'hour';
  readonly burst: number;
}

/** policy.openservicemesh.io/v1alpha1 UpstreamTrafficSetting */
export interface UpstreamTrafficSetting {
  readonly meta: Meta;
  /** FQDN of the upstream service, e.g. "bookstore.bookstore.svc.cluster.local". */
  readonly host: string;
  readonly connectionSettings: {
    readonly tcp: { readonly maxConnections: number | null; readonly connectTimeoutMs: number | null } | null;
    readonly http: {
      readonly maxRequests: number | null;
      readonly maxPendingRequests: number | null;
      readonly maxRetries: number | null;
      readonly maxRequestsPerConnection: number | null;
    } | null;
  } | null;
  readonly rateLimit: { readonly tcp: LocalTcpRateLimit | null; readonly http: LocalHttpRateLimit | null } | null;
  readonly httpRoutes: readonly { readonly path: string; readonly rateLimit: LocalHttpRateLimit | null }[];
}

/** config.openservicemesh.io/v1alpha2 MeshConfig, the parts Weft reads (the rest is kept verbatim). */
export interface MeshConfig {
  readonly meta: Meta;
  readonly traffic: {
    readonly enablePermissiveTrafficPolicyMode: boolean;
    readonly enableEgress: boolean;
    readonly outboundPortExclusionList: readonly number[];
    readonly inboundPortExclusionList: readonly number[];
    readonly outboundIPRangeExclusionList: readonly string[];
  };
  readonly certificate: {
    readonly serviceCertValidityMs: number;
  };
  readonly sidecar: {
    readonly logLevel: string;
  };
  /** Trust domain for identities (default "cluster.local"). */
  readonly trustDomain: string;
}

/** Issuance metadata recorded on the log by a certificate issuer. Never a key. */
export interface CertificateIssued {
  readonly meta: Meta;
  readonly identity: string;
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** SHA-256 fingerprint of the DER certificate, hex. */
  readonly fingerprint: string;
}

export interface ResourceByKind {
  Namespace: Namespace;
  Service: Service;
  Workload: Workload;
  Endpoints: Endpoints;
  ServiceAccount: ServiceAccount;
  TrafficTarget: TrafficTarget;
  HTTPRouteGroup: HTTPRouteGroup;
  TCPRoute: TCPRoute;
  TrafficSplit: TrafficSplit;
  Egress: Egress;
  IngressBackend: IngressBackend;
  Retry: Retry;
  UpstreamTrafficSetting: UpstreamTrafficSetting;
  MeshConfig: MeshConfig;
  CertificateIssued: CertificateIssued;
}

export type ResourceOf<K extends ResourceKind> = ResourceByKind[K];
export type AnyResource = ResourceByKind[ResourceKind];

export function keyOf(meta: Pick<Meta, 'namespace' | 'name'>): string {
  return meta.namespace === '' ? meta.name : `${meta.namespace}/${meta.name}`;
}

/** OSM's trust domain default. */
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
