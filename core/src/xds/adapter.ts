import type { DerivationSpec } from '../derive/types.js';
import type { SecretOwner } from './secrets.js';

/** Envoy v3 type URLs Weft serves. */
export const TypeUrl = {
  Listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  RouteConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ClusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  Secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;
export type KnownTypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/** Order in which types are sent when adding (CDS -> EDS -> LDS -> RDS; SDS first so TLS contexts resolve). */
export const ADD_ORDER: readonly string[] = [
  TypeUrl.Secret,
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
];

/** One resource version, encoded once, whose bytes every stream that sends it shares. */
export interface EncodedResource {
  readonly name: string;
  readonly typeUrl: string;
  /** Content hash of the encoded bytes; the delta-xDS resource version. */
  readonly version: string;
  /** The encoded google.protobuf.Any (type_url + value), ready to be spliced into a response. */
  readonly any: Uint8Array;
  /**
   * The resource as a plain object (proto3 JSON names) for config dumps, golden files and replay.
   * Key material is replaced by fingerprints here; only `any` carries it.
   */
  readonly dump: unknown;
}

/** A proxy's resources of one type, by resource name. */
export type ResourceSet = ReadonlyMap<string, EncodedResource>;

/** For each type a proxy is served, the derivation of its set: see `ProxyAdapter.views`. */
export type ProxyViews = ReadonlyMap<string, DerivationSpec<ResourceSet>>;

/** Who a connected proxy is, from its client certificate (or, in insecure mode, its node metadata). */
export interface ProxyIdentity {
  /** Node id; the `osm-proxy-uuid` label of its workload. */
  readonly uuid: string;
  /** Proxy kind: selects the adapter ("envoy", "grpc", ...). */
  readonly kind: string;
  readonly serviceAccount: string;
  readonly namespace: string;
  readonly trustDomain: string;
}

/**
 * A proxy kind. Resource sets are derivations: pure, memoized, shared by id across proxies that need the
 * same thing, so the engine re-runs only what an event touched.
 */
export interface ProxyAdapter {
  readonly kind: string;
  /** Types this proxy kind is served, in ADD_ORDER terms. */
  readonly typeUrls: readonly string[];
  /** The full set of resources of one type the proxy may receive (subscriptions filter it further). */
  resources(proxy: ProxyIdentity, typeUrl: string): DerivationSpec<ResourceSet>;
  /**
   * Optional, for kinds whose proxies share their sets (replicas of a workload): the one per-proxy part of
   * `resources`, a derivation whose value names for each type the shared derivation that computes the
   * proxy's set. The ADS server then holds this derivation and the shared sets it names instead of one root
   * per proxy and type, so a change to a shared set reaches its proxies without a recompute per proxy, and a
   * proxy whose workload changes moves to other shared sets when this derivation's value changes. It must
   * agree with `resources`: for every type, the named derivation's value is the set `resources` returns.
   */
  views?(proxy: ProxyIdentity): DerivationSpec<ProxyViews>;
  /**
   * The proxy's bootstrap configuration (for `weft bootstrap`), as a plain JSON-able object, when the proxy
   * kind has one (an Envoy bootstrap, a gRPC xDS bootstrap file).
   */
  bootstrap?(proxy: ProxyIdentity, server: BootstrapServer, options?: BootstrapOptions): unknown;
  /**
   * The identity whose private key an SDS secret of this name carries, for names other than OSM's
   * `service-cert:<ns>/<sa>` (always recognised). The ADS server refuses any other identity's key secret to a
   * proxy, subscribed or in its resource set.
   */
  secretOwner?(secretName: string): SecretOwner | undefined;
}

/**
 * A pod's original health probe, as the sidecar injector found it before pointing the kubelet at the
 * sidecar (OSM's rewrite): the proxy serves it on its probe port and forwards to `port` on localhost.
 */
export interface HealthProbe {
  /** http: an httpGet probe (scheme HTTP); https: httpGet with scheme HTTPS (passed through as TCP); tcp: a tcpSocket probe. */
  readonly kind: 'http' | 'https' | 'tcp';
  /** The container port the probe targeted (named ports resolved). */
  readonly port: number;
  /** The original httpGet path ("" for https and tcp probes). */
  readonly path: string;
  /** The probe's timeoutSeconds (Kubernetes' default 1). */
  readonly timeoutSeconds: number;
}

/** The rewritten probes of one container of a pod. */
export interface ContainerHealthProbes {
  readonly container: string;
  readonly liveness?: HealthProbe;
  readonly readiness?: HealthProbe;
  readonly startup?: HealthProbe;
}

/** What a bootstrap may carry besides the proxy's identity and Weft's address. */
export interface BootstrapOptions {
  /** Original probes of the pod's containers, served by the proxy's static probe listeners (as OSM's bootstrap). */
  readonly healthProbes?: readonly ContainerHealthProbes[];
}

/** Where and how a proxy reaches Weft's ADS server, for bootstrap generation. */
export interface BootstrapServer {
  readonly host: string;
  readonly port: number;
  /** Absent in insecure mode. Paths as the proxy will see them. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
}
