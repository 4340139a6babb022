import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envoyType } from '@weft/protos';
import { encodeAnyBytes, encodeAround, encodeMessage, encodeResource, encodedResourceAround, encodedTypedAny, spliceAround, typedAny, type Msg } from './encode.js';

const ROUTES = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const RBAC_PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';

function routes(rbac: Msg): Msg {
  const route = (name: string): Msg => ({ name, match: { prefix: '/' }, route: { cluster: 'c' }, typedPerFilterConfig: { 'envoy.filters.http.rbac': rbac } });
  return { name: 'r', virtualHosts: [{ name: 'vh', domains: ['*'], routes: [route('a'), route('b')] }] };
}

/** The message encoded on its own and framed as an Any by hand: the reference for the resource's bytes. */
function reference(typeUrl: string, message: Msg): Uint8Array {
  const type = envoyType(typeUrl);
  return encodeAnyBytes(typeUrl, type.encode(type.fromObject(message)).finish());
}

describe('encoding a resource', () => {
  it('frames the message as an Any with the bytes of encoding it and framing it apart', () => {
    const message = { name: 'r', virtualHosts: [{ name: 'vh', domains: ['*'], routes: [{ name: 'a', match: { prefix: '/' }, route: { cluster: 'c' } }] }] };
    assert.deepEqual(Buffer.from(encodeResource(ROUTES, 'r', message).any), Buffer.from(reference(ROUTES, message)));
  });

  it('splices a pre-encoded Any with the bytes of encoding it in place, and dumps it as written', () => {
    const rules = { action: 'ALLOW' as const, policies: { allow: { permissions: [{ any: true }], principals: [{ authenticated: { principalName: { exact: 'a' } } }] } } };
    const shared = encodedTypedAny(RBAC_PER_ROUTE, { rbac: { rules } });
    const inline = typedAny(RBAC_PER_ROUTE, { rbac: { rules: JSON.parse(JSON.stringify(rules)) as Msg } });
    const spliced = encodeResource(ROUTES, 'r', routes(shared));
    assert.deepEqual(Buffer.from(spliced.any), Buffer.from(encodeResource(ROUTES, 'r', routes(inline)).any));
    assert.equal(JSON.stringify(spliced.dump), JSON.stringify(routes(inline)));
  });

  it('freezes a pre-encoded Any, so its bytes cannot go stale under it; a copy is encoded from its own fields', () => {
    const shared = encodedTypedAny(RBAC_PER_ROUTE, { rbac: { rules: { action: 'ALLOW' } } });
    assert.throws(() => {
      ((shared['rbac'] as Msg)['rules'] as Msg)['action'] = 'DENY';
    }, TypeError);
    const copy = { ...shared, rbac: { rules: { action: 'DENY' } } };
    assert.deepEqual(Buffer.from(encodeResource(ROUTES, 'r', routes(copy)).any), Buffer.from(encodeResource(ROUTES, 'r', routes(typedAny(RBAC_PER_ROUTE, { rbac: { rules: { action: 'DENY' } } }))).any));
    assert.notDeepEqual(Buffer.from(encodeResource(ROUTES, 'r', routes(copy)).any), Buffer.from(encodeResource(ROUTES, 'r', routes(shared)).any));
  });
});

const VIRTUAL_HOST = 'type.googleapis.com/envoy.config.route.v3.VirtualHost';
const ROUTE = 'type.googleapis.com/envoy.config.route.v3.Route';
const RATE_LIMIT = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';

/** Routes of several shapes: header and method matches, weighted clusters, retries and timeouts, per-route filters. */
function routeShapes(rbac: Msg): Msg[] {
  const long = Array.from({ length: 40 }, (_, i) => ({ authenticated: { principalName: { exact: `caller-${i}.ns.cluster.local` } } }));
  return [
    { name: 'plain', match: { prefix: '/' }, route: { cluster: 'c' } },
    {
      name: 'headers',
      match: { safeRegex: { regex: '/v1/.*' }, headers: [{ name: ':method', stringMatch: { exact: 'GET' } }, { name: 'x-user', stringMatch: { safeRegex: { regex: 'a.*' } } }] },
      route: { cluster: 'c', timeout: { seconds: 3 }, retryPolicy: { retryOn: '5xx', numRetries: { value: 2 }, perTryTimeout: { nanos: 500_000_000 } } },
      typedPerFilterConfig: { 'envoy.filters.http.rbac': rbac },
    },
    { name: 'split', match: { prefix: '/' }, route: { weightedClusters: { clusters: [{ name: 'a', weight: { value: 60 } }, { name: 'b', weight: { value: 40 } }] } } },
    // Over 127 bytes: its length takes a varint of two bytes.
    { name: 'long', match: { prefix: '/' }, route: { cluster: 'c' }, typedPerFilterConfig: { 'envoy.filters.http.rbac': typedAny(RBAC_PER_ROUTE, { rbac: { rules: { action: 'ALLOW', policies: { allow: { permissions: [{ any: true }], principals: long } } } } }) } },
  ];
}

function rateLimit(statPrefix: string): Msg {
  return typedAny(RATE_LIMIT, { statPrefix, tokenBucket: { maxTokens: 10, tokensPerFill: { value: 5 }, fillInterval: { seconds: 1 } } });
}

describe('encoding around a repeated field', () => {
  const rbac = encodedTypedAny(RBAC_PER_ROUTE, { rbac: { rules: { action: 'ALLOW' } } });

  it('splices encoded elements into the bytes of encoding the whole message, fields on both sides', () => {
    const routes = routeShapes(rbac);
    const host = { name: 'vh', domains: ['a', 'a:80'], typedPerFilterConfig: { 'envoy.filters.http.local_ratelimit': rateLimit('vh') }, requestHeadersToAdd: [{ header: { key: 'k', value: 'v' } }] };
    for (const subset of [[], routes.slice(0, 1), routes]) {
      const spliced = spliceAround(encodeAround(VIRTUAL_HOST, host, 'routes'), subset.map((r) => encodeMessage(ROUTE, r)));
      assert.deepEqual(Buffer.from(spliced), Buffer.from(encodeMessage(VIRTUAL_HOST, { ...host, routes: subset })), `${subset.length} routes`);
    }
  });

  it('gives the resource encodeResource gives the tree, with a message that has no fields before or after', () => {
    const hosts = [{ name: 'one', domains: ['*'], routes: routeShapes(rbac) }, { name: 'two', domains: ['b'], routes: [] }];
    for (const config of [{ name: 'r', validateClusters: { value: false } }, {}]) {
      const around = encodeAround(ROUTES, config, 'virtualHosts');
      const items = hosts.map((h) => encodeMessage(VIRTUAL_HOST, h));
      const tree = { ...config, virtualHosts: hosts };
      const spliced = encodedResourceAround(ROUTES, 'r', around, items, tree);
      assert.deepEqual(Buffer.from(spliced.any), Buffer.from(encodeAnyBytes(ROUTES, spliceAround(around, items))));
      const plain = encodeResource(ROUTES, 'r', JSON.parse(JSON.stringify(tree)) as Msg);
      assert.deepEqual(Buffer.from(spliced.any), Buffer.from(plain.any));
      assert.equal(spliced.version, plain.version);
      assert.strictEqual(spliced.dump, tree);
    }
  });

  it('a changed element changes the bytes', () => {
    const around = encodeAround(VIRTUAL_HOST, { name: 'vh' }, 'routes');
    const [a, b] = [routeShapes(rbac)[0] as Msg, { ...routeShapes(rbac)[0], route: { cluster: 'd' } }];
    assert.notDeepEqual(Buffer.from(spliceAround(around, [encodeMessage(ROUTE, a)])), Buffer.from(spliceAround(around, [encodeMessage(ROUTE, b)])));
    assert.deepEqual(Buffer.from(spliceAround(around, [encodeMessage(ROUTE, b)])), Buffer.from(encodeMessage(VIRTUAL_HOST, { name: 'vh', routes: [b] })));
  });

  it('refuses a field that is not a repeated message, and a message that holds the field or an unknown one', () => {
    assert.throws(() => encodeAround(VIRTUAL_HOST, { name: 'vh' }, 'domains'), /not a repeated message field/);
    assert.throws(() => encodeAround(VIRTUAL_HOST, { name: 'vh' }, 'name'), /not a repeated message field/);
    assert.throws(() => encodeAround(VIRTUAL_HOST, { name: 'vh', routes: [] }, 'routes'), /routes: not a field/);
    assert.throws(() => encodeAround(VIRTUAL_HOST, { nmae: 'vh' }, 'routes'), /nmae: not a field/);
  });
});
