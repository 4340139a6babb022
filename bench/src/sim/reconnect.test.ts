import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SimProxy } from './worker.js';
import { decodeRequest, encodeSotwResponse } from './xds.js';

const identity = (b: Buffer): Buffer => b;

test('a simulated proxy whose stream the server ends reports it and opens a new one, as Envoy does', async () => {
  // The server ends the first stream at once (as an idle-connection limit would) and configures the second
  // with empty CDS and LDS responses.
  let streams = 0;
  const server = new grpc.Server();
  server.addService(
    {
      StreamAggregatedResources: {
        path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
        requestStream: true,
        responseStream: true,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        const n = ++streams;
        if (n === 1) {
          call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'closed as idle' });
          return;
        }
        call.on('data', (buf: Buffer) => {
          const r = decodeRequest(buf, false);
          if (r.nonce === '') call.write(encodeSotwResponse(r.typeUrl, '1', `${r.typeUrl}-1`, []));
        });
        call.on('end', () => call.end());
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))),
  );
  const closed: string[] = [];
  let proxy: SimProxy | undefined;
  try {
    const configured = new Promise<void>((resolve) => {
      proxy = new SimProxy(0, 'uuid-1.envoy.sa.ns.cluster.local', `127.0.0.1:${port}`, 'sotw', {
        response: () => undefined,
        configured: () => resolve(),
        closed: (_p, _code, details) => closed.push(details),
      });
    });
    await Promise.race([configured, new Promise((_, reject) => setTimeout(() => reject(new Error('never configured after the server ended its stream')), 5000))]);
    assert.deepEqual(closed, ['closed as idle']);
    assert.equal(streams, 2);
  } finally {
    proxy?.close();
    server.forceShutdown();
  }
});
