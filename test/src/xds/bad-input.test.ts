import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@weft/core';
import { gcFunction } from '@weft/core/testing';
import { DeltaClient, SotwClient } from '../support/delta-client.js';
import { endpointsBody, serviceBody } from '../support/grpc-test-adapter.js';
import { startMesh, waitFor, type TestMesh } from '../support/mesh.js';

const node = (id: string) => ({ id, metadata: { kind: 'grpc', serviceAccount: 'client', namespace: 'demo' } });
const svc = (name: string, port: number) => [
  { source: 'test', op: 'upsert' as const, kind: 'Service' as const, key: `demo/${name}`, body: serviceBody('demo', name) },
  { source: 'test', op: 'upsert' as const, kind: 'Endpoints' as const, key: `demo/${name}`, body: endpointsBody('demo', name, [{ ip: '127.0.0.1', port }]) },
];

describe('bad input on ADS streams', () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await startMesh({ maxRequestsPerSecond: 100 });
    await mesh.append([...svc('a', 1001), ...svc('b', 2001)]);
  });
  after(async () => {
    await mesh.close();
  });

  const problems = (msg: string): number => mesh.logger.records.filter((r) => r.msg.startsWith(msg)).length;

  it('ignores unknown type URLs (logged once per stream) and keeps serving the stream', async () => {
    const c = new SotwClient(mesh.address, node('u-1'));
    try {
      const before = problems('request for a type');
      c.request({ typeUrl: 'type.googleapis.com/not.a.Type' });
      c.request({ typeUrl: 'type.googleapis.com/not.a.Type', resourceNames: ['x'] });
      await c.expectNone();
      assert.equal(problems('request for a type'), before + 1, 'logged once for the stream');
      c.request({ typeUrl: TypeUrl.Cluster });
      const r = await c.next();
      assert.deepEqual(r.resources.map((x) => x.name).sort(), ['demo/a', 'demo/b']);
      // Names that do not exist: a named SotW type answers with what exists (nothing), the stream stays up.
      c.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['demo/nope'] });
      const eds = await c.next();
      assert.deepEqual(eds.resources, []);
    } finally {
      c.close();
    }
  });

  it('ends a stream that sends garbage bytes with INVALID_ARGUMENT, logged once, and serves others', async () => {
    const before = problems('malformed request');
    const bad = new SotwClient(mesh.address, node('g-1'));
    bad.sendRaw(Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x0a, 0x99]));
    bad.sendRaw(Buffer.from([0x12, 0xff, 0x01]));
    const status = await bad.status;
    bad.close();
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
    assert.match(status.details, /not a valid DiscoveryRequest/);
    assert.equal(problems('malformed request'), before + 1);
    const good = new DeltaClient(mesh.address, node('g-2'));
    good.request({ typeUrl: TypeUrl.Cluster });
    assert.equal((await good.next()).resources.length, 2);
    good.close();
  });

  it('ends a flooding stream with RESOURCE_EXHAUSTED, logged once, while another stream is answered', async () => {
    const before = problems('request flood');
    const flood = new DeltaClient(mesh.address, node('f-1'));
    const other = new DeltaClient(mesh.address, node('f-2'));
    flood.request({ typeUrl: TypeUrl.Cluster });
    for (let i = 0; i < 1000; i++) flood.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: [`demo/x${i}`] });
    other.request({ typeUrl: TypeUrl.Cluster });
    const status = await flood.status;
    flood.close();
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(problems('request flood'), before + 1);
    assert.equal((await other.next()).resources.length, 2);
    other.close();
  });

  it('a client that never ACKs gets one response per type in flight, and does not hold up others', async () => {
    const silent = new DeltaClient(mesh.address, node('n-1'));
    const acking = new DeltaClient(mesh.address, node('n-2'));
    try {
      silent.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['demo/a'] });
      acking.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['demo/a'] });
      await silent.next();
      acking.ack(await acking.next());
      for (let port = 1100; port < 1110; port++) {
        await mesh.append([svc('a', port)[1]!]);
        const r = await acking.next();
        assert.equal(
          (r.resources[0]!.message['endpoints'] as { lbEndpoints: { endpoint: { address: { socketAddress: { portValue: number } } } }[] }[])[0]!
            .lbEndpoints[0]!.endpoint.address.socketAddress.portValue,
          port,
        );
        acking.ack(r);
      }
      await silent.expectNone(100);
      const p = mesh.server.proxy('n-1')!;
      assert.equal(p.state, 'awaitingAck');
      assert.equal(p.pushes.length, 1, 'nothing queued behind the unacknowledged response');
    } finally {
      silent.close();
      acking.close();
    }
  });

  it('refuses streams beyond maxProxies with RESOURCE_EXHAUSTED and counts them', async () => {
    const small = await startMesh({ maxProxies: 2 });
    try {
      await small.append(svc('a', 1001));
      const c1 = new DeltaClient(small.address, node('m-1'));
      const c2 = new DeltaClient(small.address, node('m-2'));
      c1.request({ typeUrl: TypeUrl.Cluster });
      c2.request({ typeUrl: TypeUrl.Cluster });
      await c1.next();
      await c2.next();
      const c3 = new DeltaClient(small.address, node('m-3'));
      c3.request({ typeUrl: TypeUrl.Cluster });
      const status = await c3.status;
      assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(status.details, /at most 2 proxies/);
      assert.equal(await small.metrics.value('osm_proxy_max_connections_rejected'), 1);
      for (const c of [c1, c2, c3]) c.close();
    } finally {
      await small.close();
    }
  });

  it('survives 1,000 connect/disconnect cycles and returns to its baseline', async () => {
    const gc = gcFunction();
    await waitFor('earlier streams gone', () => mesh.server.stats().streams === 0);
    const channel = new grpc.Client(mesh.address, grpc.credentials.createInsecure());
    const cycle = async (i: number): Promise<void> => {
      const c = new DeltaClient(mesh.address, node(`c-${i}`), undefined, { shared: channel });
      c.request({ typeUrl: TypeUrl.Cluster });
      c.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['demo/a', 'demo/b'] });
      await c.next();
      if (i % 2 === 0) c.cancel();
      else c.close();
    };
    const run = async (from: number, count: number): Promise<void> => {
      const width = 25;
      for (let i = from; i < from + count; i += width) {
        await Promise.all(Array.from({ length: Math.min(width, from + count - i) }, (_, k) => cycle(i + k)));
      }
    };
    await run(0, 50); // warm-up: code paths, protobufjs caches
    await waitFor('warm-up streams gone', () => mesh.server.stats().streams === 0);
    gc();
    const baseline = process.memoryUsage().heapUsed;
    const t0 = Date.now();
    await run(50, 1000);
    const elapsed = Date.now() - t0;
    await waitFor('all streams gone', () => mesh.server.stats().streams === 0 && mesh.server.stats().proxies === 0, 10_000);
    channel.close();
    assert.deepEqual(mesh.server.stats(), { streams: 0, proxies: 0, roots: 0, pushesWaiting: 0 });
    assert.equal((mesh.engine.stats() as { roots?: number }).roots, 0, 'every retained root released');
    await new Promise((r) => setTimeout(r, 50));
    gc();
    const grown = process.memoryUsage().heapUsed - baseline;
    console.log(`# 1000 connect/disconnect cycles in ${elapsed} ms; heap after - before: ${(grown / 1024 / 1024).toFixed(2)} MiB`);
    assert.ok(grown < 8 * 1024 * 1024, `heap grew by ${(grown / 1024 / 1024).toFixed(1)} MiB over 1,000 cycles`);
    // The server still answers.
    const c = new DeltaClient(mesh.address, node('after'));
    c.request({ typeUrl: TypeUrl.Cluster });
    assert.equal((await c.next()).resources.length, 2);
    c.close();
  });
});
