/**
 * consumePartition's start against a real Apache Kafka (deploy/kafka/start.sh): a reader whose group join
 * fails. kafkajs's consumer.run() resolves after such a failure (it crashed the consumer and cleared its
 * group), so seeking right after it used to fail with "Consumer group was not initialized", which the wrapper
 * then blamed on the brokers. Without a broker these are skipped with the reason, except under CI=true.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as net from 'node:net';
import { test } from 'node:test';
import { Kafka, logLevel, Partitioners, type ISocketFactory } from 'kafkajs';
import { consumePartition, type ConsumeOptions, type RawMessage } from './consume.js';
import { KafkaUnavailableError } from './errors.js';
import { useTestBroker } from './testing.js';

let topic = '';
const broker = useTestBroker(async (brokers) => {
  // Five messages, Kafka offsets 0..4; their content does not matter to a raw read.
  topic = `weft-test-consume-${randomUUID()}`;
  const kafka = new Kafka({ clientId: 'weft-test', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await admin.connect();
  await producer.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
    await producer.send({ topic, acks: -1, messages: [0, 1, 2, 3, 4].map((i) => ({ partition: 0, value: `m${i}` })) });
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
});

/** Kafka's API key of JoinGroup requests (the first int16 after a request's size). */
const JOIN_GROUP = 11;

/** A socket factory that closes the connection carrying the first `times` JoinGroup requests. */
function cuttingJoins(times: number): { factory: ISocketFactory; cut: () => number } {
  let cut = 0;
  const factory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = net.connect({ host, port }, onConnect);
    const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (cut < times && Buffer.isBuffer(chunk) && chunk.length >= 6 && chunk.readInt16BE(4) === JOIN_GROUP) {
        cut++;
        // With an error, as a reset connection would: kafkajs fails the requests on it at once.
        socket.destroy(new Error('JoinGroup connection cut by the test'));
        return false;
      }
      return write(chunk, ...rest);
    }) as typeof socket.write;
    return socket;
  };
  return { factory, cut: () => cut };
}

function options(kafka: Kafka, extra: Partial<ConsumeOptions> = {}): ConsumeOptions {
  return { kafka, brokers: broker.brokers, topic, start: 2, end: 5, stallMs: 10_000, sessionTimeoutMs: 30_000, maxWaitMs: 100, ...extra };
}

async function offsetsOf(reader: AsyncIterable<RawMessage[]>): Promise<number[]> {
  const out: number[] = [];
  for await (const batch of reader) out.push(...batch.map((m) => m.offset));
  return out;
}

/** Every error on the cause chain. */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && out.length < 10; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

test('a reader whose group join is cut reads from its start all the same', async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const cutting = cuttingJoins(1);
  const kafka = new Kafka({ clientId: 'weft-test', brokers: broker.brokers, logLevel: logLevel.NOTHING, socketFactory: cutting.factory });
  assert.deepEqual(await offsetsOf(consumePartition(options(kafka))), [2, 3, 4]);
  assert.equal(cutting.cut(), 1, 'the join was cut once');
});

test('the join cut again and again: the reader gives up with the real cause, not a made-up one', async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const kafka = new Kafka({ clientId: 'weft-test', brokers: broker.brokers, logLevel: logLevel.NOTHING, socketFactory: cuttingJoins(1000).factory });
  await assert.rejects(offsetsOf(consumePartition(options(kafka, { stallMs: 3000 }))), (err: unknown) => {
    assert.ok(err instanceof KafkaUnavailableError, String(err));
    assert.doesNotMatch(err.message, /Consumer group was not initialized/);
    // The cut connection is the cause; the message says what the reader saw, and only then suggests the network.
    assert.match(err.message, /starting a reader/);
    assert.ok(chain(err).some((e) => /JoinGroup connection cut by the test/.test((e as Error).message)), 'the last join failure is the cause');
    return true;
  });
});

test('a group the broker refuses: the reader fails with the broker\'s reason and blames nothing else', async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const kafka = new Kafka({ clientId: 'weft-test', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  // Below the broker's group.min.session.timeout.ms (6 s by default): JoinGroup answers INVALID_SESSION_TIMEOUT.
  await assert.rejects(offsetsOf(consumePartition(options(kafka, { sessionTimeoutMs: 1000 }))), (err: unknown) => {
    assert.ok(err instanceof KafkaUnavailableError, String(err));
    assert.doesNotMatch(err.message, /Consumer group was not initialized/);
    assert.doesNotMatch(err.message, /Check that the brokers are running/, 'the brokers answered: they are not at fault');
    assert.match(err.message, /session timeout/i, 'the broker\'s own words are kept');
    assert.equal(err.retriable, false);
    assert.ok(chain(err).some((e) => (e as { type?: unknown }).type === 'INVALID_SESSION_TIMEOUT'), 'the original error is the cause');
    return true;
  });
});

test('a reader that gives up while joining leaves no promise rejected unhandled', async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const kafka = new Kafka({ clientId: 'weft-test', brokers: broker.brokers, logLevel: logLevel.NOTHING });
    // Too short for a join: the read gives up while kafkajs is still starting.
    await assert.rejects(offsetsOf(consumePartition(options(kafka, { stallMs: 5 }))), /no progress in 5 ms/);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(unhandled.map(String), []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
