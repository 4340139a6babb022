import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor } from 'xstate';
import { TypeUrl } from '../xds/adapter.js';
import { XdsSession } from '../xds/protocol.js';
import { proxyMachine, type ProxyPort } from './proxy-machine.js';
import { Semaphore } from './supervisor.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('proxy machine', () => {
  it('coalesces invalidations within the window into one push, and releases roots on close', async () => {
    const session = new XdsSession({ mode: 'delta', typeUrls: [TypeUrl.Cluster] });
    const calls: string[] = [];
    let version = 0;
    const port: ProxyPort = {
      retain: () => calls.push('retain'),
      release: () => calls.push('release'),
      prepare: async () => {
        calls.push('prepare');
      },
      acquireSlot: async () => () => undefined,
      push: () => {
        calls.push('push');
        const r = { name: 'a', typeUrl: TypeUrl.Cluster, version: String(version), any: new Uint8Array(), dump: null };
        session.push(() => ({ set: new Map([['a', r]]), hash: String(version) }));
      },
      requestHandled: () => undefined,
      failed: (e) => calls.push(`failed:${String(e)}`),
    };
    const actor = createActor(proxyMachine, { input: { session, port, coalesceMs: 20 } }).start();
    actor.send({ type: 'CONNECTED' });
    actor.send({
      type: 'REQUEST',
      request: { kind: 'delta', node: undefined, typeUrl: TypeUrl.Cluster, subscribe: [], unsubscribe: [], initialResourceVersions: new Map(), responseNonce: '', errorDetail: undefined },
    });
    await tick(10);
    assert.deepEqual(calls, ['retain', 'prepare', 'push']);
    assert.equal(actor.getSnapshot().value, 'awaitingAck');
    const ackNonce = session.snapshot()[0]!.inFlightNonce!;
    actor.send({
      type: 'REQUEST',
      request: { kind: 'delta', node: undefined, typeUrl: TypeUrl.Cluster, subscribe: [], unsubscribe: [], initialResourceVersions: new Map(), responseNonce: ackNonce, errorDetail: undefined },
    });
    assert.equal(actor.getSnapshot().value, 'idle');
    for (let i = 1; i <= 5; i++) {
      version = i;
      actor.send({ type: 'INVALIDATE', cause: { offsets: [i], appendedAt: Date.now() } });
    }
    assert.equal(actor.getSnapshot().value, 'dirty');
    await tick(50);
    assert.equal(calls.filter((c) => c === 'push').length, 2, 'five invalidations, one push');
    assert.deepEqual(session.pushHistory()[1]!.offsets, [1, 2, 3, 4, 5]);
    actor.send({ type: 'CLOSE' });
    assert.equal(actor.getSnapshot().status, 'done');
    assert.equal(calls[calls.length - 1], 'release');
  });

  it('the semaphore bounds concurrent holders and serves waiters in order', async () => {
    const sem = new Semaphore(2);
    const order: number[] = [];
    const r1 = await sem.acquire();
    const r2 = await sem.acquire();
    const p3 = sem.acquire().then((r) => (order.push(3), r));
    const p4 = sem.acquire().then((r) => (order.push(4), r));
    assert.equal(sem.waiting, 2);
    r1();
    r1(); // a second release of the same slot is ignored
    const r3 = await p3;
    assert.equal(sem.waiting, 1);
    r2();
    const r4 = await p4;
    assert.deepEqual(order, [3, 4]);
    r3();
    r4();
    assert.equal(sem.inUse, 0);
  });
});
