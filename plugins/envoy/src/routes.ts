/**
 * RDS: `rds-outbound.<port>` (per calling identity: virtual hosts of every reachable service, weighted
 * clusters for splits, retry policies), `rds-inbound.<targetPort>` (per-route RBAC from HTTPRouteGroups,
 * local rate limits), `rds-ingress.<port>` and `rds-egress.<port>`.
 */
import {
  TypeUrl,
  apexSplit,
  encodeAroundOf,
  encodeMessageOf,
  encodedResourceAroundOf,
  meshSettings,
  retryFor,
  spliceAround,
  upstreamSetting,
  type DerivationSpec,
  type EncodedAround,
  type EncodedResource,
  type LocalHttpRateLimit,
  type Reader,
  type TypedAny,
  type envoy,
} from '@weft/core';
import { memoByString } from './memo.js';
import { inboundPorts, servicePorts } from './mesh.js';
import { serviceDomains, splitKey, upstreamClusterName, localClusterName, egressClusterName, rdsOutbound, rdsInbound, rdsIngress, rdsEgress } from './names.js';
import { egressPlan, inboundPolicy, ingressRules, isHttp, outboundPlan, type HttpRule, type OutboundEntry } from './plan.js';
import { T, anyOf, durationMs, encode, hashResource, u32 } from './proto.js';
import { authenticatedRouteRbac, routeRbac } from './route-rbac.js';

type VirtualHost = envoy.config.route.v3.VirtualHost;
type Route = envoy.config.route.v3.Route;
type RouteAction = envoy.config.route.v3.RouteAction;


export const RBAC_FILTER = 'envoy.filters.http.rbac';
export const RATE_LIMIT_FILTER = 'envoy.filters.http.local_ratelimit';

function encodeRouteConfig(name: string, virtualHosts: VirtualHost[]): EncodedResource {
  return encode(TypeUrl.RouteConfiguration, name, { name, virtualHosts, validateClusters: { value: false } });
}

/** A route configuration, or none when it would have no virtual host (for names only chains with hosts use). */
function routeConfig(name: string, virtualHosts: VirtualHost[]): EncodedResource | null {
  return virtualHosts.length === 0 ? null : encodeRouteConfig(name, virtualHosts);
}

/** Weighted clusters of an apex over its reachable backends; a split whose weights add up to 0 is ignored. */
function weightedTargets(r: Reader, e: OutboundEntry): RouteAction {
  const own = upstreamClusterName(...splitKey(e.svc), e.targetPort);
  if (e.backends.length === 0) return { cluster: own };
  const weights = new Map((r.derive(apexSplit(e.svc))?.backends ?? []).map((b) => [b.service, b.weight]));
  const clusters = e.backends
    .map((b) => ({ name: upstreamClusterName(...splitKey(b.svc), b.targetPort), weight: weights.get(b.svc) ?? 0 }))
    .filter((c) => c.weight > 0);
  if (clusters.length === 0) return { cluster: own };
  return { weightedClusters: { clusters: clusters.map((c): envoy.config.route.v3.WeightedCluster.ClusterWeight => ({ name: c.name, weight: u32(c.weight) })) } };
}

function retryPolicy(r: Reader, caller: string, svc: string): envoy.config.route.v3.RetryPolicy | undefined {
  const retry = retryFor(r, caller, svc);
  if (retry === null) return undefined;
  const p = retry.retryPolicy;
  const policy: envoy.config.route.v3.RetryPolicy = { retryOn: p.retryOn };
  if (p.numRetries !== null) policy.numRetries = u32(p.numRetries);
  if (p.perTryTimeoutMs !== null) policy.perTryTimeout = durationMs(p.perTryTimeoutMs);
  if (p.retryBackoffBaseIntervalMs !== null && p.retryBackoffBaseIntervalMs > 0) policy.retryBackOff = { baseInterval: durationMs(p.retryBackoffBaseIntervalMs) };
  return policy;
}

export function outboundRoutes(caller: string, port: number): DerivationSpec<EncodedResource | null> {
  return {
    id: `envoy/rds/outbound/${port}@${caller}`,
    hash: hashResource,
    compute(r) {
      const [callerNs] = splitKey(caller);
      const vhosts: VirtualHost[] = [];
      for (const e of r.derive(outboundPlan(caller))) {
        if (e.port !== port || !isHttp(e.protocol)) continue;
        const [ns, svc] = splitKey(e.svc);
        const action: RouteAction = { ...weightedTargets(r, e) };
        const retry = retryPolicy(r, caller, e.svc);
        if (retry !== undefined) action.retryPolicy = retry;
        vhosts.push({
          name: `outbound_virtual-host|${e.svc}`,
          domains: serviceDomains(ns, svc, port, ns === callerNs),
          routes: [{ name: 'default', match: { prefix: '/' }, route: action }],
        });
      }
      return routeConfig(rdsOutbound(port), vhosts);
    },
  };
}

const UNIT_MS = { second: 1000, minute: 60_000, hour: 3_600_000 } as const;

export function httpRateLimit(statPrefix: string, limit: LocalHttpRateLimit): TypedAny {
  const always: envoy.config.core.v3.RuntimeFractionalPercent = { defaultValue: { numerator: 100, denominator: 'HUNDRED' }, runtimeKey: 'local_rate_limit_enabled' };
  const config: envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit = {
    statPrefix,
    tokenBucket: { maxTokens: limit.requests + limit.burst, tokensPerFill: u32(limit.requests), fillInterval: durationMs(UNIT_MS[limit.unit]) },
    filterEnabled: always,
    filterEnforced: { ...always, runtimeKey: 'local_rate_limit_enforced' },
  };
  if (limit.responseStatusCode !== 0) config.status = { code: limit.responseStatusCode };
  if (limit.responseHeadersToAdd.length > 0) {
    config.responseHeadersToAdd = limit.responseHeadersToAdd.map((h): envoy.config.core.v3.HeaderValueOption => ({ header: { key: h.name, value: h.value }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' }));
  }
  return anyOf(T.HttpLocalRateLimit, config);
}

/** The parts of an inbound virtual host that a route group edit leaves alone, and its routes' cluster. */
interface InboundHost {
  readonly cluster: string;
  /** The virtual host without its routes, as dumps show it. */
  readonly vhost: Omit<VirtualHost, 'routes'>;
  /** Route rate limits by path regex. */
  readonly perRouteLimit: ReadonlyMap<string, LocalHttpRateLimit>;
  /** Encoded around its routes, which are encoded one by one (`inboundRoute`). */
  readonly around: EncodedAround;
}

/**
 * A service's inbound virtual host but its routes, or null when its inbound chain on the port is not HTTP.
 * It does not read the inbound policy, so a route group edit does not rebuild or re-encode it (its name,
 * its domains and its rate limit): only the routes that changed are encoded (`inboundRoute`).
 */
function inboundHost(svcKey: string, targetPort: number): DerivationSpec<InboundHost | null> {
  return {
    id: `envoy/rds/inbound-host/${targetPort}#${svcKey}`,
    // Plain trees of strings and numbers; the encoding is a function of the virtual host.
    hash: (h) => (h === null ? '-' : JSON.stringify([h.cluster, h.vhost, [...h.perRouteLimit]])),
    compute(r) {
      // Only a service whose inbound chain on this port is HTTP; its virtual host answers to every HTTP
      // service port mapped onto the target port.
      const chain = inboundPorts(r, svcKey).find((p) => p.targetPort === targetPort);
      if (chain === undefined || !isHttp(chain.protocol)) return null;
      const ports = r.derive(servicePorts(svcKey)).filter((p) => p.targetPort === targetPort && isHttp(p.protocol));
      const [ns, svc] = splitKey(svcKey);
      const setting = r.derive(upstreamSetting(svcKey));
      const perRouteLimit = new Map((setting?.httpRoutes ?? []).filter((h) => h.rateLimit !== null).map((h) => [h.path, h.rateLimit as LocalHttpRateLimit]));
      const vhost: Omit<VirtualHost, 'routes'> = {
        name: `inbound_virtual-host|${svcKey}`,
        // Several service ports on one target port share the bare names; Envoy refuses a domain listed twice.
        domains: [...new Set(ports.flatMap((p) => serviceDomains(ns, svc, p.port, true)))],
      };
      const limit = setting?.rateLimit?.http ?? null;
      if (limit !== null) vhost.typedPerFilterConfig = { [RATE_LIMIT_FILTER]: httpRateLimit(`inbound_${svcKey}_http`, limit) };
      return { cluster: localClusterName(ns, svc, targetPort), vhost, perRouteLimit, around: encodeAroundOf(T.VirtualHost, vhost, 'routes') };
    },
  };
}

/** A route as dumps show it, and its encoding to splice into its virtual host. */
interface EncodedRoute {
  readonly route: Route;
  readonly bytes: Uint8Array;
}

/**
 * One inbound route, encoded, as a derivation content-addressed by everything it is built from: a route
 * group edit gives the routes it did not touch the same ids, so their encodings are reused, and only new or
 * changed routes are built and encoded. It reads only its RBAC block, which never changes; it is freed with
 * the last route configuration holding it.
 */
function inboundRoute(svcKey: string, cluster: string, rule: HttpRule, limit: LocalHttpRateLimit | null): DerivationSpec<EncodedRoute> {
  const key = JSON.stringify([svcKey, cluster, rule.name, rule.pathRegex, rule.method, rule.headers, rule.principals, limit]);
  return {
    id: `envoy/rds/inbound-route#${key}`,
    // The id is the content: two values under one id cannot differ.
    hash: () => key,
    compute(r) {
      const headers: envoy.config.route.v3.HeaderMatcher[] = rule.headers.map(([name, regex]): envoy.config.route.v3.HeaderMatcher => ({ name, stringMatch: { safeRegex: { regex } } }));
      if (rule.method !== null) headers.unshift({ name: ':method', stringMatch: { exact: rule.method } });
      const perFilter: Record<string, TypedAny> = { [RBAC_FILTER]: r.derive(authenticatedRouteRbac(rule.principals)) };
      if (limit !== null) perFilter[RATE_LIMIT_FILTER] = httpRateLimit(`inbound_route_${svcKey}_${rule.name}`, limit);
      const match: envoy.config.route.v3.RouteMatch = { safeRegex: { regex: rule.pathRegex } };
      if (headers.length > 0) match.headers = headers;
      const route: Route = { name: rule.name, match, route: { cluster }, typedPerFilterConfig: perFilter };
      return { route, bytes: encodeMessageOf(T.Route, route) };
    },
  };
}

/**
 * An inbound route configuration's own fields (its name, no cluster validation), encoded once per name: one
 * per target port, so at most one per port number, and the same in every rebuild.
 */
const inboundConfigAround = memoByString((name): EncodedAround =>
  encodeAroundOf(TypeUrl.RouteConfiguration, { name, validateClusters: { value: false } }, 'virtualHosts'),
);

/**
 * Inbound routes of one target port, for the services of a proxy's workload. Keyed by identity and the
 * service list, so replicas share it. Assembled from encoded parts: each virtual host's own fields
 * (`inboundHost`) around its encoded routes (`inboundRoute`), the bytes of encoding the whole tree at once.
 */
export function inboundRoutes(identity: string, services: readonly string[], targetPort: number): DerivationSpec<EncodedResource | null> {
  return {
    id: `envoy/rds/inbound/${targetPort}@${identity}#${services.join(',')}`,
    hash: hashResource,
    compute(r) {
      const { permissive } = r.derive(meshSettings);
      const policy = permissive ? null : r.derive(inboundPolicy(identity));
      const vhosts: VirtualHost[] = [];
      const encoded: Uint8Array[] = [];
      for (const svcKey of services) {
        const host = r.derive(inboundHost(svcKey, targetPort));
        if (host === null) continue;
        let routes: EncodedRoute[];
        if (policy === null) {
          const route: Route = { name: 'permissive', match: { safeRegex: { regex: '.*' } }, route: { cluster: host.cluster } };
          routes = [{ route, bytes: encodeMessageOf(T.Route, route) }];
        } else {
          routes = policy.routes.map((rule) => r.derive(inboundRoute(svcKey, host.cluster, rule, host.perRouteLimit.get(rule.pathRegex) ?? null)));
        }
        if (routes.length === 0) continue;
        // Dumps show the fields in this order: name, domains, routes, rate limit.
        const { name, domains, typedPerFilterConfig } = host.vhost;
        const vhost: VirtualHost = { name, domains, routes: routes.map((e) => e.route) };
        if (typedPerFilterConfig !== undefined) vhost.typedPerFilterConfig = typedPerFilterConfig;
        vhosts.push(vhost);
        encoded.push(spliceAround(host.around, routes.map((e) => e.bytes)));
      }
      // Served even without a virtual host (nothing allowed yet): the inbound chain names it either way, and
      // Envoy would hold the whole inbound listener warming until a named route configuration arrives.
      const name = rdsInbound(targetPort);
      return encodedResourceAroundOf(TypeUrl.RouteConfiguration, name, inboundConfigAround(name), encoded, { name, virtualHosts: vhosts, validateClusters: { value: false } });
    },
  };
}

/** Ingress routes of a port: every path to the local cluster, only for the IngressBackend's sources. */
export function ingressRoutes(services: readonly string[], port: number): DerivationSpec<EncodedResource | null> {
  return {
    id: `envoy/rds/ingress/${port}#${services.join(',')}`,
    hash: hashResource,
    compute(r) {
      const routes: Route[] = [];
      for (const svcKey of services) {
        for (const rule of r.derive(ingressRules(svcKey))) {
          if (rule.port !== port) continue;
          const [ns, svc] = splitKey(svcKey);
          routes.push({
            name: `ingress_${svcKey}`,
            match: { safeRegex: { regex: '.*' } },
            route: { cluster: localClusterName(ns, svc, port) },
            typedPerFilterConfig: { [RBAC_FILTER]: r.derive(routeRbac(rule.principals)) },
          });
        }
      }
      // One virtual host: ingress traffic carries outside host names, and routes of several services on one
      // pod port would all lead to the same application anyway.
      return routeConfig(rdsIngress(port), routes.length === 0 ? [] : [{ name: 'ingress_virtual-host', domains: ['*'], routes: [routes[0] as Route] }]);
    },
  };
}

export function egressRoutes(caller: string, port: number): DerivationSpec<EncodedResource | null> {
  return {
    id: `envoy/rds/egress/${port}@${caller}`,
    hash: hashResource,
    compute(r) {
      const entry = r.derive(egressPlan(caller)).http.find((h) => h.port === port);
      const vhosts = (entry?.hosts ?? []).map((host): VirtualHost => ({
        name: `egress_virtual-host|${host}:${port}`,
        domains: [host, `${host}:${port}`],
        routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: egressClusterName(host, port) } }],
      }));
      return routeConfig(rdsEgress(port), vhosts);
    },
  };
}
