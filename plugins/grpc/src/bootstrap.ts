/**
 * The gRPC xDS bootstrap (the file GRPC_XDS_BOOTSTRAP names) for a workload: where Weft's ADS server is,
 * who the workload is, the server listener name template, and the file_watcher certificate provider the
 * TLS contexts Weft sends refer to.
 */
import * as path from 'node:path';
import type { BootstrapServer, ProxyIdentity } from '@weft/core';
import { DEFAULT_CERT_PROVIDER, SERVER_LISTENER_TEMPLATE, hostPort } from './names.js';

export interface BootstrapOptions {
  /** Directory the workload's certificate files are in, as the workload sees it. */
  readonly certDir: string;
  /** How often the workload re-reads its certificate files (a duration string, e.g. "10s"). */
  readonly refreshInterval: string;
  readonly certProvider: string;
  readonly serverListenerTemplate: string;
  readonly mtls: boolean;
}

/** Names of the files in the certificate directory. */
export const CERT_FILES = { cert: 'cert.pem', key: 'key.pem', ca: 'ca.pem' } as const;

export const DEFAULT_BOOTSTRAP: BootstrapOptions = {
  certDir: '/var/run/weft/certs',
  refreshInterval: '10s',
  certProvider: DEFAULT_CERT_PROVIDER,
  serverListenerTemplate: SERVER_LISTENER_TEMPLATE,
  mtls: true,
};

export interface GrpcBootstrap {
  xds_servers: { server_uri: string; channel_creds: { type: string; config?: Record<string, string> }[]; server_features: string[] }[];
  node: { id: string; cluster: string; locality: Record<string, string>; metadata: Record<string, string> };
  server_listener_resource_name_template: string;
  certificate_providers?: Record<string, { plugin_name: 'file_watcher'; config: Record<string, string> }>;
}

export function grpcBootstrap(proxy: ProxyIdentity, server: BootstrapServer, options: Partial<BootstrapOptions> = {}): GrpcBootstrap {
  const o = { ...DEFAULT_BOOTSTRAP, ...options };
  // ADS over TLS is the "tls" channel credential of gRFC A65 (grpc-go, grpc-java, C++). grpc-js-xds 1.14
  // knows only "insecure" and "google_default", so Node workloads need Weft's ADS in insecure mode.
  const channelCreds =
    server.tls === undefined
      ? [{ type: 'insecure' }]
      : [{ type: 'tls', config: { ca_certificate_file: server.tls.caFile, certificate_file: server.tls.certFile, private_key_file: server.tls.keyFile } }];
  const out: GrpcBootstrap = {
    xds_servers: [{ server_uri: hostPort(server.host, server.port), channel_creds: channelCreds, server_features: [] }],
    node: {
      id: proxy.uuid,
      cluster: `${proxy.serviceAccount}.${proxy.namespace}`,
      // grpc-js-xds needs a locality object, even an empty one, or every RPC fails with an unrelated error.
      locality: {},
      metadata: { kind: proxy.kind, serviceAccount: proxy.serviceAccount, namespace: proxy.namespace },
    },
    server_listener_resource_name_template: o.serverListenerTemplate,
  };
  if (o.mtls) {
    out.certificate_providers = {
      [o.certProvider]: {
        plugin_name: 'file_watcher',
        config: {
          certificate_file: path.posix.join(o.certDir, CERT_FILES.cert),
          private_key_file: path.posix.join(o.certDir, CERT_FILES.key),
          ca_certificate_file: path.posix.join(o.certDir, CERT_FILES.ca),
          refresh_interval: o.refreshInterval,
        },
      },
    };
  }
  return out;
}
