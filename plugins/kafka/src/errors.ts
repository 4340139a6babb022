import { EventDecodeError, LogUnavailableError, WeftError } from '@weft/core';

/**
 * A Kafka request of the log failed (code LOG_UNAVAILABLE). The message keeps the cause's own words (and its
 * Kafka error type, e.g. INVALID_SESSION_TIMEOUT), and the cause stays attached. Only when the cause is one of
 * not getting an answer (no connection, a connection lost, a request or a read without an answer in time)
 * does it suggest checking that the brokers run and are reachable, and only then is it retriable for that
 * reason; otherwise the brokers answered, and retriable is what the cause says.
 */
export class KafkaUnavailableError extends LogUnavailableError {
  readonly brokers: readonly string[];
  readonly topic: string;
  constructor(brokers: readonly string[], topic: string, doing: string, cause?: unknown) {
    const noAnswer = isNoAnswer(cause);
    super(
      `event log on Kafka topic "${topic}" (brokers ${brokers.join(',')}): ${doing} failed${cause === undefined ? '' : `: ${describe(cause)}`}` +
        (noAnswer ? '. Check that the brokers are running and reachable from this host (address, port, firewall, advertised.listeners)' : ''),
      { cause, retriable: noAnswer || kafkaRetriable(cause) },
    );
    this.brokers = brokers;
    this.topic = topic;
  }
}

/** The log's own bound ran out: Kafka gave no answer (or no progress) within it. */
export class KafkaNoAnswerError extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'KafkaNoAnswerError';
  }
}

/** kafkajs errors that mean no answer came (as opposed to an answer that was an error). */
const NO_ANSWER = new Set([
  'KafkaNoAnswerError',
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
]);

/** The errors on a cause chain (kafkajs wraps: NumberOfRetriesExceeded -> the last attempt's error). */
function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && out.length < 8; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

function isNoAnswer(cause: unknown): boolean {
  return causes(cause).some((e) => e instanceof Error && NO_ANSWER.has(e.name));
}

/** kafkajs's own rule (for restarting a crashed consumer): retries that ran out, or a root cause marked retriable. */
export function kafkaRetriable(cause: unknown): boolean {
  const all = causes(cause);
  return all.some((e) => e instanceof Error && e.name === 'KafkaJSNumberOfRetriesExceeded') || (all.at(-1) as { retriable?: unknown } | undefined)?.retriable === true;
}

/** The cause's message as it is, with the Kafka error type where the broker gave one. */
function describe(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const type = causes(cause)
    .map((e) => (e as { type?: unknown }).type)
    .find((t): t is string => typeof t === 'string');
  return type === undefined || cause.message.includes(type) ? cause.message : `${cause.message} (${type})`;
}

/**
 * A message on the log's topic that is not a batch the Weft Kafka log wrote. Never skipped: the log's state
 * past it would be unknown. Names where it sits so an operator can inspect it (kafka-console-consumer
 * --offset) and decide.
 */
export class KafkaRecordError extends EventDecodeError {
  readonly topic: string;
  readonly partition: number;
  readonly kafkaOffset: number;
  constructor(topic: string, partition: number, kafkaOffset: number, reason: string, cause?: unknown) {
    super(
      kafkaWhere(topic, partition, kafkaOffset),
      `${reason}. Only Weft's Kafka event log may write to this topic; remove the message by restoring the topic ` +
        'from a backup, or point the log at another topic',
      { cause },
    );
    this.topic = topic;
    this.partition = partition;
    this.kafkaOffset = kafkaOffset;
  }
}

/** Messages were deleted from the head of the topic (retention), so Weft offsets can no longer be counted. */
export class KafkaLogTruncatedError extends WeftError {
  constructor(topic: string, lowWatermark: number) {
    super(
      'LOG_TRUNCATED',
      `Kafka topic "${topic}" starts at offset ${lowWatermark}, not 0: its first messages were deleted ` +
        '(retention or DeleteRecords). The event log must keep every batch; set retention.ms=-1 and ' +
        'retention.bytes=-1 on the topic and restore it, or start a new log on another topic.',
    );
  }
}

/** A writable operation on a log opened read-only. */
export class KafkaReadOnlyError extends LogUnavailableError {
  constructor(topic: string) {
    super(`event log on Kafka topic "${topic}" is open read-only; open it without readOnly to append`);
  }
}

export function kafkaWhere(topic: string, partition: number, kafkaOffset: number): string {
  return `Kafka topic "${topic}" partition ${partition} offset ${kafkaOffset}`;
}

/**
 * An append on a replica that is not the log's writer (code LOG_NOT_WRITER). Not retriable here: only the
 * writer appends, and the runtime runs the sources only there. Append on the writer, or open the log without
 * the writer election (one process writing).
 */
export class KafkaNotWriterError extends WeftError {
  readonly topic: string;
  constructor(topic: string, replicaId: string, writerId: string | null) {
    super(
      'LOG_NOT_WRITER',
      `event log on Kafka topic "${topic}": replica ${replicaId} is not the log's writer ` +
        `(the writer is ${writerId ?? 'not known yet'}), so it does not append; only the elected writer runs the ` +
        'sources and appends. Nothing was written',
    );
    this.topic = topic;
  }
}

/**
 * The broker refused this replica's transactional producer because another replica initialised the same
 * transactional id since (code LOG_FENCED): this replica was the writer, stopped (a pause, a partition) and
 * was replaced. Nothing of the refused append was stored. Not retriable here: the new writer appends.
 */
export class KafkaFencedError extends WeftError {
  readonly topic: string;
  constructor(topic: string, replicaId: string, cause: unknown) {
    super(
      'LOG_FENCED',
      `event log on Kafka topic "${topic}": replica ${replicaId} was fenced off as the log's writer: another ` +
        `replica took over (${describe(cause)}). Nothing of this append was stored; the current writer appends`,
      { cause },
    );
    this.topic = topic;
  }
}

/** Kafka error types meaning a newer producer with the same transactional id exists. */
const FENCED_TYPES = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING']);

export function isFenced(err: unknown): boolean {
  return causes(err).some((e) => {
    const t = (e as { type?: unknown }).type;
    return typeof t === 'string' && FENCED_TYPES.has(t);
  });
}

/** A partition whose leader is not settled yet (a topic just created, a leader moving): ask again later. */
export function leaderMoving(error: unknown): boolean {
  const e = error as { retriable?: unknown; type?: unknown } | null;
  return e?.retriable === true || ['NOT_LEADER_FOR_PARTITION', 'UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE'].includes(String(e?.type));
}
