import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TypeUrl } from '@weft/core';
import { DeltaClient, type DeltaResponseView } from '../support/delta-client.js';
import { computeCounts, endpointsEvent, serviceBody } from '../support/grpc-test-adapter.js';
import { startMesh, waitFor, type TestMesh } from '../support/mesh.js';

const node = (id: string) => ({ id, metadata: { kind: 'grpc', serviceAccount: `sa-${id}`, namespace: 'demo' } });
const svc = (name: string) => ({ source: 'test', op: 'upsert' as const, kind: 'Service' as const, key: `demo/${name}`, body: serviceBody('demo', name) });
const eps = endpointsEvent;
const portOf = (r: DeltaResponseView): number =>
  (r.resources[0]!.message['endpoints'] as { lbEndpoints: { endpoint: { address: { socketAddress: { portValue: number } } } }[] }[])[0]!
    .lbEndpoints[0]!.endpoint.address.socketAddress.portValue;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A proxy subscribed to the EDS of one service, acknowledging every response and recording when it came. */
async function edsProxy(mesh: TestMesh, id: string, service: string) {
  const c = new DeltaClient(mesh.address, node(id));
  const seen: { at: number; response: DeltaResponseView }[] = [];
  c.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: [`demo/${service}`] });
  const first = await c.next();
  c.ack(first);
  return {
    client: c,
    seen,
    /** Reads and ACKs every response for `ms`. */
    async drain(ms: number): Promise<void> {
      const until = Date.now() + ms;
      for (;;) {
        const left = until - Date.now();
        if (left <= 0) return;
        const r = await c.next(left).catch(() => undefined);
        if (r === undefined) return;
        seen.push({ at: performance.now(), response: r });
        c.ack(r);
      }
    },
  };
}

describe('push path: one flush per batch', () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await startMesh({ coalesceMs: 100, maxConcurrentPushes: 1 });
    await mesh.append([svc('a'), svc('b'), eps('a', 1001), eps('b', 2001)]);
  });
  after(async () => {
    await mesh.close();
  });

  it('a batch reaches every proxy it changes, each once, recomputes the shared set once, and nothing reaches the others', async () => {
    const p1 = await edsProxy(mesh, 'one', 'a');
    const p2 = await edsProxy(mesh, 'two', 'a');
    const p3 = await edsProxy(mesh, 'three', 'b');
    try {
      // Out of the coalescing window of the first sync, so the change goes out at once.
      await sleep(120);
      const computes = computeCounts.get(TypeUrl.ClusterLoadAssignment) ?? 0;
      const start = performance.now();
      await mesh.append([eps('a', 1002)]);
      await Promise.all([p1.drain(300), p2.drain(300), p3.drain(300)]);
      for (const p of [p1, p2]) {
        assert.equal(p.seen.length, 1, 'one response per changed proxy');
        assert.equal(portOf(p.seen[0]!.response), 1002);
        // Leading edge: the push did not wait out the 100 ms window (a bound far above a local round trip).
        assert.ok(p.seen[0]!.at - start < 90, `pushed after ${(p.seen[0]!.at - start).toFixed(1)} ms`);
      }
      assert.equal(p3.seen.length, 0, 'nothing to the proxy whose subscription did not change');
      assert.equal((computeCounts.get(TypeUrl.ClusterLoadAssignment) ?? 0) - computes, 1, 'the shared EDS set was computed once for all proxies');
      // maxConcurrentPushes 1: the flush ran in slices, and left nothing behind.
      assert.equal(mesh.server.stats().pushesWaiting, 0);
    } finally {
      for (const p of [p1, p2, p3]) p.client.close();
    }
  });

  it("a proxy's new subscription is answered at once, even within the coalescing window of its last push", async () => {
    const p = await edsProxy(mesh, 'asker', 'a');
    try {
      // Right after the first push: a change now would wait out the 100 ms window, a request does not.
      const start = performance.now();
      p.client.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['demo/b'] });
      const r = await p.client.next();
      const took = performance.now() - start;
      assert.deepEqual(
        r.resources.map((x) => x.name),
        ['demo/b'],
      );
      assert.ok(took < 60, `answered after ${took.toFixed(1)} ms`);
      p.client.ack(r);
      await waitFor('back to idle', () => mesh.server.proxy('asker')?.state === 'idle');
    } finally {
      p.client.close();
    }
  });

  it('a busy proxy is pushed at most once per coalescing window, and the last change wins', async () => {
    const p = await edsProxy(mesh, 'busy', 'b');
    try {
      await sleep(120);
      const changes = (async () => {
        for (let port = 3001; port <= 3005; port++) {
          await mesh.append([eps('b', port)]);
          await sleep(10);
        }
      })();
      await Promise.all([changes, p.drain(400)]);
      const at = p.seen.map((s) => s.at);
      assert.ok(at.length >= 2 && at.length <= 3, `five changes in ~50 ms came as ${at.length} responses`);
      for (let i = 1; i < at.length; i++) {
        // Timers fire on whole milliseconds: allow 2 ms of slack under the 100 ms window.
        assert.ok(at[i]! - at[i - 1]! >= 98, `two pushes ${(at[i]! - at[i - 1]!).toFixed(1)} ms apart`);
      }
      assert.equal(portOf(p.seen[p.seen.length - 1]!.response), 3005);
      await waitFor('back to idle', () => mesh.server.proxy('busy')?.state === 'idle');
    } finally {
      p.client.close();
    }
  });
});
