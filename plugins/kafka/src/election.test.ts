import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { captureLogger } from '@weft/core';
import { WriterElection } from './election.js';

/**
 * A consumer whose subscribe() fails `failures` times as a broker that does not know a topic created a
 * moment ago answers (UNKNOWN_TOPIC_OR_PARTITION), then works; run() joins the group at once as the
 * only member, holding partition 0.
 */
function fakeKafka(failures: number, topic: string): { kafka: Kafka; subscribes: () => number } {
  let subscribes = 0;
  const handlers = new Map<string, (e: unknown) => void>();
  const consumer = {
    events: { HEARTBEAT: 'heartbeat', GROUP_JOIN: 'group_join', CRASH: 'crash' },
    on: (name: string, fn: (e: unknown) => void) => handlers.set(name, fn),
    connect: async () => undefined,
    subscribe: async () => {
      subscribes++;
      if (subscribes <= failures) {
        throw Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true });
      }
    },
    run: async () => {
      handlers.get('group_join')?.({ payload: { memberAssignment: { [topic]: [0] } } });
    },
    pause: () => undefined,
    disconnect: async () => undefined,
    describeGroup: async () => ({ members: [] }),
  };
  return { kafka: { consumer: () => consumer } as unknown as Kafka, subscribes: () => subscribes };
}

describe('WriterElection', () => {
  it('asks again while a topic created a moment ago is unknown to the broker asked, then holds partition 0', async () => {
    const topic = 'weft-events';
    const fake = fakeKafka(2, topic);
    const changes: boolean[] = [];
    const election = new WriterElection({
      kafka: fake.kafka,
      topic,
      replicaId: 'r1',
      sessionTimeoutMs: 6000,
      logger: captureLogger(),
      onChange: (assigned) => changes.push(assigned),
    });
    await election.start();
    assert.equal(fake.subscribes(), 3);
    assert.equal(election.holds, true);
    assert.deepEqual(changes, [true]);
    await election.stop();
  });

  it('starts when the group consumer crashed during its first join (pause then refused) and joins on its restart', async () => {
    const topic = 'weft-events';
    const fake = fakeKafka(0, topic);
    const base = fake.kafka.consumer({ groupId: 'g' }) as unknown as Record<string, unknown> & { on: (n: string, fn: (e: unknown) => void) => void };
    let join: ((e: unknown) => void) | undefined;
    const crashed = {
      ...base,
      on: (name: string, fn: (e: unknown) => void) => {
        if (name === 'group_join') join = fn;
        base.on(name, fn);
      },
      // The first join failed: kafkajs crashed the consumer (its group is gone until the restart) and run() returned.
      run: async () => undefined,
      pause: () => {
        throw new Error('Consumer group was not initialized, consumer#run must be called first');
      },
    };
    const election = new WriterElection({
      kafka: { consumer: () => crashed } as unknown as Kafka,
      topic,
      replicaId: 'r1',
      sessionTimeoutMs: 6000,
      logger: captureLogger(),
      onChange: () => undefined,
    });
    await election.start();
    assert.equal(election.holds, false);
    // The restart joins; its pause is refused as well here, and the role is taken all the same.
    join!({ payload: { memberAssignment: { [topic]: [0] } } });
    assert.equal(election.holds, true);
    await election.stop();
  });

  it('gives up on an error that a wait does not mend, with that error', async () => {
    const fake = fakeKafka(0, 'weft-events');
    const election = new WriterElection({
      kafka: { consumer: () => ({ ...(fake.kafka.consumer({ groupId: 'g' }) as object), subscribe: async () => { throw Object.assign(new Error('not authorized'), { type: 'TOPIC_AUTHORIZATION_FAILED', retriable: false }); } }) } as unknown as Kafka,
      topic: 'weft-events',
      replicaId: 'r1',
      sessionTimeoutMs: 6000,
      logger: captureLogger(),
      onChange: () => undefined,
    });
    await assert.rejects(election.start(), /not authorized/);
  });
});
