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
