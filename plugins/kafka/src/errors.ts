import { EventDecodeError, LogUnavailableError, WeftError } from '@weft/core';

/** Kafka did not answer (down, unreachable, or too slow) within the configured bound. */
export class KafkaUnavailableError extends LogUnavailableError {
  readonly brokers: readonly string[];
  readonly topic: string;
  constructor(brokers: readonly string[], topic: string, doing: string, cause?: unknown) {
    const why = cause instanceof Error ? `: ${cause.message}` : cause === undefined ? '' : `: ${String(cause)}`;
    super(
      `event log on Kafka topic "${topic}" (brokers ${brokers.join(',')}): ${doing} failed${why}. ` +
        'Check that the brokers are running and reachable from this host (address, port, firewall, advertised.listeners) ' +
        'and that the topic exists or the plugin may create it.',
      { cause, retriable: true },
    );
    this.brokers = brokers;
    this.topic = topic;
  }
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
