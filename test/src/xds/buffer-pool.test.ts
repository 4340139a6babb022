import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypeUrl } from '@weft/core';
import { DEFAULT_BUFFER_POOL_SIZE } from '@weft/core/testing';
import { DeltaClient } from '../support/delta-client.js';
import { endpointsBody, serviceBody } from '../support/grpc-test-adapter.js';
import { startMesh } from '../support/mesh.js';

/**
 * The ADS server sets Node's Buffer pool size while it listens (small pool chunks keep frames waiting on a
 * proxy's socket from taking shared chunks into the old generation) and gives the old size back when it
 * closes; responses are the same bytes either way.
 */

const node = (id: string) => ({ id, metadata: { kind: 'grpc', serviceAccount: 'client', namespace: 'demo' } });
const events = [
  { source: 'test', op: 'upsert' as const, kind: 'Service' as const, key: 'demo/a', body: serviceBody('demo', 'a') },
  { source: 'test', op: 'upsert' as const, kind: 'Endpoints' as const, key: 'demo/a', body: endpointsBody('demo', 'a', [{ ip: '127.0.0.1', port: 1001 }]) },
];

/** The clusters and endpoints one proxy is served, with the server's pool size as set. */
async function served(options: { bufferPoolSize?: number }): Promise<{ poolWhileListening: number; names: string[]; endpoints: number }> {
  const mesh = await startMesh(options);
  try {
    await mesh.append(events);
    const poolWhileListening = Buffer.poolSize;
    const client = new DeltaClient(mesh.address, node(`pool-${options.bufferPoolSize ?? 'default'}`));
    try {
      client.request({ typeUrl: TypeUrl.Cluster });
      const clusters = await client.next();
      client.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['demo/a'] });
      const cla = await client.next();
      return { poolWhileListening, names: clusters.resources.map((r) => r.name), endpoints: cla.resources.length };
    } finally {
      client.close();
    }
  } finally {
    await mesh.close();
  }
}

describe('ADS server and the Buffer pool', () => {
  it('sets the pool size while listening (default and configured), restores it on close, and serves the same', async () => {
    const before = Buffer.poolSize;
    assert.notEqual(before, DEFAULT_BUFFER_POOL_SIZE, 'the test needs Node\'s own pool size to start from');
    const byDefault = await served({});
    assert.equal(byDefault.poolWhileListening, DEFAULT_BUFFER_POOL_SIZE);
    assert.equal(Buffer.poolSize, before, 'restored on close');
    const configured = await served({ bufferPoolSize: 4096 });
    assert.equal(configured.poolWhileListening, 4096);
    assert.equal(Buffer.poolSize, before);
    assert.deepEqual(configured.names, ['demo/a']);
    assert.deepEqual(byDefault.names, configured.names);
    assert.equal(byDefault.endpoints, 1);
    assert.equal(configured.endpoints, 1);
  });

  it('gives the pool size back only when the last listening server closes', async () => {
    const before = Buffer.poolSize;
    const a = await startMesh({});
    const b = await startMesh({ bufferPoolSize: 2048 });
    try {
      assert.equal(Buffer.poolSize, 2048);
      await a.close();
      assert.equal(Buffer.poolSize, 2048, 'still held by the other server');
    } finally {
      await a.close();
      await b.close();
    }
    assert.equal(Buffer.poolSize, before);
  });

  it('refuses a pool size that is not a whole number of bytes', async () => {
    await assert.rejects(startMesh({ bufferPoolSize: -1 }), /xds bufferPoolSize must be a whole number of bytes >= 0, got -1/);
    await assert.rejects(startMesh({ bufferPoolSize: 1.5 }), /got 1\.5/);
  });
});
