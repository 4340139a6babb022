/**
 * Proxy kind "grpc": proxyless gRPC clients and xDS-enabled gRPC servers, served as derivations on the
 * core engine. Two levels, as for every adapter: a per-proxy root that only finds the proxy's shape and a
 * shared set per shape, so workloads alike share every set and every resource in it.
 */
import {
  TypeUrl,
  meshServices,
  retryFor,
  type BootstrapServer,
  type DerivationSpec,
  type EncodedResource,
  type Logger,
  type ProxyAdapter,
  type ProxyIdentity,
  type Reader,
  type ResourceSet,
} from '@weft/core';
import { grpcBootstrap, type BootstrapOptions } from './bootstrap.js';
import { clientCluster, clientListeners, clientRoutes, loadAssignment } from './client.js';
import { grpcPorts, proxyShape, shapeId, type ProxyShape } from './mesh.js';
import { DEFAULT_CERT_PROVIDER, SERVER_LISTENER_TEMPLATE } from './names.js';
import { proxyNotices, type Notice } from './notices.js';
import { hashSet, toSet } from './proto.js';
import { serverListener, serverRoutes } from './server.js';

/** What a gRPC workload asks for, in the order they are added (CDS -> EDS -> LDS -> RDS). */
export const GRPC_TYPE_URLS: readonly string[] = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration];

export interface GrpcAdapterOptions {
  /** mTLS between workloads through certificate provider instances (default true). */
  readonly mtls?: boolean;
  /** Certificate provider instance name in the workloads' bootstrap (default "weft-mesh"). */
  readonly certProvider?: string;
  /** server_listener_resource_name_template of the workloads' bootstrap. */
  readonly serverListenerTemplate?: string;
  /** Where policies gRPC cannot carry out are reported; without one they are only kept for `notices()`. */
  readonly logger?: Logger;
  /** Defaults for generated bootstraps (certificate file locations). */
  readonly bootstrap?: Partial<BootstrapOptions>;
}

const SHORT: Readonly<Record<string, string>> = {
  [TypeUrl.Listener]: 'lds',
  [TypeUrl.RouteConfiguration]: 'rds',
  [TypeUrl.Cluster]: 'cds',
  [TypeUrl.ClusterLoadAssignment]: 'eds',
};

type Settings = Required<Omit<GrpcAdapterOptions, 'logger' | 'bootstrap'>>;

function servicePorts(r: Reader): [string, number][] {
  const out: [string, number][] = [];
  for (const svc of r.derive(meshServices)) for (const p of r.derive(grpcPorts(svc))) out.push([svc, p.port]);
  return out;
}

function clientClusters(s: Settings): DerivationSpec<ResourceSet> {
  return {
    id: `grpc/set/cds${s.mtls ? `#mtls:${s.certProvider}` : ''}`,
    hash: hashSet,
    compute: (r) => toSet(servicePorts(r).map(([svc, port]) => r.derive(clientCluster(svc, port, { mtls: s.mtls, certProvider: s.certProvider })))),
  };
}

const clientAssignments: DerivationSpec<ResourceSet> = {
  id: 'grpc/set/eds',
  hash: hashSet,
  compute: (r) => toSet(servicePorts(r).map(([svc, port]) => r.derive(loadAssignment(svc, port)))),
};

const clientListenerSet: DerivationSpec<ResourceSet> = {
  id: 'grpc/set/lds-client',
  hash: hashSet,
  compute: (r) => toSet(r.derive(meshServices).flatMap((svc) => [...r.derive(clientListeners(svc))])),
};

function listenerSet(shape: ProxyShape, s: Settings): DerivationSpec<ResourceSet> {
  return {
    id: `grpc/set/lds@${shapeId(shape)}#${s.mtls ? s.certProvider : 'plaintext'}#${s.serverListenerTemplate}`,
    hash: hashSet,
    compute(r) {
      const servers: EncodedResource[] = shape.serverPorts.map((p) =>
        r.derive(serverListener(shape.identity, p.ip, p.port, { mtls: s.mtls, certProvider: s.certProvider, listenerTemplate: s.serverListenerTemplate })),
      );
      if (servers.length === 0) return r.derive(clientListenerSet);
      return new Map([...r.derive(clientListenerSet), ...toSet(servers)]);
    },
  };
}

function routeSet(shape: ProxyShape): DerivationSpec<ResourceSet> {
  return {
    id: `grpc/set/rds@${shapeId(shape)}`,
    hash: hashSet,
    compute(r) {
      const client = servicePorts(r).map(([svc, port]) => {
        const retry = retryFor(r, shape.identity, svc);
        return r.derive(clientRoutes(svc, port, retry === null ? null : `${retry.meta.namespace}/${retry.meta.name}`));
      });
      const ports = [...new Set(shape.serverPorts.map((p) => p.port))].sort((a, b) => a - b);
      return toSet([...client, ...ports.map((p) => r.derive(serverRoutes(shape.identity, p)))]);
    },
  };
}

export class GrpcAdapter implements ProxyAdapter {
  readonly kind = 'grpc';
  readonly typeUrls = GRPC_TYPE_URLS;
  private readonly settings: Settings;
  private readonly logger: Logger | undefined;
  private readonly bootstrapDefaults: Partial<BootstrapOptions>;
  /** proxy uuid -> notice keys already reported, so each policy version is reported once per proxy. */
  private readonly reported = new Map<string, Set<string>>();
  private readonly latest = new Map<string, readonly Notice[]>();

  constructor(options: GrpcAdapterOptions = {}) {
    this.settings = {
      mtls: options.mtls ?? true,
      certProvider: options.certProvider ?? DEFAULT_CERT_PROVIDER,
      serverListenerTemplate: options.serverListenerTemplate ?? SERVER_LISTENER_TEMPLATE,
    };
    this.logger = options.logger;
    this.bootstrapDefaults = options.bootstrap ?? {};
  }

  resources(proxy: ProxyIdentity, typeUrl: string): DerivationSpec<ResourceSet> {
    const short = SHORT[typeUrl];
    if (short === undefined) throw new TypeError(`the grpc adapter does not serve ${typeUrl}; it serves ${GRPC_TYPE_URLS.join(', ')}`);
    const s = this.settings;
    return {
      id: `grpc/proxy-set/${short}/${proxy.uuid}@${proxy.namespace}/${proxy.serviceAccount}`,
      hash: hashSet,
      compute: (r) => {
        const shape = r.derive(proxyShape(proxy));
        switch (typeUrl) {
          case TypeUrl.Listener:
            // Notices ride on the listener root: every gRPC workload asks for listeners, once per proxy.
            this.report(proxy, r.derive(proxyNotices(shape)));
            return r.derive(listenerSet(shape, s));
          case TypeUrl.RouteConfiguration:
            return r.derive(routeSet(shape));
          case TypeUrl.Cluster:
            return r.derive(clientClusters(s));
          default:
            return r.derive(clientAssignments);
        }
      },
    };
  }

  bootstrap(proxy: ProxyIdentity, server: BootstrapServer): unknown {
    return grpcBootstrap(proxy, server, {
      ...this.bootstrapDefaults,
      certProvider: this.settings.certProvider,
      serverListenerTemplate: this.settings.serverListenerTemplate,
      mtls: this.settings.mtls,
    });
  }

  /** The policies the proxy's workload cannot carry out, as last computed. */
  notices(proxyUuid: string): readonly Notice[] {
    return this.latest.get(proxyUuid) ?? [];
  }

  private report(proxy: ProxyIdentity, notices: readonly Notice[]): void {
    this.latest.set(proxy.uuid, notices);
    const seen = this.reported.get(proxy.uuid) ?? new Set<string>();
    this.reported.set(proxy.uuid, seen);
    for (const n of notices) {
      const key = `${n.policy}\u0000${n.version}\u0000${n.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      this.logger?.warn('policy not supported by proxyless gRPC', {
        policy: n.policy,
        proxy: `${proxy.uuid} (${proxy.namespace}/${proxy.serviceAccount})`,
        kind: proxy.kind,
        detail: n.message,
      });
    }
  }
}
