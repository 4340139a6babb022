/**
 * Per-route RBAC (RBACPerRoute) blocks, encoded once per distinct principal list. Every route of an inbound
 * route configuration carries one, and the routes that a TrafficTarget allows carry the same one: encoding
 * them route by route was most of the work of rebuilding a route configuration after a route group edit,
 * which changes routes but rarely who may call them.
 */
import { encodedAnyOf, type DerivationSpec, type TypedAny, type envoy } from '@weft/core';
import { authenticated } from './plan.js';
import { T } from './proto.js';

type Principal = envoy.config.rbac.v3.Principal;

/**
 * The block allowing `principals` (none: deny every request), as a derivation content-addressed by the
 * principals' JSON: the same list gives the same id, so routes, route configurations and successive
 * versions of one share a single tree and a single encoding, which every resource holding it splices in.
 * The JSON is exact for the principals translators build (names and CIDRs: strings and integers). The
 * derivation reads nothing, so it is never recomputed; it is freed with the last configuration using it.
 */
export function routeRbac(principals: readonly Principal[]): DerivationSpec<TypedAny> {
  // Built from the id's JSON rather than the caller's objects: the tree is frozen once encoded, and must be
  // this derivation's own and exactly what its id names.
  return rbacBlock('envoy/route-rbac', JSON.stringify(principals), (key) => JSON.parse(key) as Principal[]);
}

/**
 * routeRbac of principals authenticated by these names (an inbound route's sources), its id built from the
 * names themselves rather than the JSON of the principal objects they become: what every inbound route of
 * a rebuilt configuration pays to find its block. A different id from routeRbac's for the same principals,
 * with the same bytes.
 */
export function authenticatedRouteRbac(names: readonly string[]): DerivationSpec<TypedAny> {
  return rbacBlock('envoy/route-rbac/authenticated', JSON.stringify(names), (key) => (JSON.parse(key) as string[]).map(authenticated));
}

/** The block derivation under `<prefix>#<key>`: its content is its id, and its principals are rebuilt from the key. */
function rbacBlock(prefix: string, key: string, principals: (key: string) => Principal[]): DerivationSpec<TypedAny> {
  return {
    id: `${prefix}#${key}`,
    // The id is the content: two values under one id cannot differ.
    hash: () => key,
    compute: () => rbacPerRoute(principals(key)),
  };
}

/** The block allowing `principals`, a tree of its own: encoded now and frozen. */
function rbacPerRoute(principals: Principal[]): TypedAny {
  const rules: envoy.config.rbac.v3.RBAC = { action: 'ALLOW' };
  if (principals.length > 0) rules.policies = { allow: { permissions: [{ any: true }], principals } };
  return encodedAnyOf(T.HttpRbacPerRoute, { rbac: { rules } });
}
