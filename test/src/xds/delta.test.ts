import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TypeUrl } from '@weft/core';
import { DebugServer } from '@weft/core/testing';
import { DeltaClient, type DeltaResponseView } from '../support/delta-client.js';
import { endpointsEvent, serviceEvent } from '../support/grpc-test-adapter.js';
import { startMesh, waitFor, type TestMesh } from '../support/mesh.js';

const NODE = { id: 'p-1', metadata: { kind: 'grpc', serviceAccount: 'client', namespace: 'demo' } };
const svc = serviceEvent;
const eps = endpointsEvent;
const del = (kind: 'Service' | 'Endpoints', name: string) => ({ source: 'test', op: 'delete' as const, kind, key: `demo/${name}` });

const names = (r: DeltaResponseView): string[] => r.resources.map((x) => x.name).sort();

describe('delta ADS protocol', () => {
  let mesh: TestMesh;
  const ensured: string[] = [];
  before(async () => {
    mesh = await startMesh({
      certificates: {
        ensure: async (id) => {
          ensured.push(`${id.namespace}/${id.serviceAccount}`);
        },
        isReady: () => false,
      },
    });
    await mesh.append([svc('a'), svc('b'), eps('a', 1001), eps('b', 2001)]);
  });
  after(async () => {
    await mesh.close();
  });

  it('serves wildcard CDS, named EDS, absent names, updates only what changed, removals and unsubscribe', async () => {
    const c = new DeltaClient(mesh.address, NODE);
    try {
      c.request({ typeUrl: TypeUrl.Cluster });
      const cds = await c.next();
      assert.equal(cds.typeUrl, TypeUrl.Cluster);
      assert.deepEqual(names(cds), ['demo/a', 'demo/b']);
      assert.deepEqual(cds.removedResources, []);
      for (const r of cds.resources) assert.match(r.version, /^[0-9a-f]{16}$/);
      assert.equal(cds.resources[0]!.message['type'], 'EDS');
      c.ack(cds);

      c.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['demo/a', 'demo/nope'] });
      const eds = await c.next();
      assert.deepEqual(names(eds), ['demo/a'], 'only the subscribed name that exists');
      assert.deepEqual(eds.removedResources, ['demo/nope'], 'a subscribed name that does not exist is reported removed');
      c.ack(eds);
      await c.expectNone();

      // Endpoints of a change: one EDS update with just demo/a; CDS untouched (same cluster bytes).
      const before = mesh.server.proxies()[0]!;
      await mesh.append([eps('a', 1002)]);
      const eds2 = await c.next();
      assert.equal(eds2.typeUrl, TypeUrl.ClusterLoadAssignment);
      assert.deepEqual(names(eds2), ['demo/a']);
      assert.notEqual(eds2.resources[0]!.version, eds.resources[0]!.version);
      const lb = eds2.resources[0]!.message['endpoints'] as { lbEndpoints: { endpoint: { address: { socketAddress: { portValue: number } } } }[] }[];
      assert.equal(lb[0]!.lbEndpoints[0]!.endpoint.address.socketAddress.portValue, 1002);
      c.ack(eds2);
      await c.expectNone();
      assert.ok(before.uuid === 'p-1');

      // Endpoints of b change: b is not subscribed on EDS and its cluster is unchanged, so nothing is sent.
      await mesh.append([eps('b', 2002)]);
      assert.equal(mesh.lastTouched(), 1, 'the proxy holds the EDS root, so it is told');
      await c.expectNone();
      const detail = mesh.server.proxy('p-1')!;
      const lastPush = detail.pushes[detail.pushes.length - 1]!;
      assert.equal(lastPush.typeUrl, TypeUrl.ClusterLoadAssignment, 'no push recorded for the unchanged b');

      // Push records carry the event offsets that caused them.
      const edsPushes = detail.pushes.filter((p) => p.typeUrl === TypeUrl.ClusterLoadAssignment);
      assert.ok(edsPushes[edsPushes.length - 1]!.offsets.length > 0, 'the EDS push names the offsets behind it');

      // An event nothing the proxy uses reads: no actor is even told.
      await mesh.append([
        { source: 'test', op: 'upsert', kind: 'ServiceAccount', key: 'demo/sa1', body: { meta: { namespace: 'demo', name: 'sa1', labels: {}, annotations: {} } } },
      ]);
      assert.equal(mesh.lastTouched(), 0);
      await c.expectNone(50);

      // Delete service b: CDS removes it.
      await mesh.append([del('Service', 'b')]);
      const cds2 = await c.next();
      assert.equal(cds2.typeUrl, TypeUrl.Cluster);
      assert.deepEqual(cds2.resources, []);
      assert.deepEqual(cds2.removedResources, ['demo/b']);
      c.ack(cds2);

      // Unsubscribe a: nothing sent, and later changes to a are not sent either.
      c.request({ typeUrl: TypeUrl.ClusterLoadAssignment, unsubscribe: ['demo/a'] });
      await c.expectNone();
      await mesh.append([eps('a', 1003)]);
      await c.expectNone();

      // Re-subscribe: sent again (the client dropped it).
      c.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['demo/a'] });
      const eds3 = await c.next();
      assert.deepEqual(names(eds3), ['demo/a']);
      c.ack(eds3);
      await c.expectNone();
    } finally {
      c.close();
      await mesh.append([svc('b'), eps('b', 2001)]);
    }
  });

  it('NACK keeps the last good version, is reported, and a later change recovers', async () => {
    const c = new DeltaClient(mesh.address, { ...NODE, id: 'p-nack' });
    try {
      c.request({ typeUrl: TypeUrl.Cluster });
      const cds = await c.next();
      c.ack(cds);
      const nacksBefore = await mesh.metrics.value('weft_xds_nacks_total', { type: 'CDS' });
      await mesh.append([svc('a', { 'test.weft.dev/lb-policy': 'MAGLEV' })]);
      const bad = await c.next();
      assert.deepEqual(names(bad), ['demo/a']);
      assert.equal(bad.resources[0]!.message['lbPolicy'], 'MAGLEV');
      c.nack(bad, 'MAGLEV not supported');
      await waitFor('NACK recorded', () => mesh.server.proxy('p-nack')?.types.find((t) => t.typeUrl === TypeUrl.Cluster)?.lastNack !== null);
      const snap = mesh.server.proxy('p-nack')!;
      const cdsState = snap.types.find((t) => t.typeUrl === TypeUrl.Cluster)!;
      assert.equal(cdsState.lastNack!.message, 'MAGLEV not supported');
      assert.equal(cdsState.ackedVersion, cds.systemVersionInfo, 'acked version stays the last good one');
      assert.equal(snap.state, 'holding');
      assert.equal(await mesh.metrics.value('weft_xds_nacks_total', { type: 'CDS' }), nacksBefore + 1);
      assert.ok(snap.acks.some((a) => !a.ack && a.error === 'MAGLEV not supported'));
      // The same rejected bytes are not resent.
      await c.expectNone();
      // Fixing the resource recovers.
      await mesh.append([svc('a')]);
      const good = await c.next();
      assert.deepEqual(names(good), ['demo/a']);
      assert.notEqual(good.resources[0]!.message['lbPolicy'], 'MAGLEV');
      c.ack(good);
      await waitFor('ACK recorded', () => mesh.server.proxy('p-nack')?.state === 'idle');
      assert.equal(mesh.server.proxy('p-nack')!.types.find((t) => t.typeUrl === TypeUrl.Cluster)!.ackedVersion, good.systemVersionInfo);
    } finally {
      c.close();
    }
  });

  it('reconnect with initial_resource_versions sends only what differs and removes what is gone', async () => {
    const c1 = new DeltaClient(mesh.address, { ...NODE, id: 'p-re' });
    c1.request({ typeUrl: TypeUrl.Cluster });
    const cds = await c1.next();
    c1.ack(cds);
    const versions = Object.fromEntries(cds.resources.map((r) => [r.name, r.version]));
    c1.cancel();
    await mesh.append([eps('b', 2009)]); // unrelated to clusters
    const c2 = new DeltaClient(mesh.address, { ...NODE, id: 'p-re' });
    try {
      c2.request({ typeUrl: TypeUrl.Cluster, initialResourceVersions: { ...versions, 'demo/a': 'stale-version', 'demo/gone': 'x' } });
      const r = await c2.next();
      assert.deepEqual(names(r), ['demo/a'], 'b is current at the client; a differs');
      assert.deepEqual(r.removedResources, ['demo/gone']);
      c2.ack(r);
      await c2.expectNone();
      const reconnects = await mesh.metrics.value('osm_proxy_reconnect_count');
      assert.ok(reconnects >= 1);
    } finally {
      c2.close();
    }
  });

  it('orders CDS -> EDS -> LDS -> RDS when adding and the reverse when removing', async () => {
    const c = new DeltaClient(mesh.address, { ...NODE, id: 'p-order' });
    try {
      c.request({ typeUrl: TypeUrl.Cluster });
      c.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['demo/c'] });
      c.request({ typeUrl: TypeUrl.Listener });
      c.request({ typeUrl: TypeUrl.RouteConfiguration, subscribe: ['rds:demo/c'] });
      // Initial answers (any order of arrival is fine here); ACK them all.
      const initial: DeltaResponseView[] = [];
      for (let i = 0; i < 4; i++) initial.push(await c.next());
      for (const r of initial) c.ack(r);
      await c.expectNone();

      await mesh.append([svc('c'), eps('c', 3001)]);
      const adds: DeltaResponseView[] = [];
      for (let i = 0; i < 4; i++) adds.push(await c.next());
      assert.deepEqual(
        adds.map((r) => r.typeUrl),
        [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration],
      );
      assert.deepEqual(names(adds[0]!), ['demo/c']);
      assert.deepEqual(names(adds[2]!), ['c.demo']);
      for (const r of adds) c.ack(r);
      await c.expectNone();

      await mesh.append([del('Service', 'c'), del('Endpoints', 'c')]);
      const removes: DeltaResponseView[] = [];
      for (let i = 0; i < 4; i++) removes.push(await c.next());
      assert.deepEqual(
        removes.map((r) => r.typeUrl),
        [TypeUrl.RouteConfiguration, TypeUrl.Listener, TypeUrl.ClusterLoadAssignment, TypeUrl.Cluster],
      );
      assert.deepEqual(
        removes.map((r) => r.removedResources),
        [['rds:demo/c'], ['c.demo'], ['demo/c'], ['demo/c']],
      );
      for (const r of removes) c.ack(r);
    } finally {
      c.close();
    }
  });

  it('honours a subscription change sent with a stale nonce, without taking it as an ACK', async () => {
    const c = new DeltaClient(mesh.address, { ...NODE, id: 'p-stale' });
    try {
      c.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['demo/a'] });
      const first = await c.next();
      // Not ACKed yet: the next EDS response waits (one in flight per type).
      c.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['demo/b'], responseNonce: 'not-a-nonce-we-sent' });
      await c.expectNone();
      const snap = mesh.server.proxy('p-stale')!.types.find((t) => t.typeUrl === TypeUrl.ClusterLoadAssignment)!;
      assert.deepEqual(snap.names, ['demo/a', 'demo/b'], 'subscription honoured');
      assert.equal(snap.inFlightNonce, first.nonce, 'the stale nonce did not ACK the response in flight');
      c.ack(first);
      const second = await c.next();
      assert.deepEqual(names(second), ['demo/b']);
      c.ack(second);
    } finally {
      c.close();
    }
  });

  it('asks the certificate manager for the identity before the first push, and shows proxies on /debug/proxies', async () => {
    const debug = new DebugServer();
    mesh.server.registerDebugRoutes(debug);
    const port = await debug.listen('127.0.0.1', 0);
    const c = new DeltaClient(mesh.address, { ...NODE, id: 'p-debug' });
    try {
      c.request({ typeUrl: TypeUrl.Cluster });
      c.ack(await c.next());
      assert.ok(ensured.includes('demo/client'));
      await waitFor('ACK', () => mesh.server.proxy('p-debug')?.state === 'idle');
      const get = async (path: string) => {
        const r = await fetch(`http://127.0.0.1:${port}${path}`);
        return { status: r.status, text: await r.text() };
      };
      const list = await get('/debug/proxies');
      assert.equal(list.status, 200);
      const body = JSON.parse(list.text) as { proxies: { uuid: string; state: string; types: { ackedVersion: string; lastNack: unknown }[] }[] };
      const p = body.proxies.find((x) => x.uuid === 'p-debug')!;
      assert.equal(p.state, 'idle');
      assert.match(p.types[0]!.ackedVersion, /^[0-9a-f]{16}$/);
      assert.equal(p.types[0]!.lastNack, null);
      const one = await get('/debug/proxies/p-debug');
      assert.equal(one.status, 200);
      assert.ok((JSON.parse(one.text) as { pushes: unknown[] }).pushes.length >= 1);
      assert.equal((await get('/debug/proxies/nobody')).status, 404);
      assert.equal((await get('/healthz')).status, 200);
      assert.equal((await get('/readyz')).status, 200);
      assert.doesNotMatch(list.text + one.text, /PRIVATE KEY/);
    } finally {
      c.close();
      await debug.close();
    }
  });

  it('routes an event only to proxies whose resources it touches, and cleans up after clients leave', async () => {
    await waitFor('earlier clients gone', () => mesh.server.stats().proxies === 0);
    assert.equal(mesh.server.stats().roots, 0);
    const stats = mesh.engine.stats() as { roots?: number };
    assert.equal(stats.roots, 0, 'every retained root was released');
  });
});
