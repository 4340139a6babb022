/**
 * The Envoy bootstrap for a sidecar: node id = proxy uuid, ADS over mTLS to Weft (client certificate from
 * files mounted in the pod, so the bootstrap needs no SDS), admin on localhost only.
 */
import type { BootstrapOptions, BootstrapServer, ProxyIdentity, envoy } from '@weft/core';
import { ADMIN_PORT, ADS_CLUSTER } from './names.js';
import { probeResources } from './probes.js';
import { T, jsonAnyOf, jsonFilter, type ProtoJson } from './proto.js';

// Envoy reads the bootstrap as proto3 JSON (a Duration as "1s"), so it is typed in that form.
/** The Envoy bootstrap, in the proto3 JSON form `weft bootstrap` writes. */
export type EnvoyBootstrap = ProtoJson<envoy.config.bootstrap.v3.Bootstrap>;
type Cluster = ProtoJson<envoy.config.cluster.v3.Cluster>;
type StaticResources = ProtoJson<envoy.config.bootstrap.v3.Bootstrap.StaticResources>;

const ADS_CONFIG: ProtoJson<envoy.config.core.v3.ConfigSource> = { ads: {}, resourceApiVersion: 'V3' };

export function envoyBootstrap(proxy: ProxyIdentity, server: BootstrapServer, options: BootstrapOptions = {}): EnvoyBootstrap {
  const cluster: Cluster = {
    name: ADS_CLUSTER,
    type: 'LOGICAL_DNS',
    connectTimeout: '1s',
    lbPolicy: 'ROUND_ROBIN',
    typedExtensionProtocolOptions: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': jsonAnyOf(T.HttpProtocolOptions, {
        explicitHttpConfig: { http2ProtocolOptions: {} },
      }),
    },
    loadAssignment: {
      clusterName: ADS_CLUSTER,
      endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: server.host, portValue: server.port } } } }] }],
    },
  };
  if (server.tls !== undefined) {
    cluster.transportSocket = jsonFilter('envoy.transport_sockets.tls', T.UpstreamTls, {
      commonTlsContext: {
        alpnProtocols: ['h2'],
        tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_2', tlsMaximumProtocolVersion: 'TLSv1_3' },
        tlsCertificates: [{ certificateChain: { filename: server.tls.certFile }, privateKey: { filename: server.tls.keyFile } }],
        validationContext: { trustedCa: { filename: server.tls.caFile } },
      },
    });
  }
  return {
    node: { id: proxy.uuid, cluster: `${proxy.serviceAccount}.${proxy.namespace}` },
    admin: { address: { socketAddress: { address: '127.0.0.1', portValue: ADMIN_PORT } } },
    dynamicResources: {
      adsConfig: { apiType: 'GRPC', transportApiVersion: 'V3', grpcServices: [{ envoyGrpc: { clusterName: ADS_CLUSTER } }], setNodeOnFirstMessageOnly: true },
      cdsConfig: ADS_CONFIG,
      ldsConfig: ADS_CONFIG,
    },
    staticResources: probeStatics(cluster, options),
  };
}

/** The ADS cluster, and the pod's probe listeners and clusters when the injector rewrote probes (probes.ts). */
function probeStatics(ads: Cluster, options: BootstrapOptions): StaticResources {
  const probes = probeResources(options.healthProbes ?? []);
  return probes.listeners.length === 0 ? { clusters: [ads] } : { listeners: probes.listeners, clusters: [ads, ...probes.clusters] };
}
