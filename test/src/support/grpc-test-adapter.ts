import { createHash } from 'node:crypto';
import { envoyType } from '@weft/protos';
import {
  encodeResource,
  packAny,
  TypeUrl,
  type DerivationSpec,
  type EncodedResource,
  type Endpoints,
  type ProxyAdapter,
  type ProxyIdentity,
  type Reader,
  type ResourceSet,
  type Service,
} from '@weft/core';

/**
 * A tiny proxyless-gRPC adapter for the xDS system tests: for every Service, an API listener named
 * `<svc>.<ns>` (the xds:/// target), a route configuration sending everything to one EDS cluster, the
 * cluster, and its load assignment from the Service's Endpoints. The annotation
 * `test.weft.dev/lb-policy` sets the cluster's lb_policy (MAGLEV makes grpc-js-xds NACK it).
 */

export const LB_POLICY_ANNOTATION = 'test.weft.dev/lb-policy';

/** protobufjs verify() wants enum numbers in object form. */
function enumValue(type: string, enumName: string, value: string): number {
  const n = envoyType(type).lookupEnum(enumName).values[value];
  if (n === undefined) throw new Error(`${type}.${enumName} has no value ${value}`);
  return n;
}
const V3 = (): number => enumValue('envoy.config.core.v3.ConfigSource', 'envoy.config.core.v3.ApiVersion', 'V3');

const T = {
  HCM: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  Router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
};

export const names = {
  listener: (s: { namespace: string; name: string }): string => `${s.name}.${s.namespace}`,
  route: (s: { namespace: string; name: string }): string => `rds:${s.namespace}/${s.name}`,
  cluster: (s: { namespace: string; name: string }): string => `${s.namespace}/${s.name}`,
};

type Build = (svc: Service, reader: Reader) => EncodedResource | null;

const builders: Record<string, Build> = {
  [TypeUrl.Listener]: (svc) =>
    encodeResource(TypeUrl.Listener, names.listener(svc.meta), {
      name: names.listener(svc.meta),
      apiListener: {
        apiListener: packAny(T.HCM, {
          rds: { configSource: { ads: {}, resourceApiVersion: V3() }, routeConfigName: names.route(svc.meta) },
          httpFilters: [{ name: 'router', typedConfig: packAny(T.Router, {}) }],
        }),
      },
    }),
  [TypeUrl.RouteConfiguration]: (svc) =>
    encodeResource(TypeUrl.RouteConfiguration, names.route(svc.meta), {
      name: names.route(svc.meta),
      virtualHosts: [{ name: names.listener(svc.meta), domains: ['*'], routes: [{ match: { prefix: '' }, route: { cluster: names.cluster(svc.meta) } }] }],
    }),
  [TypeUrl.Cluster]: (svc) =>
    encodeResource(TypeUrl.Cluster, names.cluster(svc.meta), {
      name: names.cluster(svc.meta),
      type: enumValue('envoy.config.cluster.v3.Cluster', 'DiscoveryType', 'EDS'),
      edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: V3() }, serviceName: names.cluster(svc.meta) },
      lbPolicy: enumValue('envoy.config.cluster.v3.Cluster', 'LbPolicy', svc.meta.annotations[LB_POLICY_ANNOTATION] ?? 'ROUND_ROBIN'),
    }),
  [TypeUrl.ClusterLoadAssignment]: (svc, reader) => {
    const eps = reader.get('Endpoints', `${svc.meta.namespace}/${svc.meta.name}`);
    return encodeResource(TypeUrl.ClusterLoadAssignment, names.cluster(svc.meta), {
      clusterName: names.cluster(svc.meta),
      endpoints: [
        {
          locality: { region: 'test' },
          loadBalancingWeight: { value: 1 },
          lbEndpoints: lbEndpoints(eps),
        },
      ],
    });
  },
};

function lbEndpoints(eps: Endpoints | undefined): object[] {
  const out: object[] = [];
  for (const subset of eps?.subsets ?? []) {
    for (const a of subset.addresses) {
      for (const p of subset.ports) out.push({ endpoint: { address: { socketAddress: { address: a.ip, portValue: p.port } } } });
    }
  }
  return out;
}

const resourceHash = (r: EncodedResource | null): string => r?.version ?? 'absent';

/** One service's resource of a type (null without the Service): shared by every set that holds it. */
export function perService(typeUrl: string, key: string): DerivationSpec<EncodedResource | null> {
  return {
    id: `grpc-test/${typeUrl.split('.').pop() ?? typeUrl}/${key}`,
    compute: (reader) => {
      const svc = reader.get('Service', key);
      return svc === undefined ? null : builders[typeUrl]!(svc, reader);
    },
    hash: resourceHash,
  };
}

export function setHash(set: ResourceSet): string {
  const h = createHash('sha256');
  for (const [name, r] of set) h.update(name).update('\0').update(r.version).update('\n');
  return h.digest('hex').slice(0, 16);
}

/** Counts computations per type so tests can check that work follows the change. */
export const computeCounts = new Map<string, number>();

function perType(typeUrl: string): DerivationSpec<ResourceSet> {
  return {
    id: `grpc-test/${typeUrl.split('.').pop() ?? typeUrl}`,
    compute: (reader) => {
      computeCounts.set(typeUrl, (computeCounts.get(typeUrl) ?? 0) + 1);
      const out = new Map<string, EncodedResource>();
      for (const svc of reader.list('Service')) {
        const r = reader.derive(perService(typeUrl, `${svc.meta.namespace}/${svc.meta.name}`));
        if (r !== null) out.set(r.name, r);
      }
      return out;
    },
    hash: setHash,
  };
}

export function grpcTestAdapter(kind = 'grpc'): ProxyAdapter {
  const typeUrls: string[] = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration];
  const specs = new Map(typeUrls.map((t) => [t, perType(t)]));
  return {
    kind,
    typeUrls,
    resources(_proxy: ProxyIdentity, typeUrl: string): DerivationSpec<ResourceSet> {
      const spec = specs.get(typeUrl);
      if (spec === undefined) throw new Error(`grpc test adapter serves no ${typeUrl}`);
      return spec;
    },
  };
}

/** Normalized bodies for the events the tests append. */
export function serviceBody(namespace: string, name: string, annotations: Record<string, string> = {}): Service {
  return {
    meta: { namespace, name, labels: {}, annotations },
    ports: [{ name: 'grpc', port: 50051, targetPort: 50051, protocol: 'TCP', appProtocol: 'grpc' }],
    selector: null,
    clusterIP: null,
  };
}

/** The event that upserts Service demo/<name> (with annotations). */
export function serviceEvent(name: string, annotations: Record<string, string> = {}) {
  return { source: 'test', op: 'upsert' as const, kind: 'Service' as const, key: `demo/${name}`, body: serviceBody('demo', name, annotations) };
}

/** The event that sets demo/<name>'s Endpoints to one address on 127.0.0.1 (the xDS tests' endpoint change). */
export function endpointsEvent(name: string, port: number) {
  return {
    source: 'test',
    op: 'upsert' as const,
    kind: 'Endpoints' as const,
    key: `demo/${name}`,
    body: endpointsBody('demo', name, [{ ip: '127.0.0.1', port }]),
  };
}

export function endpointsBody(namespace: string, name: string, addrs: readonly { ip: string; port: number }[]): Endpoints {
  return {
    meta: { namespace, name, labels: {}, annotations: {} },
    subsets: addrs.map((a) => ({
      addresses: [{ ip: a.ip, workload: null }],
      ports: [{ name: 'grpc', port: a.port, protocol: 'TCP', appProtocol: 'grpc' }],
    })),
  };
}
