/**
 * A proxy's resources of one type. Two levels: a per-proxy derivation that only finds the proxy's shape
 * (identity, services, scraping) and a shared one per shape that assembles the set, so replicas of a
 * workload share the set as well as every resource in it.
 */
import { TypeUrl, meshSettings, type DerivationSpec, type EncodedResource, type ProxyIdentity, type ProxyViews, type Reader, type ResourceSet } from '@weft/core';
import { egressCluster, localCluster, metricsCluster, passthroughCluster, upstreamCluster } from './clusters.js';
import { loadAssignment } from './endpoints.js';
import { memoByString, memoByValue } from './memo.js';
import { inboundListener, outboundListener, prometheusListener } from './listeners.js';
import { inboundPorts, proxyShape, shapeId, type ProxyShape } from './mesh.js';
import { egressPlan, ingressRules, isHttp, outboundPlan, planClusters, type ClusterRef, type OutboundEntry } from './plan.js';
import { hashSet, toSet } from './proto.js';
import { egressRoutes, inboundRoutes, ingressRoutes, outboundRoutes } from './routes.js';
import { rootInboundOsmSecret, rootInboundSecret, rootOutboundSecret, serviceCertSecret } from './secrets.js';

type Build = (r: Reader, shape: ProxyShape) => (EncodedResource | null)[];

/** [service, target port] of every inbound chain (HTTP ones only with httpOnly): see `inboundPorts`. */
function inboundTargetPorts(r: Reader, services: readonly string[], httpOnly: boolean): [string, number][] {
  return services.flatMap((svc) => inboundPorts(r, svc).filter((p) => !httpOnly || isHttp(p.protocol)).map((p): [string, number] => [svc, p.targetPort]));
}

const sortedUnique = (xs: Iterable<number>): number[] => [...new Set(xs)].sort((a, b) => a - b);

/**
 * A plan's clusters, by plan value. Every set rebuild of a shape whose plan did not change (an endpoint
 * change rebuilds the EDS set of every caller) would otherwise sort the same clusters again.
 */
const clustersOf = memoByValue((plan: readonly OutboundEntry[]): readonly ClusterRef[] => planClusters(plan));

/** The load assignment derivations of a plan for one caller, kept with the plan so their ids are built once. */
const assignmentSpecsOf = memoByValue((plan: readonly OutboundEntry[]) =>
  memoByString((caller): readonly DerivationSpec<EncodedResource | null>[] => clustersOf(plan).map((c) => loadAssignment(c.svc, c.targetPort, caller))),
);

/**
 * The plan derivations of a shape, kept with the shape value: every rebuild of a shape's set (an endpoint
 * change rebuilds the EDS set of every caller) would otherwise build their ids again to find the same ones.
 */
const plansOf = memoByValue((s: ProxyShape) => ({ outbound: outboundPlan(s.identity), egress: egressPlan(s.identity) }));

const builders: Record<string, Build> = {
  [TypeUrl.Listener]: (r, s) => [
    r.derive(outboundListener(s.identity)),
    s.workload === null ? null : r.derive(inboundListener(s.identity, s.services)),
    s.prometheus ? r.derive(prometheusListener) : null,
  ],
  [TypeUrl.RouteConfiguration]: (r, s) => {
    const plan = r.derive(plansOf(s).outbound);
    const egress = r.derive(plansOf(s).egress);
    const outbound = sortedUnique(plan.filter((e) => isHttp(e.protocol)).map((e) => e.port)).map((p) => r.derive(outboundRoutes(s.identity, p)));
    const inbound = sortedUnique(inboundTargetPorts(r, s.services, true).map(([, p]) => p)).map((p) => r.derive(inboundRoutes(s.identity, s.services, p)));
    const ingress = sortedUnique(s.services.flatMap((svc) => r.derive(ingressRules(svc)).map((x) => x.port))).map((p) => r.derive(ingressRoutes(s.services, p)));
    const egressHttp = egress.http.map((h) => r.derive(egressRoutes(s.identity, h.port)));
    return [...outbound, ...inbound, ...ingress, ...egressHttp];
  },
  [TypeUrl.Cluster]: (r, s) => {
    const egress = r.derive(plansOf(s).egress);
    return [
      ...clustersOf(r.derive(plansOf(s).outbound)).map((c) => r.derive(upstreamCluster(c.svc, c.targetPort, s.identity))),
      ...inboundTargetPorts(r, s.services, false).map(([svc, p]) => r.derive(localCluster(svc, p))),
      egress.passthrough || egress.cidr.length > 0 ? r.derive(passthroughCluster) : null,
      ...egress.http.flatMap((h) => h.hosts.map((host) => r.derive(egressCluster(host, h.port)))),
      ...egress.sni.map((x) => r.derive(egressCluster(x.host, x.port))),
      s.prometheus ? r.derive(metricsCluster) : null,
    ];
  },
  [TypeUrl.ClusterLoadAssignment]: (r, s) => {
    const caller = r.derive(meshSettings).permissive ? '*' : s.identity;
    return assignmentSpecsOf(r.derive(plansOf(s).outbound))(caller).map((spec) => r.derive(spec));
  },
  [TypeUrl.Secret]: (r, s) => [
    r.derive(serviceCertSecret(s.identity)),
    r.derive(rootInboundSecret),
    r.derive(rootInboundOsmSecret(s.identity)),
    ...[...new Set(clustersOf(r.derive(plansOf(s).outbound)).map((c) => c.svc))].map((svc) => r.derive(rootOutboundSecret(svc))),
  ],
};

export const TYPE_SHORT: Readonly<Record<string, string>> = {
  [TypeUrl.Listener]: 'lds',
  [TypeUrl.RouteConfiguration]: 'rds',
  [TypeUrl.Cluster]: 'cds',
  [TypeUrl.ClusterLoadAssignment]: 'eds',
  [TypeUrl.Secret]: 'sds',
};

function sharedSet(typeUrl: string, shape: ProxyShape, build: Build): DerivationSpec<ResourceSet> {
  return {
    id: `envoy/set/${TYPE_SHORT[typeUrl] ?? typeUrl}@${shapeId(shape)}`,
    hash: hashSet,
    compute: (r) => toSet(build(r, shape)),
  };
}

/**
 * The shared set derivations of a shape, by shape value and type: every proxy root of the shape asks again
 * whenever its set changes (an endpoint change asks once per calling proxy), and the shape's id is the
 * same string each time.
 */
const sharedSetsOf = memoByValue((shape: ProxyShape) => memoByString((typeUrl) => sharedSet(typeUrl, shape, builders[typeUrl] as Build)));

export function isServedType(typeUrl: string): boolean {
  return builders[typeUrl] !== undefined;
}

/** The per-proxy root a proxy actor holds for one type. */
export function proxySet(proxy: ProxyIdentity, typeUrl: string): DerivationSpec<ResourceSet> {
  const build = builders[typeUrl];
  // Built once with the root: a recompute (every change to the proxy's set) would otherwise build the shape's
  // id again and hash it to find the same derivation.
  const shape = proxyShape(proxy);
  return {
    id: `envoy/proxy-set/${TYPE_SHORT[typeUrl] ?? typeUrl}/${proxy.uuid}@${proxy.namespace}/${proxy.serviceAccount}`,
    hash: hashSet,
    compute(r) {
      if (build === undefined) return new Map();
      return r.derive(sharedSetsOf(r.derive(shape))(typeUrl));
    },
  };
}

/** A shape's sets for every served type, by shape value: the proxies of a shape all name the same ones. */
const viewsOf = memoByValue((shape: ProxyShape): ProxyViews => new Map(Object.keys(builders).map((t) => [t, sharedSetsOf(shape)(t)] as const)));

/** The shared sets' ids, one per line: the views change exactly when one of them does. */
const viewsHash = (views: ProxyViews): string => [...views.values()].map((spec) => spec.id).join('\n');

/**
 * The per-proxy root the ADS server holds instead of one per type: which shared set serves each type, found
 * from the proxy's shape. An endpoint change then recomputes each affected shared set once, and no proxy's
 * own derivation runs; only a change to the proxy's shape (its workload's services, its scraping) does.
 */
export function proxyViews(proxy: ProxyIdentity): DerivationSpec<ProxyViews> {
  const shape = proxyShape(proxy);
  return {
    id: `envoy/proxy-views/${proxy.uuid}@${proxy.namespace}/${proxy.serviceAccount}`,
    hash: viewsHash,
    compute: (r) => viewsOf(r.derive(shape)),
  };
}
