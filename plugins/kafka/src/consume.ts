/**
 * Reading one partition from a given offset with kafkajs. kafkajs reads only through consumer groups, so
 * each reader is a consumer in a group of its own (a fresh id, nothing committed) that seeks to its start;
 * the group is only a vehicle for the fetch loop. Batches are handed over one at a time: kafkajs does not
 * fetch ahead while the reader holds the current batch (backpressure for slow follow() handlers).
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { KafkaUnavailableError } from './errors.js';
import { kafkaOffsetNumber } from './offsets.js';

export interface RawMessage {
  readonly offset: number;
  /** null for a tombstone (never written by Weft). */
  readonly value: Buffer | null;
}

export interface ConsumeOptions {
  readonly kafka: Kafka;
  readonly brokers: readonly string[];
  readonly topic: string;
  /** Kafka offset of the first message wanted. */
  readonly start: number;
  /**
   * A bounded read: messages before this Kafka offset; the read ends once it delivered one at or past
   * `end - 1` (or `end` is reached by the high watermark). Unset: follow the tail until the caller stops.
   */
  readonly end?: number;
  /** A bounded read that makes no progress for this long fails with KafkaUnavailableError. */
  readonly stallMs: number;
  /** Session timeout of the reader's group; a handler may hold a batch this long without heartbeats. */
  readonly sessionTimeoutMs: number;
  readonly maxWaitMs: number;
  /** Resolves when the reader should stop although no batch arrives (a follower being closed). */
  readonly stop?: Promise<void>;
}

interface Handoff {
  readonly messages: RawMessage[];
  readonly taken: () => void;
}

/**
 * Yields the partition's messages from `start` on, in order, in the batches kafkajs fetched. Breaking out of
 * the loop (or an error) stops and disconnects the consumer.
 */
export async function* consumePartition(o: ConsumeOptions): AsyncGenerator<RawMessage[]> {
  if (o.end !== undefined && o.end <= o.start) return;
  const consumer: Consumer = o.kafka.consumer({
    groupId: `weft-log-reader-${randomUUID()}`,
    sessionTimeout: o.sessionTimeoutMs,
    rebalanceTimeout: o.sessionTimeoutMs,
    heartbeatInterval: Math.min(3000, Math.floor(o.sessionTimeoutMs / 3)),
    maxWaitTimeInMs: o.maxWaitMs,
    allowAutoTopicCreation: false,
    // A crash surfaces to the reader instead of a silent restart from offset 0.
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000, restartOnFailure: () => Promise.resolve(false) },
  });

  let pending: Handoff | null = null;
  let wake: (() => void) | null = null;
  let failure: unknown = null;
  let stopping = false;
  const signal = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  // A group of one may still be rebalanced (a session that timed out); the consumer then restarts from its
  // position or, with nothing committed, from the beginning. `next` drops what was already delivered.
  let next = o.start;

  const crashListener = consumer.on(consumer.events.CRASH, (e) => {
    failure = e.payload.error;
    signal();
  });

  const eachBatch = async ({ batch, heartbeat }: EachBatchPayload): Promise<void> => {
    if (stopping) return;
    const messages: RawMessage[] = [];
    for (const m of batch.messages) {
      const offset = kafkaOffsetNumber(m.offset, `topic ${o.topic}`);
      if (offset < next) continue;
      messages.push({ offset, value: m.value });
    }
    if (messages.length === 0) return;
    await new Promise<void>((resolve) => {
      // Keep the group membership alive while the reader works on the batch.
      const beat = setInterval(() => {
        heartbeat().catch(() => undefined);
      }, 1000);
      pending = {
        messages,
        taken: () => {
          clearInterval(beat);
          resolve();
        },
      };
      signal();
    });
    const last = messages.at(-1);
    if (last !== undefined) next = last.offset + 1;
  };

  const deadline = (): Promise<never> | null =>
    o.end === undefined
      ? null
      : new Promise<never>((_, reject) => {
          const t = setTimeout(
            () => reject(new KafkaUnavailableError(o.brokers, o.topic, `reading from offset ${next} (no progress in ${o.stallMs} ms)`)),
            o.stallMs,
          );
          stallTimers.push(t);
        });
  const stallTimers: NodeJS.Timeout[] = [];
  const clearStall = (): void => {
    for (const t of stallTimers.splice(0)) clearTimeout(t);
  };

  try {
    const starting = (async () => {
      await consumer.connect();
      await consumer.subscribe({ topic: o.topic, fromBeginning: true });
      await consumer.run({ autoCommit: false, eachBatch });
      consumer.seek({ topic: o.topic, partition: 0, offset: String(o.start) });
    })();
    const startLimit = deadline();
    try {
      await (startLimit === null ? starting : Promise.race([starting, startLimit]));
    } catch (err) {
      if (err instanceof KafkaUnavailableError) throw err;
      throw new KafkaUnavailableError(o.brokers, o.topic, 'starting a reader', err);
    } finally {
      clearStall();
    }

    for (;;) {
      if (failure !== null) throw new KafkaUnavailableError(o.brokers, o.topic, `reading from offset ${next}`, failure);
      const got = pending as Handoff | null;
      if (got === null) {
        let stopped = false;
        const woke = new Promise<void>((resolve) => (wake = resolve));
        const waits: Promise<void>[] = [woke];
        if (o.stop !== undefined) waits.push(o.stop.then(() => void (stopped = true)));
        const limit = deadline();
        if (limit !== null) waits.push(limit);
        try {
          await Promise.race(waits);
        } finally {
          clearStall();
        }
        if (stopped) return;
        continue;
      }
      pending = null;
      try {
        if (got.messages.length > 0) yield got.messages;
      } finally {
        got.taken();
      }
      if (o.end !== undefined) {
        const last = got.messages.at(-1)?.offset ?? next - 1;
        if (last >= o.end - 1) return;
      }
    }
  } finally {
    stopping = true;
    clearStall();
    crashListener();
    (pending as Handoff | null)?.taken();
    await consumer.disconnect().catch(() => undefined);
  }
}
