/**
 * A route group edit that changes only HTTP routes rebuilds only the inbound route configuration: the
 * inbound listener reads the network side of the policy (targets, principals, ports), which such an edit
 * leaves as it was, so the listener is found clean without being translated or encoded again. An edit of
 * the TrafficTarget itself (its sources) does reach the listener. Counts come from the engine's
 * instrumentation; bytes are what a push would carry.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypeUrl, encodeResource, type EncodedResource, type HTTPRouteGroup, type TrafficTarget } from '@weft/core';
import { decodeResource } from '@weft/core/testing';
import { apply, loadMesh, type Mesh } from './harness.js';

function uuid(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

function meshYaml(): string {
  const docs: string[] = [];
  for (const ns of ['buyers', 'store']) docs.push(`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n  labels:\n    openservicemesh.io/monitored-by: osm\n`);
  docs.push(
    `apiVersion: v1\nkind: Service\nmetadata:\n  name: bookstore\n  namespace: store\nspec:\n  clusterIP: 10.96.0.10\n  selector:\n    app: bookstore\n  ports:\n    - name: http\n      port: 14001\n      appProtocol: http\n`,
  );
  const pod = (ns: string, name: string, sa: string, ip: string, n: number): string =>
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n  labels:\n    app: ${sa}\n    osm-proxy-uuid: ${uuid(n)}\nspec:\n  serviceAccountName: ${sa}\n  containers:\n    - name: app\n      image: x\nstatus:\n  podIP: ${ip}\n`;
  docs.push(pod('store', 'bookstore-0', 'bookstore', '10.244.2.11', 1));
  docs.push(pod('buyers', 'bookbuyer-0', 'bookbuyer', '10.245.0.1', 2));
  docs.push(pod('buyers', 'bookthief-0', 'bookthief', '10.245.0.2', 3));
  docs.push(
    `apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: bookstore\n  namespace: store\nsubsets:\n  - addresses:\n      - ip: 10.244.2.11\n        targetRef:\n          kind: Pod\n          name: bookstore-0\n          namespace: store\n    ports:\n      - name: http\n        port: 14001\n`,
  );
  docs.push(`apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata:\n  name: routes\n  namespace: store\nspec:\n  matches:\n    - name: all\n      pathRegex: ".*"\n      methods: ["*"]\n`);
  docs.push(
    `apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\nmetadata:\n  name: to-bookstore\n  namespace: store\nspec:\n  destination:\n    kind: ServiceAccount\n    name: bookstore\n    namespace: store\n  rules:\n    - kind: HTTPRouteGroup\n      name: routes\n  sources:\n    - kind: ServiceAccount\n      name: bookbuyer\n      namespace: buyers\n`,
  );
  return docs.join('---\n');
}

interface Counted {
  readonly mesh: Mesh;
  /** Derivations that ran (compute, recompute or unchanged) since the last reset. */
  readonly ran: string[];
}

function load(): Counted {
  const ran: string[] = [];
  const mesh = loadMesh(meshYaml(), 'mesh.yaml', {
    onEvent: (e) => (e.type === 'compute' || e.type === 'recompute' || e.type === 'unchanged' ? ran.push(e.id) : undefined),
  });
  for (const p of mesh.proxies) for (const t of [TypeUrl.Listener, TypeUrl.RouteConfiguration]) mesh.engine.retain(mesh.adapter.resources(p, t).id);
  return { mesh, ran };
}

/** bookstore's resource of a type, by name, as it would be pushed now. */
function bookstore({ mesh }: Counted, typeUrl: string, name: string): EncodedResource {
  const p = mesh.proxies.find((x) => x.pod === 'bookstore-0');
  assert.ok(p !== undefined);
  const r = mesh.engine.get(mesh.adapter.resources(p, typeUrl)).value.get(name);
  assert.ok(r !== undefined, `bookstore has no ${name}`);
  return r;
}

const inboundListener = (c: Counted): EncodedResource => bookstore(c, TypeUrl.Listener, 'inbound-listener');
const inboundRoutes = (c: Counted): EncodedResource => bookstore(c, TypeUrl.RouteConfiguration, 'rds-inbound.14001');
const translators = (ran: readonly string[], prefix: string): string[] => ran.filter((id) => id.startsWith(prefix));

describe('a route group change', () => {
  it('adds a match: the inbound route configuration is rebuilt, the inbound listener is not run again', () => {
    const c = load();
    const listener = inboundListener(c);
    const routes = inboundRoutes(c);
    c.ran.length = 0;
    const group = c.mesh.catalog.get('HTTPRouteGroup', 'store/routes') as HTTPRouteGroup;
    const matches = [...group.matches, { name: 'v2', pathRegex: '/v2/.*', methods: ['GET'], headers: {} }];
    apply(c.mesh, [{ op: 'upsert', kind: 'HTTPRouteGroup', key: 'store/routes', body: { ...group, matches } }]);
    // The engine is lazy: reading the sets, as a push does, runs what the change left stale.
    assert.strictEqual(inboundListener(c), listener, 'the same encoded listener, not an equal re-encoding');
    const after = inboundRoutes(c);
    assert.deepEqual(translators(c.ran, 'envoy/rds/inbound/'), ['envoy/rds/inbound/14001@store/bookstore#store/bookstore']);
    assert.deepEqual(translators(c.ran, 'envoy/listener/'), [], 'the listener does not read the routes');
    assert.notEqual(after.version, routes.version);
    assert.match(JSON.stringify(after.dump), /\/v2\/\.\*/);
    const wire = decodeResource(after) as { virtualHosts: { routes: { name: string; typedPerFilterConfig: object }[] }[] };
    const routeNames = wire.virtualHosts.flatMap((vh) => vh.routes.map((r) => r.name));
    assert.deepEqual(routeNames, ['store/routes/all', 'store/routes/v2/GET']);
    for (const r of wire.virtualHosts.flatMap((vh) => vh.routes)) assert.match(JSON.stringify(r.typedPerFilterConfig), /bookbuyer\.buyers\.cluster\.local/);
  });

  it('a new source in the TrafficTarget reaches the listener (network RBAC) and the routes', () => {
    const c = load();
    const listener = inboundListener(c);
    // Built before the edit, so that the rebuild after it runs where a per-route block is already known.
    assert.doesNotMatch(JSON.stringify(decodeResource(inboundRoutes(c))), /bookthief/);
    c.ran.length = 0;
    const target = c.mesh.catalog.get('TrafficTarget', 'store/to-bookstore') as TrafficTarget;
    const sources = [...target.sources, { kind: 'ServiceAccount', name: 'bookthief', namespace: 'buyers' }];
    apply(c.mesh, [{ op: 'upsert', kind: 'TrafficTarget', key: 'store/to-bookstore', body: { ...target, sources } }]);
    const after = inboundListener(c);
    assert.deepEqual(translators(c.ran, 'envoy/listener/inbound'), ['envoy/listener/inbound@store/bookstore#store/bookstore']);
    assert.notEqual(after.version, listener.version);
    assert.match(JSON.stringify(after.dump), /bookthief\.buyers\.cluster\.local/);
    assert.match(JSON.stringify(inboundRoutes(c).dump), /bookthief\.buyers\.cluster\.local/);
    // The bytes, not only the tree: per-route RBAC blocks are encoded once per principal list and spliced in,
    // so a block kept from before the edit would show here as the old principals.
    const wire = JSON.stringify(decodeResource(inboundRoutes(c)));
    assert.match(wire, /bookthief\.buyers\.cluster\.local/);
    assert.match(wire, /bookbuyer\.buyers\.cluster\.local/);
  });

  it('adds a match: only the new route is built and encoded; the others and the virtual host are reused', () => {
    const c = load();
    const before = inboundRoutes(c);
    c.ran.length = 0;
    const group = c.mesh.catalog.get('HTTPRouteGroup', 'store/routes') as HTTPRouteGroup;
    const matches = [...group.matches, { name: 'v2', pathRegex: '/v2/.*', methods: ['GET'], headers: { 'x-user': 'a.*' } }];
    apply(c.mesh, [{ op: 'upsert', kind: 'HTTPRouteGroup', key: 'store/routes', body: { ...group, matches } }]);
    const after = inboundRoutes(c);
    assert.notEqual(after.version, before.version);
    const built = translators(c.ran, 'envoy/rds/inbound-route#');
    assert.equal(built.length, 1);
    assert.match(built[0] ?? '', /store\/routes\/v2\/GET/);
    assert.deepEqual(translators(c.ran, 'envoy/rds/inbound-host/'), [], 'the virtual host does not read the policy');
    assertSplicedAsEncoded(after);
  });

  it('edits a match under the same name: its route is rebuilt, never taken from the encoding before', () => {
    const c = load();
    const before = inboundRoutes(c);
    const group = c.mesh.catalog.get('HTTPRouteGroup', 'store/routes') as HTTPRouteGroup;
    const matches = group.matches.map((m) => ({ ...m, pathRegex: '/narrow/.*' }));
    apply(c.mesh, [{ op: 'upsert', kind: 'HTTPRouteGroup', key: 'store/routes', body: { ...group, matches } }]);
    const after = inboundRoutes(c);
    assert.notEqual(after.version, before.version);
    const wire = decodeResource(after) as { virtualHosts: { routes: { name: string; match: { safeRegex: { regex: string } } }[] }[] };
    assert.deepEqual(
      wire.virtualHosts.flatMap((vh) => vh.routes.map((r) => [r.name, r.match.safeRegex.regex])),
      [['store/routes/all', '/narrow/.*']],
    );
    assertSplicedAsEncoded(after);
  });
});

/** A configuration assembled from encoded parts has the bytes of encoding its dump at once, as plain objects. */
function assertSplicedAsEncoded(r: EncodedResource): void {
  const plain = encodeResource(TypeUrl.RouteConfiguration, r.name, JSON.parse(JSON.stringify(r.dump)) as object);
  assert.deepEqual(Buffer.from(r.any), Buffer.from(plain.any));
  assert.equal(r.version, plain.version);
}

