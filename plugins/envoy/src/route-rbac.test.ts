/**
 * Per-route RBAC blocks are encoded once and spliced into every route configuration holding them. These
 * tests pin that the splice changes no byte, and that a different principal list, or an edited copy of a
 * block, never gets the bytes of the block it came from.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypeUrl, encodeResource, encodeTyped, type EncodedResource, type Reader, type envoy } from '@weft/core';
import { decodeResource } from '@weft/core/testing';
import { T, anyOf } from './proto.js';
import { authenticated } from './plan.js';
import { RBAC_FILTER } from './routes.js';
import { routeRbac } from './route-rbac.js';

type RouteConfiguration = envoy.config.route.v3.RouteConfiguration;

/** routeRbac reads nothing: computing it needs no engine. */
const noReads = {} as Reader;

function rbacOf(names: readonly string[]): ReturnType<typeof anyOf> {
  return routeRbac(names.map(authenticated)).compute(noReads);
}

function config(blocks: readonly ReturnType<typeof anyOf>[]): RouteConfiguration {
  return {
    name: 'rds-inbound.8080',
    virtualHosts: [
      {
        name: 'inbound_virtual-host|ns/svc',
        domains: ['svc'],
        routes: blocks.map((b, i) => ({ name: `r${i}`, match: { safeRegex: { regex: `/v${i}/.*` } }, route: { cluster: 'ns/svc|8080|local' }, typedPerFilterConfig: { [RBAC_FILTER]: b } })),
      },
    ],
  };
}

/** The same tree as plain objects: nothing shared, nothing pre-encoded, every Any encoded from its fields. */
function encodedAfresh(tree: RouteConfiguration): EncodedResource {
  return encodeResource(TypeUrl.RouteConfiguration, 'rds-inbound.8080', JSON.parse(JSON.stringify(tree)) as object);
}

function principalsOf(resource: EncodedResource): string[][] {
  const decoded = decodeResource(resource) as { virtualHosts: { routes: { typedPerFilterConfig: Record<string, { rbac: { rules: { policies?: { allow: { principals: { authenticated: { principalName: { exact: string } } }[] } } } } }> }[] }[] };
  return decoded.virtualHosts.flatMap((vh) => vh.routes.map((r) => (r.typedPerFilterConfig[RBAC_FILTER]?.rbac.rules.policies?.allow.principals ?? []).map((p) => p.authenticated.principalName.exact)));
}

describe('per-route RBAC blocks', () => {
  it('the same principals name the same derivation; others do not', () => {
    const a = routeRbac(['x.ns.cluster.local', 'y.ns.cluster.local'].map(authenticated));
    assert.equal(a.id, routeRbac(['x.ns.cluster.local', 'y.ns.cluster.local'].map(authenticated)).id);
    assert.notEqual(a.id, routeRbac(['x.ns.cluster.local'].map(authenticated)).id);
    assert.notEqual(a.id, routeRbac([{ directRemoteIp: { addressPrefix: 'x.ns.cluster.local', prefixLen: { value: 32 } } }]).id);
  });

  it('spliced blocks give the bytes of encoding every block afresh', () => {
    const shared = rbacOf(['a.ns.cluster.local', 'b.ns.cluster.local']);
    const tree = config([shared, shared, rbacOf([]), shared]);
    const spliced = encodeTyped(TypeUrl.RouteConfiguration, 'rds-inbound.8080', tree);
    const fresh = encodedAfresh(tree);
    assert.deepEqual(Buffer.from(spliced.any), Buffer.from(fresh.any));
    assert.equal(spliced.version, fresh.version);
    assert.deepEqual(principalsOf(spliced), [['a.ns.cluster.local', 'b.ns.cluster.local'], ['a.ns.cluster.local', 'b.ns.cluster.local'], [], ['a.ns.cluster.local', 'b.ns.cluster.local']]);
  });

  it('a different principal list is encoded with its own principals', () => {
    const before = encodeTyped(TypeUrl.RouteConfiguration, 'rds-inbound.8080', config([rbacOf(['a.ns.cluster.local'])]));
    const after = encodeTyped(TypeUrl.RouteConfiguration, 'rds-inbound.8080', config([rbacOf(['a.ns.cluster.local', 'c.ns.cluster.local'])]));
    assert.notEqual(after.version, before.version);
    assert.deepEqual(principalsOf(after), [['a.ns.cluster.local', 'c.ns.cluster.local']]);
  });

  it('a block cannot be edited in place, and an edited copy is encoded from its own fields', () => {
    const block = rbacOf(['a.ns.cluster.local']) as unknown as { rbac: { rules: { action: string } } };
    assert.throws(() => {
      block.rbac.rules.action = 'DENY';
    }, TypeError);
    const copy = anyOf(T.HttpRbacPerRoute, { rbac: { rules: { action: 'ALLOW', policies: { allow: { permissions: [{ any: true }], principals: [authenticated('d.ns.cluster.local')] } } } } });
    const spread = { ...(rbacOf(['a.ns.cluster.local']) as object), rbac: (copy as unknown as { rbac: object }).rbac } as unknown as ReturnType<typeof anyOf>;
    const encoded = encodeTyped(TypeUrl.RouteConfiguration, 'rds-inbound.8080', config([spread]));
    assert.deepEqual(principalsOf(encoded), [['d.ns.cluster.local']]);
  });
});
