import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_KAFKA_CONFIG, validateKafkaConfig } from './config.js';
import { parseKafkaLocation } from './location.js';
import { MessageIndex } from './offsets.js';

test('config: defaults, overrides, and errors that name the field', () => {
  assert.deepEqual(validateKafkaConfig(undefined), DEFAULT_KAFKA_CONFIG);
  assert.deepEqual(validateKafkaConfig({ clientId: 'mesh-a', replicationFactor: 3, partitions: 1 }), {
    ...DEFAULT_KAFKA_CONFIG,
    clientId: 'mesh-a',
    replicationFactor: 3,
  });
  const fails = (raw: unknown, path: string, message: RegExp): void => {
    assert.throws(() => validateKafkaConfig(raw), (err: unknown) => {
      assert.equal((err as { code?: unknown }).code, 'PLUGIN_CONFIG_INVALID');
      assert.equal((err as { path?: unknown }).path, path);
      assert.match((err as Error).message, message);
      return true;
    });
  };
  fails({ partitions: 3 }, 'partitions', /must be 1 .*total order/);
  fails({ replicationFactor: 0 }, 'replicationFactor', /integer from 1 to 32/);
  fails({ connectionTimeoutMs: 'soon' }, 'connectionTimeoutMs', /got "soon"/);
  fails({ clientId: 'has space' }, 'clientId', /letters, digits/);
  fails({ createTopic: 'yes' }, 'createTopic', /true or false/);
  fails({ brokers: ['x:1'] }, 'brokers', /unknown field/);
  fails(['x'], '', /must be a mapping/);
});

test('location: brokers and topic, and what to write instead', () => {
  assert.deepEqual(parseKafkaLocation('kafka://127.0.0.1:9092,127.0.0.1:9093/weft-events'), {
    brokers: ['127.0.0.1:9092', '127.0.0.1:9093'],
    topic: 'weft-events',
  });
  assert.deepEqual(parseKafkaLocation('kafka://kafka-0.kafka.svc:9092/mesh.log_1'), { brokers: ['kafka-0.kafka.svc:9092'], topic: 'mesh.log_1' });
  assert.throws(() => parseKafkaLocation('kafka:127.0.0.1:9092/t'), /not a Kafka location; write kafka:\/\//);
  assert.throws(() => parseKafkaLocation('kafka://127.0.0.1/t'), /broker "127.0.0.1" is not host:port/);
  assert.throws(() => parseKafkaLocation('kafka://127.0.0.1:99999/t'), /is not host:port/);
  assert.throws(() => parseKafkaLocation('kafka://127.0.0.1:9092/'), /topic "" is not a valid Kafka topic name/);
  assert.throws(() => parseKafkaLocation('kafka://127.0.0.1:9092/a/b'), /topic "a\/b"/);
});

test('index: Weft offsets count the events of the messages before, across Kafka offset gaps', () => {
  const ix = new MessageIndex();
  assert.equal(ix.head, 0);
  assert.equal(ix.messageFor(0), 0);
  assert.equal(ix.add(0, 3), 0);
  assert.equal(ix.add(1, 1), 3);
  // Kafka offset 2 is a transaction marker: no message, no Weft offset.
  assert.equal(ix.add(3, 2), 4);
  assert.equal(ix.head, 6);
  assert.equal(ix.kafkaEnd, 4);
  assert.deepEqual([0, 2, 3, 4, 5, 6].map((o) => ix.messageFor(o)), [0, 0, 1, 3, 3, 4]);
  assert.equal(ix.firstOf(3), 4);
  assert.equal(ix.firstOf(2), -1);
  // Seen again (a second reader): same answer; a different count means the topic changed.
  assert.equal(ix.add(1, 1), 3);
  assert.throws(() => ix.add(1, 2), /held 1 events when indexed, now 2/);
  assert.throws(() => ix.add(2, 1), /holds no message/);
});
