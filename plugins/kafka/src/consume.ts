/**
 * Reading one partition from a given offset with kafkajs. kafkajs reads only through consumer groups, so
 * each reader is a consumer in a group of its own (a fresh id, nothing committed) that seeks to its start;
 * the group is only a vehicle for the fetch loop. Batches are handed over one at a time: kafkajs does not
 * fetch ahead while the reader holds the current batch (backpressure for slow follow() handlers).
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { WeftError } from '@weft/core';
import { kafkaRetriable, KafkaNoAnswerError, KafkaUnavailableError } from './errors.js';
import { kafkaOffsetNumber } from './offsets.js';

export interface RawMessage {
  readonly offset: number;
  /** null for a tombstone (never written by Weft). */
  readonly value: Buffer | null;
  /** The batch id (header `weft-batch`) the writer gave the message, when it gave one. */
  readonly batchId?: string;
}

/** The message header holding a batch's id (offsets.ts drops a stored duplicate by it). */
export const BATCH_ID_HEADER = 'weft-batch';

function headerText(v: Buffer | string | (Buffer | string)[] | undefined): string | undefined {
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : one.toString();
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

/** A reader whose group join keeps failing waits this long at most before trying again. */
const MAX_RESTART_DELAY_MS = 1000;

/**
 * Yields the partition's messages from `start` on, in order, in the batches kafkajs fetched. Breaking out of
 * the loop (or an error) stops and disconnects the consumer.
 *
 * Starting: kafkajs's consumer.run() resolves once the group is joined, or, when the join failed, after it
 * crashed the consumer (and forgot its group), so a seek after run() could only fail with "Consumer group was
 * not initialized". The reader therefore seeks when the group is joined (the GROUP_JOIN event, before the
 * first fetch), and a join that failed for a reason kafkajs calls retriable (a connection lost, a coordinator
 * moving) is tried again with a fresh consumer, until a bounded read's `stallMs` passes; any other failure ends
 * the read with the error kafkajs gave.
 */
export async function* consumePartition(o: ConsumeOptions): AsyncGenerator<RawMessage[]> {
  if (o.end !== undefined && o.end <= o.start) return;

  let pending: Handoff | null = null;
  let wake: (() => void) | null = null;
  /** What ends the read: a start that cannot succeed, or the running consumer's crash. */
  let failure: unknown = null;
  /** The last failed start attempt's error: the cause named when a bounded read stalls. */
  let lastStartError: unknown = undefined;
  let running = false;
  let delivered = false;
  let stopping = false;
  let stopRestarts: () => void = () => undefined;
  const restartsStopped = new Promise<void>((resolve) => (stopRestarts = resolve));
  let consumer: Consumer | null = null;
  const signal = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  // A group of one may still be rebalanced (a session that timed out); the consumer then restarts from its
  // position or, with nothing committed, from the beginning. `next` drops what was already delivered.
  let next = o.start;
  /**
   * The last Kafka offset the consumer got past, counting what kafkajs does not deliver: transaction markers
   * and aborted messages (a transactional writer puts a commit marker after each batch). A bounded read ends
   * when this reaches `end - 1` although no message sits there.
   */
  let progress = o.start - 1;

  const eachBatch = async ({ batch, heartbeat }: EachBatchPayload): Promise<void> => {
    if (stopping) return;
    const messages: RawMessage[] = [];
    for (const m of batch.messages) {
      const offset = kafkaOffsetNumber(m.offset, `topic ${o.topic}`);
      if (offset < next) continue;
      const batchId = headerText(m.headers?.[BATCH_ID_HEADER]);
      messages.push(batchId === undefined ? { offset, value: m.value } : { offset, value: m.value, batchId });
    }
    const past = kafkaOffsetNumber(batch.lastOffset(), `topic ${o.topic}`);
    if (messages.length === 0) {
      if (past > progress) progress = past;
      signal();
      return;
    }
    delivered = true;
    // Known before the messages are handed over: the reader checks it right after it took them.
    if (past > progress) progress = past;
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

  /** One attempt: resolves true once the group is joined and fetching, false when the join failed. */
  const attempt = async (): Promise<boolean> => {
    const c = o.kafka.consumer({
      groupId: `weft-log-reader-${randomUUID()}`,
      sessionTimeout: o.sessionTimeoutMs,
      rebalanceTimeout: o.sessionTimeoutMs,
      heartbeatInterval: Math.min(3000, Math.floor(o.sessionTimeoutMs / 3)),
      maxWaitTimeInMs: o.maxWaitMs,
      allowAutoTopicCreation: false,
      // A crash surfaces to the reader instead of a silent restart from offset 0.
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000, restartOnFailure: () => Promise.resolve(false) },
    });
    consumer = c;
    let joined = false;
    let crash: unknown = null;
    c.on(c.events.GROUP_JOIN, () => {
      joined = true;
      // Called before the first fetch; later joins (a rebalance) leave the position alone and `next` filters.
      if (!delivered) c.seek({ topic: o.topic, partition: 0, offset: String(next) });
    });
    // kafkajs skips a fetched batch holding only markers or aborted messages without calling eachBatch; it
    // reports it here (batchSize 0), which is the only news that the partition went on past them.
    c.on(c.events.END_BATCH_PROCESS, (e) => {
      if (e.payload.batchSize !== 0 || e.payload.topic !== o.topic) return;
      const past = Number(e.payload.lastOffset);
      if (Number.isSafeInteger(past) && past > progress) {
        progress = past;
        signal();
      }
    });
    c.on(c.events.CRASH, (e) => {
      if (running) {
        failure = e.payload.error;
        signal();
      } else crash = e.payload.error;
    });
    // connect and subscribe have been through kafkajs's retries when they fail: that ends the read.
    await c.connect();
    if (stopping) return false;
    await c.subscribe({ topic: o.topic, fromBeginning: true });
    if (stopping) return false;
    await c.run({ autoCommit: false, eachBatch });
    if (joined && crash === null) {
      running = true;
      return true;
    }
    lastStartError = crash ?? new Error('the consumer stopped before it joined its group');
    if (!kafkaRetriable(crash)) throw lastStartError;
    return false;
  };

  // Settles once the consumer runs, the start failed for good, or the reader stops; never rejects.
  const starting = (async (): Promise<void> => {
    for (let n = 0; !stopping; n++) {
      try {
        if (await attempt()) return;
      } catch (err) {
        failure = err;
        signal();
        return;
      }
      // kafkajs disconnected the crashed consumer; the next attempt starts a fresh one.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([restartsStopped, new Promise((r) => (timer = setTimeout(r, Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** n))))]);
      clearTimeout(timer);
    }
  })();

  const stallTimers: NodeJS.Timeout[] = [];
  const deadline = (): Promise<never> | null =>
    o.end === undefined
      ? null
      : new Promise<never>((_, reject) => {
          const t = setTimeout(() => {
            const doing = running ? `reading from offset ${next}` : `starting a reader at offset ${next}`;
            const stalled = new KafkaNoAnswerError(`no progress in ${o.stallMs} ms`);
            // A start that kept failing names its last failure; otherwise nothing came in time.
            reject(new KafkaUnavailableError(o.brokers, o.topic, `${doing} (no progress in ${o.stallMs} ms)`, running ? stalled : (lastStartError ?? stalled)));
          }, o.stallMs);
          stallTimers.push(t);
        });
  const clearStall = (): void => {
    for (const t of stallTimers.splice(0)) clearTimeout(t);
  };

  try {
    for (;;) {
      if (failure !== null) {
        throw failure instanceof WeftError
          ? failure
          : new KafkaUnavailableError(o.brokers, o.topic, running ? `reading from offset ${next}` : `starting a reader at offset ${next}`, failure);
      }
      const got = pending as Handoff | null;
      if (got === null && o.end !== undefined && progress >= o.end - 1) return;
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
        const last = Math.max(got.messages.at(-1)?.offset ?? next - 1, progress);
        if (last >= o.end - 1) return;
      }
    }
  } finally {
    stopping = true;
    stopRestarts();
    clearStall();
    (pending as Handoff | null)?.taken();
    // A start still under way finishes its step first: a consumer disconnected in the middle of its join
    // would go on fetching once the join completes.
    await starting;
    await (consumer as Consumer | null)?.disconnect().catch(() => undefined);
  }
}
