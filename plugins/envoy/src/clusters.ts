/**
 * CDS: upstream clusters (EDS over ADS, mTLS with the caller's identity), local inbound clusters, and the
 * clusters egress and metrics need.
 */
import { TypeUrl, upstreamSetting, type DerivationSpec, type EncodedResource, type TypedAny, type UpstreamTrafficSetting, type envoy } from '@weft/core';
import { servicePorts } from './mesh.js';
import {
  ADMIN_PORT,
  MESH_ALPN,
  METRICS_CLUSTER,
  PASSTHROUGH_CLUSTER,
  egressClusterName,
  localClusterName,
  rootCertOutboundName,
  serviceCertName,
  serviceFqdn,
  splitKey,
  upstreamClusterName,
} from './names.js';
import { ADS_SOURCE, T, anyOf, durationMs, encode, filter, hashResource, u32 } from './proto.js';

type Cluster = envoy.config.cluster.v3.Cluster;
type TlsParameters = envoy.extensions.transport_sockets.tls.v3.TlsParameters;
type SdsSecretConfig = envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig;
type HttpProtocolOptions = envoy.extensions.upstreams.http.v3.HttpProtocolOptions;

const DEFAULT_CONNECT_TIMEOUT_MS = 1000;
const HTTP_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

export const TLS_PARAMS: TlsParameters = { tlsMinimumProtocolVersion: 'TLSv1_2', tlsMaximumProtocolVersion: 'TLSv1_3' };

function sdsRef(name: string): SdsSecretConfig {
  return { name, sdsConfig: ADS_SOURCE };
}

/** HTTP/2 for gRPC upstreams; per-connection request limits from UpstreamTrafficSetting. */
function httpOptions(protocol: string, maxRequestsPerConnection: number | null): Record<string, TypedAny> | undefined {
  const h2 = protocol === 'grpc';
  if (!h2 && maxRequestsPerConnection === null) return undefined;
  const options: HttpProtocolOptions = { explicitHttpConfig: h2 ? { http2ProtocolOptions: {} } : { httpProtocolOptions: {} } };
  if (maxRequestsPerConnection !== null) options.commonHttpProtocolOptions = { maxRequestsPerConnection: u32(maxRequestsPerConnection) };
  return { [HTTP_OPTIONS_KEY]: anyOf(T.HttpProtocolOptions, options) };
}

function circuitBreakers(setting: UpstreamTrafficSetting | null): envoy.config.cluster.v3.CircuitBreakers | undefined {
  const tcp = setting?.connectionSettings?.tcp ?? null;
  const http = setting?.connectionSettings?.http ?? null;
  const threshold: envoy.config.cluster.v3.CircuitBreakers.Thresholds = {};
  if (tcp?.maxConnections != null) threshold.maxConnections = u32(tcp.maxConnections);
  if (http?.maxRequests != null) threshold.maxRequests = u32(http.maxRequests);
  if (http?.maxPendingRequests != null) threshold.maxPendingRequests = u32(http.maxPendingRequests);
  if (http?.maxRetries != null) threshold.maxRetries = u32(http.maxRetries);
  return Object.keys(threshold).length === 0 ? undefined : { thresholds: [threshold] };
}

/**
 * `<ns>/<svc>|<targetPort>` as seen by one calling identity: the client certificate in its TLS context is
 * the caller's, so the id carries the caller; every proxy of that identity shares it.
 */
export function upstreamCluster(svcKey: string, targetPort: number, caller: string): DerivationSpec<EncodedResource | null> {
  return {
    id: `envoy/cluster/${svcKey}|${targetPort}@${caller}`,
    hash: hashResource,
    compute(r) {
      const port = r.derive(servicePorts(svcKey)).find((p) => p.targetPort === targetPort);
      if (port === undefined) return null;
      const [ns, svc] = splitKey(svcKey);
      const [callerNs, callerSa] = splitKey(caller);
      const setting = r.derive(upstreamSetting(svcKey));
      const tls: envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext = {
        commonTlsContext: {
          alpnProtocols: [MESH_ALPN],
          tlsParams: TLS_PARAMS,
          tlsCertificateSdsSecretConfigs: [sdsRef(serviceCertName(callerNs, callerSa))],
          validationContextSdsSecretConfig: sdsRef(rootCertOutboundName(ns, svc)),
        },
        sni: serviceFqdn(ns, svc),
      };
      const name = upstreamClusterName(ns, svc, targetPort);
      const cluster: Cluster = {
        name,
        type: 'EDS',
        edsClusterConfig: { edsConfig: ADS_SOURCE, serviceName: name },
        connectTimeout: durationMs(setting?.connectionSettings?.tcp?.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
        lbPolicy: 'ROUND_ROBIN',
        transportSocket: filter('envoy.transport_sockets.tls', T.UpstreamTls, tls),
      };
      const breakers = circuitBreakers(setting);
      if (breakers !== undefined) cluster.circuitBreakers = breakers;
      const options = httpOptions(port.protocol, setting?.connectionSettings?.http?.maxRequestsPerConnection ?? null);
      if (options !== undefined) cluster.typedExtensionProtocolOptions = options;
      return encode(TypeUrl.Cluster, name, cluster);
    },
  };
}

function staticCluster(name: string, address: string, port: number, extra: Cluster = {}): Cluster {
  return {
    name,
    type: 'STATIC',
    connectTimeout: durationMs(DEFAULT_CONNECT_TIMEOUT_MS),
    lbPolicy: 'ROUND_ROBIN',
    loadAssignment: {
      clusterName: name,
      endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address, portValue: port } } } }] }],
    },
    ...extra,
  };
}

/** `<ns>/<svc>|<targetPort>|local`: the application in the same pod, reached on localhost. */
export function localCluster(svcKey: string, targetPort: number): DerivationSpec<EncodedResource | null> {
  return {
    id: `envoy/cluster-local/${svcKey}|${targetPort}`,
    hash: hashResource,
    compute(r) {
      const port = r.derive(servicePorts(svcKey)).find((p) => p.targetPort === targetPort);
      if (port === undefined) return null;
      const [ns, svc] = splitKey(svcKey);
      const name = localClusterName(ns, svc, targetPort);
      const options = httpOptions(port.protocol, null);
      return encode(TypeUrl.Cluster, name, staticCluster(name, '127.0.0.1', targetPort, options === undefined ? {} : { typedExtensionProtocolOptions: options }));
    },
  };
}

/** Egress to wherever the application dialled (original destination). */
export const passthroughCluster: DerivationSpec<EncodedResource | null> = {
  id: 'envoy/cluster/passthrough-outbound',
  hash: hashResource,
  compute() {
    return encode(TypeUrl.Cluster, PASSTHROUGH_CLUSTER, {
      name: PASSTHROUGH_CLUSTER,
      type: 'ORIGINAL_DST',
      connectTimeout: durationMs(DEFAULT_CONNECT_TIMEOUT_MS),
      lbPolicy: 'CLUSTER_PROVIDED',
    });
  },
};

/** Envoy's own admin endpoint, for the Prometheus listener. */
export const metricsCluster: DerivationSpec<EncodedResource | null> = {
  id: 'envoy/cluster/envoy-metrics-cluster',
  hash: hashResource,
  compute() {
    return encode(TypeUrl.Cluster, METRICS_CLUSTER, staticCluster(METRICS_CLUSTER, '127.0.0.1', ADMIN_PORT));
  },
};

/** An external host named by an Egress policy, resolved by DNS. */
export function egressCluster(host: string, port: number): DerivationSpec<EncodedResource | null> {
  return {
    id: `envoy/cluster-egress/${host}:${port}`,
    hash: hashResource,
    compute() {
      const name = egressClusterName(host, port);
      return encode(TypeUrl.Cluster, name, {
        ...staticCluster(name, host, port),
        type: 'STRICT_DNS',
        dnsLookupFamily: 'V4_ONLY',
      });
    },
  };
}
