import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@weft/core';
import { endpointsBody, LB_POLICY_ANNOTATION, serviceBody } from '../support/grpc-test-adapter.js';
import { startMesh, waitFor, type TestMesh } from '../support/mesh.js';

/**
 * Real proxyless gRPC: @grpc/grpc-js-xds clients resolve xds:///greeter.demo through Weft's ADS server and
 * make RPCs to real gRPC servers; events on the log move the traffic.
 */

const json = {
  serialize: (o: unknown): Buffer => Buffer.from(JSON.stringify(o)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString('utf8')) as unknown,
};
const PATH = '/weft.test.Greeter/SayHello';
const greeterDefinition: grpc.ServiceDefinition = {
  SayHello: {
    path: PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

async function startGreeter(name: string): Promise<{ port: number; server: grpc.Server; calls: () => number }> {
  const server = new grpc.Server();
  let calls = 0;
  server.addService(greeterDefinition, {
    SayHello: (call: grpc.ServerUnaryCall<{ name: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      calls++;
      cb(null, { message: `hello ${call.request.name}`, server: name });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, server, calls: () => calls };
}

function sayHello(client: grpc.Client, timeoutMs = 5000): Promise<{ server: string }> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      PATH,
      json.serialize,
      (b: Buffer) => json.deserialize(b) as { server: string },
      { name: 'weft' },
      { deadline: Date.now() + timeoutMs },
      (err, res) => (err || res === undefined ? reject(err ?? new Error('no response')) : resolve(res)),
    );
  });
}

describe('real @grpc/grpc-js-xds clients through Weft', () => {
  let mesh: TestMesh;
  let s1: Awaited<ReturnType<typeof startGreeter>>;
  let s2: Awaited<ReturnType<typeof startGreeter>>;
  let client: grpc.Client;

  before(async () => {
    mesh = await startMesh();
    s1 = await startGreeter('s1');
    s2 = await startGreeter('s2');
    await mesh.append([
      { source: 'test', op: 'upsert', kind: 'Service', key: 'demo/greeter', body: serviceBody('demo', 'greeter') },
      { source: 'test', op: 'upsert', kind: 'Endpoints', key: 'demo/greeter', body: endpointsBody('demo', 'greeter', [{ ip: '127.0.0.1', port: s1.port }]) },
    ]);
    process.env['GRPC_XDS_BOOTSTRAP_CONFIG'] = JSON.stringify({
      xds_servers: [{ server_uri: mesh.address, channel_creds: [{ type: 'insecure' }], server_features: [] }],
      node: {
        id: 'grpc-client-1',
        cluster: 'demo',
        locality: {},
        metadata: { kind: 'grpc', serviceAccount: 'client', namespace: 'demo' },
      },
    });
    const xds = await import('@grpc/grpc-js-xds');
    xds.register();
    client = new grpc.Client('xds:///greeter.demo', grpc.credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await mesh?.close();
    s1?.server.forceShutdown();
    s2?.server.forceShutdown();
  });

  it('makes RPCs with the config Weft serves, and an endpoint event reroutes them without a reconnect', async () => {
    const first = await sayHello(client);
    assert.equal(first.server, 's1');
    const proxies = mesh.server.proxies();
    assert.equal(proxies.length, 1);
    assert.equal(proxies[0]!.uuid, 'grpc-client-1');
    assert.deepEqual(
      proxies[0]!.types.map((t) => t.typeUrl).sort(),
      [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration].sort(),
    );
    await waitFor('all types ACKed', () => mesh.server.proxies()[0]!.types.every((t) => t.ackedVersion !== '' && t.inFlightNonce === null));
    const connects = await mesh.metrics.value('osm_proxy_connect_count');
    const streamId = proxies[0]!.id;

    await mesh.append([
      { source: 'test', op: 'upsert', kind: 'Endpoints', key: 'demo/greeter', body: endpointsBody('demo', 'greeter', [{ ip: '127.0.0.1', port: s2.port }]) },
    ]);
    let served = '';
    await waitFor('traffic on s2', async () => {
      served = (await sayHello(client)).server;
      return served === 's2';
    });
    for (let i = 0; i < 5; i++) assert.equal((await sayHello(client)).server, 's2');
    assert.equal(await mesh.metrics.value('osm_proxy_connect_count'), connects, 'no new ADS connection');
    assert.equal(mesh.server.proxies()[0]!.id, streamId, 'same stream');
    // The push that moved traffic was EDS only, and it names the event that caused it.
    const detail = mesh.server.proxy('grpc-client-1')!;
    const last = detail.pushes[detail.pushes.length - 1]!;
    assert.equal(last.typeUrl, TypeUrl.ClusterLoadAssignment);
    assert.ok(last.offsets.includes(mesh.catalog.lastOffset), `push offsets ${JSON.stringify(last.offsets)} include the endpoint event`);
    await waitFor('convergence observed', async () => (await mesh.metrics.count('weft_convergence_seconds')) > 0);
    assert.ok((await mesh.metrics.value('weft_events_applied_total', { kind: 'Endpoints', op: 'upsert' })) >= 2);
    assert.equal(await mesh.metrics.value('weft_log_offset'), mesh.catalog.lastOffset);
    assert.ok((await mesh.metrics.value('weft_derivations_recomputed_total')) > 0);
    assert.equal(await mesh.metrics.value('weft_connected_proxies'), 1);
    assert.ok((await mesh.metrics.value('osm_proxy_response_send_success_count', { type: 'EDS' })) >= 2);
  });

  it('a cluster the client NACKs leaves it on its last good config, and Weft reports the NACK', async () => {
    await mesh.append([
      {
        source: 'test',
        op: 'upsert',
        kind: 'Service',
        key: 'demo/greeter',
        body: serviceBody('demo', 'greeter', { [LB_POLICY_ANNOTATION]: 'MAGLEV' }),
      },
    ]);
    await waitFor('NACK reported', () => mesh.server.proxies()[0]!.types.find((t) => t.typeUrl === TypeUrl.Cluster)!.lastNack !== null);
    const cds = mesh.server.proxies()[0]!.types.find((t) => t.typeUrl === TypeUrl.Cluster)!;
    assert.match(cds.lastNack!.message, /lb_policy|MAGLEV|validation/i);
    assert.notEqual(cds.ackedVersion, cds.lastVersionSent, 'the rejected version is not the acked one');
    assert.ok((await mesh.metrics.value('weft_xds_nacks_total', { type: 'CDS' })) >= 1);
    assert.equal(mesh.server.proxies()[0]!.state, 'holding');
    assert.ok(mesh.logger.records.some((r) => r.msg.includes('NACKed')));
    // Still serving with the last good config.
    for (let i = 0; i < 3; i++) assert.equal((await sayHello(client)).server, 's2');

    // A good config again is accepted.
    await mesh.append([{ source: 'test', op: 'upsert', kind: 'Service', key: 'demo/greeter', body: serviceBody('demo', 'greeter') }]);
    await waitFor('ACK of the fixed cluster', () => {
      const t = mesh.server.proxies()[0]!.types.find((x) => x.typeUrl === TypeUrl.Cluster)!;
      return t.ackedVersion === t.lastVersionSent && t.inFlightNonce === null;
    });
    assert.equal((await sayHello(client)).server, 's2');
  });
});
