import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envoyType } from '@weft/protos';
import { encodeAnyBytes, encodeResource, encodedTypedAny, typedAny, type Msg } from './encode.js';

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
