import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { proxyMachine } from './proxy-machine.js';
import { PushQueue } from './push-queue.js';

/**
 * A machine whose I/O records what it was asked to do; `holding` stands for the session's NACK state and
 * `needsPreparation` for whether the proxy has something to await before its first push (it has by default).
 */
function harness(options: { prepare?: () => Promise<void>; needsPreparation?: boolean } = {}) {
  const calls: string[] = [];
  const state = { holding: false };
  const machine = proxyMachine.provide({
    actions: {
      retainRoots: ({ context }) => void calls.push(`retain:${context.streamId}`),
      releaseRoots: ({ context }) => void calls.push(`release:${context.streamId}`),
      requestPush: () => void calls.push('push'),
      reportFailure: ({ event }) => void calls.push(`failed:${String((event as { error?: unknown }).error)}`),
    },
    guards: { holdingNack: () => state.holding, needsPreparation: () => options.needsPreparation ?? true },
    actors: {
      prepare: fromPromise<void, { streamId: number }>(async () => {
        calls.push('prepare');
        await options.prepare?.();
      }),
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, { input: { streamId: 7 }, clock }).start();
  return { calls, state, clock, actor };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('proxy machine', () => {
  it('retains on connect, asks for the first push once prepared, and releases on close', async () => {
    const { calls, actor } = harness();
    assert.equal(actor.getSnapshot().value, 'handshake');
    actor.send({ type: 'CONNECTED' });
    assert.equal(actor.getSnapshot().value, 'syncing');
    await settle();
    assert.equal(actor.getSnapshot().value, 'idle');
    assert.deepEqual(calls, ['retain:7', 'prepare', 'push']);
    actor.send({ type: 'CLOSE' });
    assert.equal(actor.getSnapshot().status, 'done');
    assert.deepEqual(calls.slice(-1), ['release:7']);
  });

  it('a proxy with nothing to prepare goes straight to idle and asks for its push without invoking prepare', async () => {
    const { calls, actor } = harness({ needsPreparation: false });
    actor.send({ type: 'CONNECTED' });
    assert.equal(actor.getSnapshot().value, 'idle', 'no syncing step: nothing is awaited');
    assert.deepEqual(calls, ['retain:7', 'push']);
    await settle();
    assert.deepEqual(calls, ['retain:7', 'push'], 'prepare is never invoked later either');
    assert.deepEqual(Object.keys(actor.getSnapshot().children), []);
  });

  it('a proxy with something to prepare waits in syncing until the preparation is done', async () => {
    let finish!: () => void;
    const { calls, actor } = harness({ needsPreparation: true, prepare: () => new Promise<void>((r) => (finish = r)) });
    actor.send({ type: 'CONNECTED' });
    await settle();
    assert.equal(actor.getSnapshot().value, 'syncing');
    assert.deepEqual(calls, ['retain:7', 'prepare'], 'no push before the preparation is done');
    finish();
    await settle();
    assert.equal(actor.getSnapshot().value, 'idle');
    assert.deepEqual(calls, ['retain:7', 'prepare', 'push']);
  });

  it('a failed preparation closes the machine and reports the error', async () => {
    const { calls, actor } = harness({ prepare: () => Promise.reject(new Error('no certificate')) });
    actor.send({ type: 'CONNECTED' });
    await settle();
    assert.equal(actor.getSnapshot().status, 'done');
    assert.ok(calls.includes('failed:Error: no certificate'), calls.join(','));
    assert.ok(!calls.includes('push'));
  });

  it('a deferred push waits out the window on the clock, then asks for one push', async () => {
    const { calls, clock, actor } = harness();
    actor.send({ type: 'CONNECTED' });
    await settle();
    calls.length = 0;
    actor.send({ type: 'DEFER', waitMs: 4 });
    assert.equal(actor.getSnapshot().value, 'coalescing');
    // Further deferrals while waiting change nothing: the one wait covers them.
    actor.send({ type: 'DEFER', waitMs: 4 });
    clock.increment(3);
    assert.deepEqual(calls, []);
    assert.equal(actor.getSnapshot().value, 'coalescing');
    clock.increment(1);
    assert.deepEqual(calls, ['push']);
    assert.equal(actor.getSnapshot().value, 'idle');
    assert.equal(actor.getSnapshot().context.deferrals, 1);
  });

  it('holds after a NACK, through a coalescing wait, until the proxy recovers', async () => {
    const { state, clock, actor } = harness();
    actor.send({ type: 'CONNECTED' });
    await settle();
    state.holding = true;
    actor.send({ type: 'NACKED' });
    assert.equal(actor.getSnapshot().value, 'holding');
    actor.send({ type: 'DEFER', waitMs: 5 });
    clock.increment(5);
    assert.equal(actor.getSnapshot().value, 'holding', 'still holding: the session says so');
    state.holding = false;
    actor.send({ type: 'RECOVERED' });
    assert.equal(actor.getSnapshot().value, 'idle');
  });

  it('a machine used without its I/O provided fails loudly', () => {
    const actor = createActor(proxyMachine, { input: { streamId: 1 } });
    const errors: unknown[] = [];
    actor.subscribe({ error: (e) => errors.push(e) });
    actor.start();
    actor.send({ type: 'CONNECTED' });
    assert.match(String(errors[0]), /retainRoots.*not provided/);
  });
});

describe('push queue', () => {
  it('flushes everything added in one synchronous run once, in order, each proxy once', async () => {
    const pushed: string[] = [];
    const q = new PushQueue<string>({ maxPerSlice: 100, push: (p) => pushed.push(p) });
    for (const p of ['a', 'b', 'a', 'c', 'b']) q.add(p);
    assert.equal(q.waiting, 3);
    assert.deepEqual(pushed, [], 'nothing before the flush');
    await Promise.resolve();
    assert.deepEqual(pushed, ['a', 'b', 'c']);
    assert.equal(q.sliceCount, 1);
    assert.equal(q.waiting, 0);
  });

  it('bounds the pushes of one slice and yields to I/O between slices', async () => {
    const pushed: number[] = [];
    const slices: number[] = [];
    const q = new PushQueue<number>({
      maxPerSlice: 3,
      push: (p) => pushed.push(p),
      yieldToIo: (run) => {
        slices.push(pushed.length);
        setImmediate(run);
      },
    });
    for (let i = 0; i < 8; i++) q.add(i);
    await Promise.resolve();
    assert.deepEqual(pushed, [0, 1, 2]);
    await settle();
    await settle();
    assert.deepEqual(pushed, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(slices, [3, 6]);
    assert.equal(q.sliceCount, 3);
  });

  it('a deleted proxy is not pushed, and a bad bound is refused', async () => {
    const pushed: string[] = [];
    const q = new PushQueue<string>({ maxPerSlice: 2, push: (p) => pushed.push(p) });
    q.add('a');
    q.add('b');
    q.delete('a');
    await Promise.resolve();
    assert.deepEqual(pushed, ['b']);
    assert.throws(() => new PushQueue({ maxPerSlice: 0, push: () => undefined }), RangeError);
  });
});
