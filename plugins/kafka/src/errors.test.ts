import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSProtocolError } from 'kafkajs';
import { KafkaNoAnswerError, KafkaUnavailableError } from './errors.js';

const brokers = ['10.0.0.5:9092'];

/** An error as kafkajs builds it from a broker's error code. */
const protocolError = (type: string, code: number, retriable: boolean, message: string): KafkaJSProtocolError =>
  new KafkaJSProtocolError(Object.assign(new Error(message), { type, code, retriable }));

test('a cause of no answer keeps its words and suggests checking the brokers', () => {
  const cause = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 10.0.0.5:9092');
  const err = new KafkaUnavailableError(brokers, 'weft-events', 'connecting', cause);
  assert.equal(
    err.message,
    'event log on Kafka topic "weft-events" (brokers 10.0.0.5:9092): connecting failed: Connection error: connect ECONNREFUSED 10.0.0.5:9092. ' +
      'Check that the brokers are running and reachable from this host (address, port, firewall, advertised.listeners)',
  );
  assert.equal(err.code, 'LOG_UNAVAILABLE');
  assert.equal(err.retriable, true);
  assert.equal(err.cause, cause);
  const stalled = new KafkaUnavailableError(brokers, 'weft-events', 'reading from offset 3', new KafkaNoAnswerError('no progress in 100 ms'));
  assert.match(stalled.message, /no progress in 100 ms\. Check that the brokers are running/);
});

test('an answer that was an error keeps its words and type, blames no broker, and is retriable only if kafkajs says so', () => {
  const refused = protocolError('INVALID_SESSION_TIMEOUT', 26, false, 'The session timeout is not within the range allowed by the broker');
  const err = new KafkaUnavailableError(brokers, 'weft-events', 'starting a reader at offset 0', refused);
  assert.equal(
    err.message,
    'event log on Kafka topic "weft-events" (brokers 10.0.0.5:9092): starting a reader at offset 0 failed: ' +
      'The session timeout is not within the range allowed by the broker (INVALID_SESSION_TIMEOUT)',
  );
  assert.equal(err.retriable, false);
  assert.equal(err.cause, refused);

  const moving = protocolError('NOT_COORDINATOR', 16, true, 'This is not the correct coordinator for this group');
  assert.equal(new KafkaUnavailableError(brokers, 't', 'joining', moving).retriable, true);

  // A kafkajs usage error says what it says; nothing about brokers is added.
  const misuse = new KafkaJSNonRetriableError('Consumer group was not initialized, consumer#run must be called first');
  const wrapped = new KafkaUnavailableError(brokers, 't', 'seeking', misuse);
  assert.match(wrapped.message, /seeking failed: Consumer group was not initialized, consumer#run must be called first$/);
  assert.equal(wrapped.retriable, false);
});

test('a cause given as text is kept as it is', () => {
  const err = new KafkaUnavailableError(brokers, 't', 'fetching the topic offsets', 'partition 0 is missing');
  assert.match(err.message, /fetching the topic offsets failed: partition 0 is missing$/);
  assert.equal(err.retriable, false);
});
