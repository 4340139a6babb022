/**
 * The Kafka log against a real Apache Kafka (deploy/kafka/start.sh). Without a broker the tests are skipped
 * with the reason, except under CI=true, where a missing broker fails them.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { captureLogger, Tokens, type EventInput, type EventLog, type EventLogBackend, type LogBatch } from '@weft/core';
import { createPluginContainer, decodeEventBody, eventLogConformance } from '@weft/core/testing';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { DEFAULT_KAFKA_CONFIG, type KafkaPluginConfig } from './config.js';
import { KafkaEventLog } from './kafka-log.js';
import { plugin } from './index.js';
import { startBroker, stopBroker, useTestBroker } from './testing.js';

const broker = useTestBroker();

const config: KafkaPluginConfig = { ...DEFAULT_KAFKA_CONFIG, clientId: 'weft-test', requestTimeoutMs: 10_000 };
const newTopic = (): string => `weft-test-${randomUUID()}`;

function open(topic: string, options: { readOnly?: boolean; keepRecords?: boolean } = {}): Promise<KafkaEventLog> {
  return KafkaEventLog.open({ brokers: broker.brokers, topic, config, logger: captureLogger(), ...options });
}

async function collect<T>(iter: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iter) out.push(x);
  return out;
}

const input = (key: string, n = 0): EventInput => ({
  source: 'test',
  op: 'upsert',
  kind: 'Workload',
  key,
  body: { meta: { namespace: 'ns', name: key, labels: { n: String(n) }, annotations: {} } },
});
const batchOf = (prefix: string, n: number): EventInput[] => Array.from({ length: n }, (_, i) => input(`ns/${prefix}-${i}`, i));

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// The suite every EventLog passes, each test on a fresh topic; registered once the broker is known.
describe('KafkaEventLog conformance', async () => {
  const found = await broker.lookup;
  if (found.brokers === null) {
    test('the EventLog conformance suite', (t) => {
      if (process.env['CI'] === 'true') throw new Error(`CI=true and ${found.reason}`);
      t.skip(found.reason);
    });
    return;
  }
  const addresses = found.brokers.split(',');
  eventLogConformance('KafkaEventLog', () =>
    KafkaEventLog.open({ brokers: addresses, topic: newTopic(), config, logger: captureLogger() }),
  );
});

test('an acknowledged append is readable by a new reader after the writer is gone', async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const topic = newTopic();
  const writer = await open(topic);
  const a = await writer.append(batchOf('a', 3));
  const b = await writer.append(batchOf('b', 2));
  await writer.close();
  assert.deepEqual([...a, ...b], [0, 1, 2, 3, 4]);

  const reader = await open(topic, { readOnly: true });
  try {
    assert.equal(reader.head(), 5);
    const batches = await collect(reader.read());
    assert.deepEqual(batches.map((x) => x.events.map((e) => [e.offset, e.key])), [
      [[0, 'ns/a-0'], [1, 'ns/a-1'], [2, 'ns/a-2']],
      [[3, 'ns/b-0'], [4, 'ns/b-1']],
    ]);
    assert.deepEqual(batches[1]!.events[1]!.body, input('ns/b-1', 1).body);
    await assert.rejects(reader.append(batchOf('c', 1)), (err: unknown) => {
      assert.equal((err as { code?: unknown }).code, 'LOG_UNAVAILABLE');
      assert.match((err as Error).message, /read-only/);
      return true;
    });
  } finally {
    await reader.close();
  }
});

test('readEncoded gives what read gives, bodies as bytes (also from the records the open kept)', async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const topic = newTopic();
  const writer = await open(topic);
  await writer.append(batchOf('x', 4));
  await writer.append([{ source: 'test', op: 'delete', kind: 'Workload', key: 'ns/x-1' }]);
  await writer.append(batchOf('y', 2));
  await writer.close();

  const reader = await open(topic, { readOnly: true, keepRecords: true });
  try {
    const viaRead = (await collect(reader.read(0))).map((b) => b.events);
    const decode = (batches: (readonly Parameters<typeof decodeEventBody>[0][])[]): unknown[] =>
      batches.map((b) => b.map((e) => decodeEventBody(e)));
    // First whole read: from the records the open kept; then from Kafka.
    assert.deepEqual(decode(await collect(reader.readEncoded(0))), viaRead);
    assert.deepEqual(decode(await collect(reader.readEncoded(0))), viaRead);
    assert.deepEqual(decode(await collect(reader.readEncoded(2))), (await collect(reader.read(2))).map((b) => b.events));
  } finally {
    await reader.close();
  }
});

test('follow sees appends from another writer; offsets stay one sequence across writers', async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const topic = newTopic();
  const a = await open(topic);
  const b = await open(topic);
  try {
    assert.deepEqual(await a.append(batchOf('a', 2)), [0, 1]);
    const seen: LogBatch[] = [];
    const sub = a.follow(0, (batch) => {
      seen.push(batch);
    });
    // b opened before a's append: it learns of it only by reading, and numbers its own batch after it.
    assert.deepEqual(await b.append(batchOf('b', 3)), [2, 3, 4]);
    await until(() => seen.flatMap((x) => x.events).length === 5, 'the follower to see b');
    assert.deepEqual(seen.map((x) => x.events.map((e) => e.offset)), [[0, 1], [2, 3, 4]]);
    assert.equal(a.head(), 5, "a's head includes what its follower saw");
    // Writers racing: every append gets offsets no other append got, and readers see them in that order.
    const results = await Promise.all([a.append(batchOf('ra', 2)), b.append(batchOf('rb', 3)), a.append(batchOf('rc', 1))]);
    const all = results.flat().sort((x, y) => x - y);
    assert.deepEqual(all, [5, 6, 7, 8, 9, 10]);
    await until(() => seen.flatMap((x) => x.events).length === 11, 'the follower to see the race');
    const followed = seen.flatMap((x) => x.events.map((e) => [e.offset, e.key]));
    const reader = await open(topic, { readOnly: true });
    const read = (await collect(reader.read())).flatMap((x) => x.events.map((e) => [e.offset, e.key]));
    await reader.close();
    assert.deepEqual(followed, read);
    for (const [i, batch] of [batchOf('ra', 2), batchOf('rb', 3), batchOf('rc', 1)].entries()) {
      assert.deepEqual(results[i]!.map((o) => read[o]![1]), batch.map((e) => e.key), 'returned offsets point at the batch');
    }
    await sub.close();
  } finally {
    await a.close();
    await b.close();
  }
});

test('batches fit the topic: a batch over maxBatchBytes is refused, queued batches are sent in groups that fit', async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const small = { ...config, maxBatchBytes: 4096 };
  const log = await KafkaEventLog.open({ brokers: broker.brokers, topic: newTopic(), config: small, logger: captureLogger() });
  try {
    await assert.rejects(log.append(batchOf('huge', 60)), (err: unknown) => {
      assert.equal((err as { code?: unknown }).code, 'EVENT_BATCH_TOO_LARGE');
      assert.match((err as Error).message, /over the Kafka log's maxBatchBytes \(4096\); nothing was written/);
      return true;
    });
    assert.equal(log.head(), 0);
    // ~1.4 KiB each: the topic (max.message.bytes 4096) takes two per produce request, not all twelve.
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => log.append(batchOf(`g${i}`, 12))));
    assert.deepEqual(results.flat(), Array.from({ length: 144 }, (_, i) => i));
    const read = (await collect(log.read())).map((b) => b.events.length);
    assert.deepEqual(read, Array.from({ length: 12 }, () => 12));
  } finally {
    await log.close();
  }
});

test('a message that is not a Weft batch is a typed error naming topic, partition and offset', async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const topic = newTopic();
  const writer = await open(topic);
  await writer.append(batchOf('ok', 2));
  const kafka = new Kafka({ clientId: 'weft-test-garbage', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic, messages: [{ partition: 0, value: Buffer.from('this is not a protobuf batch \xff\xff\xff') }] });
  await producer.disconnect();
  const expectGarbage = (err: unknown): true => {
    assert.equal((err as { code?: unknown }).code, 'EVENT_DECODE_FAILED');
    assert.match((err as Error).message, new RegExp(`Kafka topic "${topic}" partition 0 offset 1`));
    return true;
  };
  try {
    await assert.rejects(open(topic, { readOnly: true }), expectGarbage);
    // The writer learns of the message when it numbers its next batch: it cannot, and says why.
    await assert.rejects(writer.append(batchOf('late', 1)), expectGarbage);
  } finally {
    await writer.close();
  }
});

test('the topic must have one partition and keep its first message', async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const kafka = new Kafka({ clientId: 'weft-test-admin', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const two = newTopic();
    // kafkajs's waitForLeaders gives up on the first UNKNOWN_TOPIC_OR_PARTITION a loaded broker may answer
    // right after the create; ask until the metadata has both partitions' leaders (bounded).
    await admin.createTopics({ waitForLeaders: false, topics: [{ topic: two, numPartitions: 2 }] });
    for (let tries = 0; ; tries++) {
      const meta = await admin.fetchTopicMetadata({ topics: [two] }).catch(() => undefined);
      if (meta?.topics[0]?.partitions.length === 2 && meta.topics[0].partitions.every((p) => p.leader >= 0)) break;
      assert.ok(tries < 100, `topic ${two} has no leaders after 10 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await assert.rejects(open(two), /has 2 partitions; the event log needs exactly one/);

    const cut = newTopic();
    const log = await open(cut);
    await log.append(batchOf('old', 1));
    await log.append(batchOf('new', 1));
    await log.close();
    // kafkajs finds the partition's leader only in metadata it has fetched for the topic.
    await admin.fetchTopicMetadata({ topics: [cut] });
    await admin.deleteTopicRecords({ topic: cut, partitions: [{ partition: 0, offset: '1' }] });
    await assert.rejects(open(cut), (err: unknown) => {
      assert.equal((err as { code?: unknown }).code, 'LOG_TRUNCATED');
      assert.match((err as Error).message, /starts at offset 1/);
      return true;
    });
    await assert.rejects(open(newTopic(), { readOnly: true }), /does not exist/);
  } finally {
    await admin.disconnect();
  }
});

test('an unreachable broker fails the open with LOG_UNAVAILABLE, naming it, in bounded time', async () => {
  // A port that was just free: nothing listens there.
  const net = await import('node:net');
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const started = Date.now();
  await assert.rejects(
    KafkaEventLog.open({
      brokers: [`127.0.0.1:${port}`],
      topic: 'weft-nowhere',
      config: { ...config, connectionTimeoutMs: 300, requestTimeoutMs: 2_000 },
      logger: captureLogger(),
    }),
    (err: unknown) => {
      assert.equal((err as { code?: unknown }).code, 'LOG_UNAVAILABLE');
      assert.equal((err as { retriable?: unknown }).retriable, true);
      assert.match((err as Error).message, new RegExp(`brokers 127\\.0\\.0\\.1:${port}`));
      assert.match((err as Error).message, /Check that the brokers are running/);
      return true;
    },
  );
  assert.ok(Date.now() - started < 8_000, `failed after ${Date.now() - started} ms`);
});

test('a broker stopped under an open log: appends fail typed and bounded; what was stored stays', async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  // A broker of its own, so stopping it does not disturb the other tests.
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-kafka-stop-'));
  try {
    const own = await startBroker(runDir);
    const topic = newTopic();
    const cfg = { ...config, connectionTimeoutMs: 500, requestTimeoutMs: 3_000 };
    const log = await KafkaEventLog.open({ brokers: [own], topic, config: cfg, logger: captureLogger() });
    assert.deepEqual(await log.append(batchOf('before', 2)), [0, 1]);
    await stopBroker(runDir);
    const started = Date.now();
    await assert.rejects(log.append(batchOf('after', 1)), (err: unknown) => {
      assert.equal((err as { code?: unknown }).code, 'LOG_UNAVAILABLE');
      assert.match((err as Error).message, new RegExp(own.replace(/\./g, '\\.')));
      return true;
    });
    assert.ok(Date.now() - started < 10_000, `append failed after ${Date.now() - started} ms`);
    assert.equal(log.head(), 2, 'the head is what was acknowledged');
    await log.close();
  } finally {
    await stopBroker(runDir);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
});

test('the plugin registers a kafka: backend that opens the location', async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const container = createPluginContainer();
  const cfg = plugin.validateConfig!({ clientId: 'weft-plugin-test' });
  await plugin.register(container, cfg, { logger: captureLogger(), dataDir: '.', configDir: '.', trustDomain: 'cluster.local' });
  const backend = container.resolveAll<EventLogBackend>(Tokens.EventLogBackend).find((b) => b.scheme === 'kafka');
  assert.ok(backend !== undefined);
  const topic = newTopic();
  const log: EventLog = await backend.open(`kafka://${broker.brokers.join(',')}/${topic}`);
  try {
    assert.deepEqual(await log.append(batchOf('p', 1)), [0]);
  } finally {
    await log.close();
  }
  await assert.rejects(backend.open('kafka://127.0.0.1:9092'), /not a Kafka location/);
});
