/**
 * The event log on Apache Kafka: one topic with ONE partition (its order is the log's total order), one
 * message per batch (so a batch is atomic), written by an idempotent producer with acks=all. Weft offsets
 * are counted from the partition's messages (offsets.ts).
 *
 * With the writer election (options.election), replicas on one topic elect one writer (election.ts); it
 * appends through a transactional producer whose transactional id (`<topic>-writer`) every writer shares, so
 * a writer that takes over bumps the producer epoch and the broker refuses anything the replaced writer
 * still sends (a fence, not a lease: the replaced writer need not know it was replaced). Every reader reads
 * committed messages only (kafkajs's default isolation), so a transaction the replaced writer left open is
 * never read. Each batch carries an id (header `weft-batch`): a retry after an unknown outcome that stored
 * the batch twice is read once (offsets.ts).
 */
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import {
  createLogger,
  decodeBatch,
  decodeEnvelopes,
  encodePrepared,
  EventDecodeError,
  Follower,
  LogUnavailableError,
  prepareBatch,
  RecentBatches,
  retry,
  WeftError,
  type AppendOptions,
  type EncodedEvent,
  type EventInput,
  type EventLog,
  type LogBatch,
  type LogLeadership,
  type LogLeadershipState,
  type LogReachability,
  type Logger,
  type MeshEvent,
  type PreparedEvent,
  type Subscription,
} from '@weft/core';
import { Kafka, logLevel, Partitioners, type Admin, type ISocketFactory, type logCreator, type Producer } from 'kafkajs';
import { DEFAULT_KAFKA_CONFIG, type KafkaPluginConfig } from './config.js';
import { BrokerContact } from './contact.js';
import { BATCH_ID_HEADER, consumePartition, type RawMessage } from './consume.js';
import { WriterElection } from './election.js';
import {
  isFenced,
  KafkaFencedError,
  KafkaLogTruncatedError,
  KafkaNoAnswerError,
  KafkaNotWriterError,
  KafkaReadOnlyError,
  KafkaRecordError,
  KafkaUnavailableError,
  kafkaWhere,
  leaderMoving,
} from './errors.js';
import { kafkaOffsetNumber, MessageIndex } from './offsets.js';

const PARTITION = 0;
/**
 * Upper bounds of Kafka's framing around our bytes (record batch v2 header; one record's length, attributes,
 * deltas, key and header fields), counted against maxBatchBytes, which is the topic's max.message.bytes.
 */
const RECORD_BATCH_OVERHEAD = 128;
const RECORD_OVERHEAD = 32;

export interface KafkaEventLogOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly config?: KafkaPluginConfig;
  /** No producer; appends are refused. */
  readonly readOnly?: boolean;
  /** Keep the batches the open scanned for the first readEncoded(0) (the start-up replay), instead of reading twice. */
  readonly keepRecords?: boolean;
  readonly logger?: Logger;
  /** Clock for events without a time. */
  readonly now?: () => number;
  /**
   * Elect one writer among the replicas opening this topic (ignored read-only): appends only on the writer,
   * fenced through a transactional producer. Off: any writable open appends (idempotent producer).
   */
  readonly election?: boolean;
  /** This replica's name (default `<hostname>-<pid>`). */
  readonly replicaId?: string;
  /** kafkajs's socket factory (the tests route connections through a proxy that cuts them). */
  readonly socketFactory?: ISocketFactory;
}

/** The transactional id every writer of a topic shares: a new writer's init fences the previous one. */
export function writerTransactionalId(topic: string): string {
  return `${topic}-writer`;
}

/** The most message bytes an open keeps for the first readEncoded(0) (then it reads the topic again). */
const KEEP_MAX_BYTES = 256 * 1024 * 1024;

/** Messages kept for followers at the tail. */
const RECENT_MAX_MESSAGES = 1024;
const RECENT_MAX_BYTES = 16 * 1024 * 1024;

interface Recent {
  readonly kafkaOffset: number;
  readonly first: number;
  readonly payload: Buffer;
}

/** A message the open scanned, kept for the first readEncoded(0): its events, offsets already Weft's. */
interface Kept {
  readonly offset: number;
  readonly events: readonly EncodedEvent[];
}

/**
 * Moves a message's events from their relative offsets (0..n-1) to Weft's (first..first+n-1), in place: they
 * were just decoded for this caller and nobody else holds them, and a replay of 100k events would otherwise
 * copy every one.
 */
function withOffsets(events: EncodedEvent[], first: number): EncodedEvent[] {
  for (const e of events) (e as { offset: number }).offset += first;
  return events;
}

interface Pending {
  readonly id: string;
  readonly value: Buffer;
  readonly count: number;
  readonly resolve: (offsets: number[]) => void;
  readonly reject: (err: unknown) => void;
}

/** Routes kafkajs' own logs into Weft's structured logger (its INFO is chatter at our level). */
function logCreatorFor(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _name, ...fields } = log;
      const text = `kafkajs: ${String(message)}`;
      const f = { kafkajs: namespace, ...fields };
      if (level === logLevel.ERROR) logger.error(text, f);
      else if (level === logLevel.WARN) logger.warn(text, f);
      else logger.debug(text, f);
    };
}

/**
 * The partition's first and end offsets (the high watermark), asked of its leader. Right after a create on a
 * cluster, or while leadership moves after a broker loss, the broker asked may not be the partition's leader
 * (NOT_LEADER_FOR_PARTITION, which kafkajs marks retriable but does not retry here): asked again.
 */
async function partitionOffsets(admin: Admin, brokers: readonly string[], topic: string, requestTimeoutMs: number): Promise<{ low: number; high: number }> {
  const offsets = await bounded(
    retry(() => admin.fetchTopicOffsets(topic), { retries: 8, initialRetryTime: 100, maxRetryTime: 1000, isRetriable: leaderMoving }),
    requestTimeoutMs,
    (cause) => new KafkaUnavailableError(brokers, topic, 'fetching the topic offsets', cause),
  );
  const p = offsets.find((o) => o.partition === PARTITION);
  if (p === undefined) throw new KafkaUnavailableError(brokers, topic, 'fetching the topic offsets', 'partition 0 is missing');
  return { low: kafkaOffsetNumber(p.low, `topic ${topic}`), high: kafkaOffsetNumber(p.high, `topic ${topic}`) };
}

/** `p`, or KafkaUnavailableError once `ms` passed. The operation itself may still finish later. */
async function bounded<T>(p: Promise<T>, ms: number, fail: (cause?: unknown) => WeftError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(fail(new KafkaNoAnswerError(`no answer within ${ms} ms`))), ms);
  });
  try {
    return await Promise.race([p, limit]);
  } catch (err) {
    if (err instanceof WeftError) throw err;
    throw fail(err);
  } finally {
    clearTimeout(timer);
  }
}

/** Offset of the first event past these events (any event shape: encoded or decoded). */
function endOf(events: readonly { offset: number }[]): number {
  return (events.at(-1)?.offset ?? -1) + 1;
}


export class KafkaEventLog implements EventLog {
  private readonly index: MessageIndex;
  private queue: Pending[] = [];
  private flushing = false;
  private closed = false;
  private readonly followers = new Set<Follower>();
  /** One catch-up read at a time; it indexes messages other writers appended. */
  private catching: Promise<void> = Promise.resolve();
  private kept: Kept[] | null;
  /**
   * The last messages indexed, with their bytes, contiguous up to the head: followers at the tail are served
   * from here, so N followers cost one consumer (the tail), not N.
   */
  private readonly recent = new RecentBatches<Recent>(RECENT_MAX_MESSAGES, RECENT_MAX_BYTES);
  private waiters: (() => void)[] = [];
  /** The consumer that follows the partition's end for the followers, started by the first follow(). */
  private tail: Promise<void> | null = null;
  private stopTail: () => void = () => undefined;
  /** A message the tail could not read: the log cannot be followed past it. */
  private tailError: unknown = null;
  /** Whether the brokers answer, for readiness (contact.ts); probed from the first follow() on. */
  private contact: BrokerContact | null = null;
  /** The producer appends go through: the idempotent one, or with the election the writer's transactional one. */
  private producer: Producer | null;
  private election: WriterElection | null = null;
  private role: LogLeadershipState;
  private readonly roleListeners = new Set<(state: LogLeadershipState) => void>();
  /** Woken when the writer's producer is (re)initialised. */
  private producerWaiters: (() => void)[] = [];
  private acquiring = false;
  /**
   * Kafka offset right after this writer's last committed message: its commit marker sits there when the
   * next own message lands one further, so that append needs no catch-up read (see indexOwn).
   */
  private markerAt = -1;
  readonly replicaId: string;
  readonly leadership: LogLeadership | undefined;

  private constructor(
    private readonly kafka: Kafka,
    readonly brokers: readonly string[],
    readonly topic: string,
    private readonly config: KafkaPluginConfig,
    producer: Producer | null,
    private readonly logger: Logger,
    private readonly now: () => number,
    index: MessageIndex,
    kept: Kept[] | null,
    replicaId: string,
    elect: boolean,
  ) {
    this.index = index;
    this.kept = kept;
    this.producer = producer;
    this.replicaId = replicaId;
    this.role = { role: elect ? 'follower' : 'writer', replicaId, writerId: elect ? null : replicaId };
    this.leadership = elect
      ? {
          state: () => this.role,
          onChange: (listener) => {
            this.roleListeners.add(listener);
            return () => this.roleListeners.delete(listener);
          },
        }
      : undefined;
  }

  /** True while this replica may append (always, without the election). */
  get isWriter(): boolean {
    return this.role.role === 'writer';
  }

  private setRole(role: 'writer' | 'follower', writerId: string | null): void {
    if (this.role.role === role && this.role.writerId === writerId) return;
    this.role = { role, replicaId: this.replicaId, writerId };
    this.logger.info(role === 'writer' ? 'this replica is the event log writer' : 'this replica follows the event log', {
      replica: this.replicaId,
      writer: writerId,
    });
    for (const l of this.roleListeners) l(this.role);
  }

  /** The election's news: holding partition 0 makes this replica the writer once its producer fenced the last one. */
  private elected(assigned: boolean, writerId: string | null): void {
    if (this.closed) return;
    if (assigned) {
      if (this.producer !== null) this.setRole('writer', this.replicaId);
      else void this.acquire(0);
      return;
    }
    this.setRole('follower', writerId);
    this.dropProducer();
  }

  private dropProducer(): void {
    const p = this.producer;
    if (p === null || this.election === null) return;
    this.producer = null;
    void p.disconnect().catch(() => undefined);
  }

  /**
   * Initialises the writer's transactional producer, which bumps the epoch and so fences any older producer
   * with the same transactional id. `beats`: heartbeats of the group to wait for first, each one proof that
   * this replica still held its membership when it was answered (after a fence or an unknown outcome, so
   * that a replica that was frozen does not fence the writer that replaced it).
   */
  private async acquire(beats: number): Promise<void> {
    const election = this.election;
    if (election === null || this.acquiring) return;
    this.acquiring = true;
    try {
      if (beats > 0) await election.heartbeatsFromNow(beats);
      while (!this.closed && election.holds && this.producer === null) {
        const p = this.kafka.producer({
          transactionalId: writerTransactionalId(this.topic),
          idempotent: true,
          maxInFlightRequests: 1,
          // The coordinator aborts a transaction left open (a writer gone mid-append) after this long.
          transactionTimeout: Math.max(10_000, 2 * this.config.requestTimeoutMs),
          allowAutoTopicCreation: false,
          createPartitioner: Partitioners.DefaultPartitioner,
          // Short first waits: a transaction that follows a commit at once is refused while the commit's markers
          // are still being written (CONCURRENT_TRANSACTIONS, a few ms), and kafkajs retries it after the
          // configured wait; from 100 ms, awaited appends ran at ~5/s on the 3-broker test cluster, from 5 ms at ~20/s.
          retry: { retries: 12, initialRetryTime: 5, maxRetryTime: Math.max(200, Math.floor(this.config.requestTimeoutMs / 5)) },
        });
        try {
          await bounded(p.connect(), this.config.requestTimeoutMs, (cause) => new KafkaUnavailableError(this.brokers, this.topic, 'initialising the writer', cause));
        } catch (err) {
          await p.disconnect().catch(() => undefined);
          this.logger.warn('initialising the event log writer failed; retrying', { error: (err as Error).message });
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        // The fence completed (or aborted) the last writer's open transaction: its final appends may have been
        // committed only now. Index the partition to its end before taking the role, so that what this replica
        // does as the writer (its sources reconcile against the catalog as they start) sees all of them.
        try {
          await this.catchUpToEnd();
        } catch (err) {
          await p.disconnect().catch(() => undefined);
          this.logger.warn('reading the event log to its end before writing failed; retrying', { error: (err as Error).message });
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        if (this.closed || !election.holds) {
          await p.disconnect().catch(() => undefined);
          return;
        }
        this.producer = p;
        this.setRole('writer', this.replicaId);
        const waiters = this.producerWaiters;
        this.producerWaiters = [];
        for (const w of waiters) w();
      }
    } finally {
      this.acquiring = false;
    }
  }

  /**
   * Connects, creates the topic when allowed and missing, checks it has one partition and keeps every
   * message, and indexes every message already on it (envelopes checked, bodies not parsed). Fails with
   * KafkaUnavailableError within config.requestTimeoutMs (per step) when the brokers do not answer.
   */
  static async open(options: KafkaEventLogOptions): Promise<KafkaEventLog> {
    const { brokers, topic } = options;
    const config = options.config ?? DEFAULT_KAFKA_CONFIG;
    const readOnly = options.readOnly ?? false;
    const logger = (options.logger ?? createLogger()).child({ component: 'event-log', topic });
    const unavailable = (doing: string) => (cause?: unknown) => new KafkaUnavailableError(brokers, topic, doing, cause);
    const kafka = new Kafka({
      clientId: config.clientId,
      brokers: [...brokers],
      connectionTimeout: config.connectionTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      retry: { retries: 4, initialRetryTime: 100, maxRetryTime: Math.max(200, Math.floor(config.requestTimeoutMs / 5)) },
      logLevel: logLevel.WARN,
      logCreator: logCreatorFor(logger),
      ...(options.socketFactory === undefined ? {} : { socketFactory: options.socketFactory }),
    });

    const admin: Admin = kafka.admin();
    let low: number;
    let high: number;
    try {
      await bounded(admin.connect(), config.requestTimeoutMs, unavailable('connecting'));
      await bounded(ensureTopic(admin, topic, config, readOnly), config.requestTimeoutMs, unavailable('checking the topic'));
      ({ low, high } = await partitionOffsets(admin, brokers, topic, config.requestTimeoutMs));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    if (low > 0) throw new KafkaLogTruncatedError(topic, low);

    const index = new MessageIndex();
    // What the open scanned is kept for the start-up replay up to KEEP_MAX_BYTES; a larger topic is read again.
    let kept: Kept[] | null = options.keepRecords === true ? [] : null;
    let keptBytes = 0;
    const scan = consumePartition({
      kafka,
      brokers,
      topic,
      start: 0,
      end: high,
      stallMs: config.requestTimeoutMs,
      sessionTimeoutMs: 30_000,
      maxWaitMs: 200,
    });
    const recent: Recent[] = [];
    for await (const messages of scan) {
      for (const m of messages) {
        if (m.offset >= high) break;
        const events = decodeMessage(topic, m, true);
        const first = index.add(m.offset, events.length, m.batchId);
        if (index.dropped(m.offset)) continue;
        // The start-up replay reads these envelopes next: keep them (with their Weft offsets), not only the bytes.
        if (kept !== null) {
          keptBytes += m.value?.length ?? 0;
          if (keptBytes > KEEP_MAX_BYTES) kept = null;
          else kept.push({ offset: m.offset, events: withOffsets(events, first) });
        }
        if (high - m.offset <= RECENT_MAX_MESSAGES) recent.push({ kafkaOffset: m.offset, first, payload: m.value! });
      }
    }

    const elect = !readOnly && options.election === true;
    const replicaId = options.replicaId ?? (config.replicaId !== '' ? config.replicaId : `${os.hostname()}-${process.pid}`);
    let producer: Producer | null = null;
    if (!readOnly && !elect) {
      producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: 4, initialRetryTime: 100, maxRetryTime: Math.max(200, Math.floor(config.requestTimeoutMs / 5)) },
      });
      try {
        await bounded(producer.connect(), config.requestTimeoutMs, unavailable('connecting the producer'));
      } catch (err) {
        await producer.disconnect().catch(() => undefined);
        throw err;
      }
    }
    logger.debug('event log opened', { brokers: brokers.join(','), messages: index.messages, head: index.head, readOnly });
    const log = new KafkaEventLog(kafka, brokers, topic, config, producer, logger, options.now ?? Date.now, index, kept, replicaId, elect);
    for (const r of recent) log.remember(r);
    if (elect) {
      try {
        await bounded(log.elect(), config.requestTimeoutMs + config.writerSessionTimeoutMs, unavailable('joining the writer election'));
      } catch (err) {
        await log.close();
        throw err;
      }
    }
    return log;
  }

  /** Joins the election and resolves once the first outcome is known (writer with its producer, or follower). */
  private async elect(): Promise<void> {
    let settle: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const unsubscribe = this.leadership!.onChange(() => settle());
    const election = new WriterElection({
      kafka: this.kafka,
      topic: this.topic,
      replicaId: this.replicaId,
      sessionTimeoutMs: this.config.writerSessionTimeoutMs,
      logger: this.logger,
      onChange: (assigned, writerId) => {
        this.elected(assigned, writerId);
        // A follower whose writer is not named yet has its outcome too.
        if (!assigned) settle();
      },
    });
    this.election = election;
    try {
      await election.start();
      await settled;
    } finally {
      unsubscribe();
    }
  }

  head(): number {
    return this.index.head;
  }

  append(batch: readonly EventInput[], options: AppendOptions = {}): Promise<number[]> {
    if (this.closed) return Promise.reject(new LogUnavailableError(`event log on Kafka topic "${this.topic}" is closed`));
    if (this.election === null && this.producer === null) return Promise.reject(new KafkaReadOnlyError(this.topic));
    if (!this.isWriter) return Promise.reject(new KafkaNotWriterError(this.topic, this.replicaId, this.role.writerId));
    this.kept = null;
    let events: PreparedEvent[];
    try {
      events = prepareBatch(batch, this.now);
    } catch (err) {
      return Promise.reject(err);
    }
    if (events.length === 0) return Promise.resolve([]);
    // Relative offsets 0..n-1: where the batch lands is Kafka's to decide.
    const payload = encodePrepared(events, 0);
    if (RECORD_BATCH_OVERHEAD + RECORD_OVERHEAD + payload.length > this.config.maxBatchBytes) {
      return Promise.reject(
        new WeftError(
          'EVENT_BATCH_TOO_LARGE',
          `a batch of ${events.length} events encodes to ${payload.length} bytes (plus Kafka's framing), over the Kafka log's maxBatchBytes ` +
            `(${this.config.maxBatchBytes}); nothing was written. Raise maxBatchBytes in the kafka plugin config and ` +
            "the topic's max.message.bytes, or append smaller batches",
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const value = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
      this.queue.push({ id: options.id ?? randomUUID(), value, count: events.length, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        void this.flushLoop();
      }
    });
  }

  /** Sends what queued while the previous send was in flight as one produce request; never rejects. */
  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      // Kafka limits a record batch (all messages of one produce request for the partition) to the topic's
      // max.message.bytes, so a group takes batches only while they fit together.
      let take = 1;
      let bytes = RECORD_BATCH_OVERHEAD + RECORD_OVERHEAD + this.queue[0]!.value.length;
      while (take < this.queue.length && bytes + RECORD_OVERHEAD + this.queue[take]!.value.length <= this.config.maxBatchBytes) {
        bytes += RECORD_OVERHEAD + this.queue[take]!.value.length;
        take++;
      }
      const group = this.queue.splice(0, take);
      let done = 0;
      const producer = this.producer ?? (await this.writerProducer());
      try {
        if (producer === null) {
          throw this.isWriter
            ? new KafkaUnavailableError(this.brokers, this.topic, 'appending: the writer could not initialise its producer in time; nothing was written', new KafkaNoAnswerError('no producer'))
            : new KafkaNotWriterError(this.topic, this.replicaId, this.role.writerId);
        }
        const record = {
          topic: this.topic,
          acks: -1,
          timeout: this.config.requestTimeoutMs,
          messages: group.map((p) => ({ partition: PARTITION, value: p.value, headers: { [BATCH_ID_HEADER]: p.id } })),
        };
        const result = await bounded(
          this.election === null ? producer.send(record) : this.transact(producer, record),
          this.config.requestTimeoutMs,
          (cause) => new KafkaUnavailableError(this.brokers, this.topic, 'appending (the batch may or may not have been stored)', cause),
        );
        const meta = result.find((r) => r.partition === PARTITION);
        if (meta?.baseOffset === undefined) throw new KafkaUnavailableError(this.brokers, this.topic, 'appending', 'the broker returned no offset');
        const base = kafkaOffsetNumber(meta.baseOffset, `topic ${this.topic}`);
        // One produce request for one partition is one record batch: the messages got consecutive offsets.
        for (let j = 0; j < group.length; j++) {
          const p = group[j]!;
          const first = await this.indexOwn(base + j, p.value, p.count, p.id);
          p.resolve(Array.from({ length: p.count }, (_, i) => first + i));
          done++;
        }
        // The transaction's commit marker follows its last message.
        if (this.election !== null) this.markerAt = base + group.length;
      } catch (caught) {
        let err =
          caught instanceof WeftError
            ? caught
            : new KafkaUnavailableError(this.brokers, this.topic, 'appending (the batch may or may not have been stored)', caught);
        if (this.election !== null && producer !== null && done === 0 && this.producer === producer) err = this.writerFailed(producer, err);
        this.logger.error('append to the Kafka event log failed', { error: err.message, code: err.code });
        for (const p of group.slice(done)) p.reject(err);
      }
    }
    this.flushing = false;
  }

  /** One transaction holding the messages; an error leaves its outcome to writerFailed. */
  private async transact(producer: Producer, record: Parameters<Producer['send']>[0]): ReturnType<Producer['send']> {
    const tx = await producer.transaction();
    try {
      const result = await tx.send(record);
      await tx.commit();
      return result;
    } catch (err) {
      // Fenced or in doubt: the abort may fail too; the producer is replaced either way (writerFailed).
      if (tx.isActive()) await tx.abort().catch(() => undefined);
      throw err;
    }
  }

  /**
   * The writer's append failed: the producer's state is unknown (an unanswered commit) or it was fenced. It is
   * replaced, but only after the group answered heartbeats again, so a replica that was frozen and replaced
   * learns that from the group instead of fencing its successor. Fenced: this replica follows until then.
   */
  private writerFailed(producer: Producer, err: WeftError): WeftError {
    this.producer = null;
    void producer.disconnect().catch(() => undefined);
    if (isFenced(err)) {
      this.setRole('follower', null);
      void this.acquire(2);
      return new KafkaFencedError(this.topic, this.replicaId, err);
    }
    void this.acquire(1);
    return err;
  }

  /** Indexes every message up to the partition's end as its leader reports it now (the high watermark). */
  private async catchUpToEnd(): Promise<void> {
    const admin = this.kafka.admin();
    const ms = this.config.requestTimeoutMs;
    let high: number;
    try {
      await bounded(admin.connect(), ms, (cause) => new KafkaUnavailableError(this.brokers, this.topic, 'connecting', cause));
      ({ high } = await partitionOffsets(admin, this.brokers, this.topic, ms));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await bounded(this.catchUp(high), ms * 2, (cause) => new KafkaUnavailableError(this.brokers, this.topic, 'reading the topic to its end', cause));
  }

  /** The writer's producer once it is initialised again, or null after requestTimeoutMs (or when not the writer). */
  private async writerProducer(): Promise<Producer | null> {
    if (this.election === null || !this.isWriter) return this.producer;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.producerWaiters.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.config.requestTimeoutMs))),
    ]);
    clearTimeout(timer);
    return this.isWriter ? this.producer : null;
  }

  /** The first Weft offset of our own message at `kafkaOffset`, after indexing what others wrote before it. */
  private async indexOwn(kafkaOffset: number, payload: Buffer, count: number, id: string): Promise<number> {
    // Only our last commit marker lies between: the one offset between our last message and this one.
    const onlyOurMarker = this.markerAt === this.index.kafkaEnd && kafkaOffset === this.markerAt + 1;
    if (this.index.kafkaEnd < kafkaOffset && !onlyOurMarker) await this.catchUp(kafkaOffset);
    return this.learn(kafkaOffset, payload, count, id);
  }

  /**
   * Indexes a message (see MessageIndex.add for what the caller must have seen) and, when it is new, keeps
   * it for the followers and wakes them. Returns its first Weft offset.
   */
  private learn(kafkaOffset: number, payload: Buffer, count: number, id: string | undefined): number {
    const known = this.index.kafkaEnd > kafkaOffset;
    const first = this.index.add(kafkaOffset, count, id);
    if (!known && !this.index.dropped(kafkaOffset)) {
      this.remember({ kafkaOffset, first, payload });
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
    return first;
  }

  private remember(entry: Recent): void {
    this.recent.push(entry);
  }


  /** Indexes every message before Kafka offset `target` (another writer's, found only by reading them). */
  private catchUp(target: number): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.index.kafkaEnd >= target) return;
      for await (const messages of this.consume(this.index.kafkaEnd, target)) {
        for (const m of messages) {
          if (m.offset >= target) return;
          this.learn(m.offset, m.value!, decodeMessage(this.topic, m, true).length, m.batchId);
        }
      }
    };
    const next = this.catching.then(run, run);
    this.catching = next.catch(() => undefined);
    return next;
  }

  private consume(start: number, end: number | undefined, stop?: Promise<void>): AsyncGenerator<RawMessage[]> {
    return consumePartition({
      kafka: this.kafka,
      brokers: this.brokers,
      topic: this.topic,
      start,
      ...(end === undefined ? {} : { end }),
      ...(stop === undefined ? {} : { stop }),
      stallMs: this.config.requestTimeoutMs,
      sessionTimeoutMs: 60_000,
      maxWaitMs: end === undefined ? 500 : 200,
    });
  }

  read(from = 0): AsyncIterable<LogBatch> {
    if (this.closed) throw new LogUnavailableError(`event log on Kafka topic "${this.topic}" is closed`);
    return this.batches(from, this.index.head, this.index.kafkaEnd);
  }

  private async *batches(from: number, end: number, kafkaEnd: number): AsyncGenerator<LogBatch> {
    for await (const events of this.range(from, end, kafkaEnd, (m, first) => meshEvents(this.topic, m, first))) yield { events };
  }

  /** read() with envelopes checked and bodies left as bytes: the start-up replay's input. */
  readEncoded(from = 0): AsyncIterable<readonly EncodedEvent[]> {
    if (this.closed) throw new LogUnavailableError(`event log on Kafka topic "${this.topic}" is closed`);
    const remap = (m: RawMessage, first: number): EncodedEvent[] => withOffsets(decodeMessage(this.topic, m, true), first);
    const kept = from === 0 ? this.kept : null;
    this.kept = null;
    if (kept !== null) {
      return (async function* () {
        for (const r of kept) yield r.events;
      })();
    }
    return this.range(from, this.index.head, this.index.kafkaEnd, remap);
  }

  /** The events in [from, end) batch by batch, from the messages before kafkaEnd, decoded by `decode`. */
  private async *range<E extends { readonly offset: number }>(
    from: number,
    end: number,
    kafkaEnd: number,
    decode: (m: RawMessage, first: number) => E[],
  ): AsyncGenerator<E[]> {
    if (from >= end) return;
    for await (const messages of this.consume(this.index.messageFor(from), kafkaEnd)) {
      for (const m of messages) {
        if (m.offset >= kafkaEnd) return;
        if (this.index.dropped(m.offset)) continue;
        const first = this.index.firstOf(m.offset);
        if (first < 0) throw new KafkaRecordError(this.topic, PARTITION, m.offset, 'a message the log did not see when it indexed the topic');
        const events = decode(m, first);
        if (endOf(events) <= from) continue;
        yield events[0]!.offset >= from ? events : events.filter((e) => e.offset >= from);
      }
    }
  }

  follow(from: number, handler: (batch: LogBatch) => void | Promise<void>): Subscription {
    if (this.closed) throw new LogUnavailableError(`event log on Kafka topic "${this.topic}" is closed`);
    this.startTail();
    const f: Follower = new Follower(
      {
        head: () => this.index.head,
        readFrom: (pos) => this.readFrom(pos),
        changed: () => new Promise<void>((resolve) => this.waiters.push(resolve)),
        failure: () => this.tailError,
      },
      from,
      handler,
      this.logger,
      (done) => this.followers.delete(done),
    );
    this.followers.add(f);
    return f;
  }

  /** Batches from `pos` up to the head: from the recent messages when they reach back that far, else from Kafka. */
  private async *readFrom(pos: number): AsyncGenerator<LogBatch> {
    const recent = this.recent.entries;
    const lo = this.recent.lastAtOrBefore(pos, (r) => r.first);
    if (lo < 0) {
      yield* this.batches(pos, this.index.head, this.index.kafkaEnd);
      return;
    }
    for (let i = lo; i < recent.length; i++) {
      const r = recent[i]!;
      const events = meshEvents(this.topic, { offset: r.kafkaOffset, value: r.payload }, r.first);
      yield { events: events[0]!.offset >= pos ? events : events.filter((e) => e.offset >= pos) };
    }
  }

  /**
   * One consumer for all followers: it reads past the head, indexing what other writers append. Kafka being
   * away only delays it (it starts again); a message that is not a Weft batch stops it for good, and the
   * followers end with that error.
   */
  private startTail(): void {
    if (this.tail !== null) return;
    this.contact = new BrokerContact({
      kafka: this.kafka,
      topic: this.topic,
      boundMs: this.config.requestTimeoutMs,
      intervalMs: Math.max(250, Math.floor(this.config.requestTimeoutMs / 4)),
      logger: this.logger,
    });
    const stop = new Promise<void>((resolve) => (this.stopTail = resolve));
    let stopped = false;
    void stop.then(() => (stopped = true));
    const loop = async (): Promise<void> => {
      while (!stopped) {
        try {
          for await (const messages of this.consume(this.index.kafkaEnd, undefined, stop)) {
            for (const m of messages) {
              if (m.offset < this.index.kafkaEnd) continue;
              this.learn(m.offset, m.value!, decodeMessage(this.topic, m, true).length, m.batchId);
            }
          }
        } catch (err) {
          if (!(err instanceof KafkaUnavailableError)) {
            this.tailError = err;
            this.logger.error('following the Kafka event log stopped', { error: (err as Error).message, code: (err as WeftError).code });
            const waiters = this.waiters;
            this.waiters = [];
            for (const w of waiters) w();
            return;
          }
          this.logger.warn('following the Kafka event log: Kafka unavailable, retrying', { error: err.message });
          await Promise.race([stop, new Promise((r) => setTimeout(r, 1000))]);
        }
      }
    };
    this.tail = loop();
  }

  /**
   * Contact with the brokers for readiness: lost once they did not answer within requestTimeoutMs, or the
   * tail stopped for good. A log nobody follows probes nothing and reports only the tail.
   */
  reachability(): LogReachability {
    return this.contact?.state(this.tailError) ?? { reachable: true, lastContact: Date.now() };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.followers].map((f) => f.close()));
    this.stopTail();
    await this.tail;
    await this.contact?.close();
    await this.catching;
    // Leaving the group hands the writer role over at once.
    await this.election?.stop();
    for (const w of this.producerWaiters.splice(0)) w();
    await this.producer?.disconnect().catch((err: unknown) => {
      this.logger.warn('disconnecting the Kafka producer failed', { error: (err as Error).message });
    });
  }
}

/** A message's events with their Weft offsets (the message's first plus each relative offset). */
function meshEvents(topic: string, m: RawMessage, first: number): MeshEvent[] {
  return decodeMessage(topic, m, false).map((e) => ({ ...e, offset: first + e.offset }));
}

/**
 * The message's events with their relative offsets (0..n-1), envelopes checked; bodies parsed unless
 * `encoded`. Anything else on the topic is a KafkaRecordError naming where it sits.
 */
function decodeMessage(topic: string, m: RawMessage, encoded: true): EncodedEvent[];
function decodeMessage(topic: string, m: RawMessage, encoded: false): MeshEvent[];
function decodeMessage(topic: string, m: RawMessage, encoded: boolean): EncodedEvent[] | MeshEvent[] {
  if (m.value === null) throw new KafkaRecordError(topic, PARTITION, m.offset, 'the message has no value (a tombstone)');
  const where = kafkaWhere(topic, PARTITION, m.offset);
  let events: EncodedEvent[] | MeshEvent[];
  try {
    events = encoded ? decodeEnvelopes(m.value, where) : decodeBatch(m.value, where).events.slice();
  } catch (err) {
    if (!(err instanceof EventDecodeError)) throw err;
    const reason = err.message.startsWith(`${where}`) ? err.message.slice(where.length).replace(/^[,:]\s*/, '') : err.message;
    throw new KafkaRecordError(topic, PARTITION, m.offset, reason, err);
  }
  if (events[0]!.offset !== 0) {
    throw new KafkaRecordError(
      topic,
      PARTITION,
      m.offset,
      `its events start at offset ${events[0]!.offset}, not 0, so the Weft Kafka log did not write it (a batch copied from another log?)`,
    );
  }
  return events;
}

async function ensureTopic(admin: Admin, topic: string, config: KafkaPluginConfig, readOnly: boolean): Promise<void> {
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) {
    if (readOnly || !config.createTopic) {
      throw new LogUnavailableError(
        `Kafka topic "${topic}" does not exist${readOnly ? ' (the log is opened read-only, so it is not created)' : ''}; ` +
          'check the topic name in the log location, or create the topic with one partition',
      );
    }
    // kafkajs waits for the leaders by asking one broker for the metadata; on a cluster that broker may not
    // know the new topic yet and answer UNKNOWN_TOPIC_OR_PARTITION: the topic exists, the loop below waits.
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: 1,
            replicationFactor: config.replicationFactor,
            configEntries: [
              // The log is the only input: every batch is kept, and offsets are counted from the first message.
              { name: 'retention.ms', value: '-1' },
              { name: 'retention.bytes', value: '-1' },
              { name: 'cleanup.policy', value: 'delete' },
              { name: 'max.message.bytes', value: String(config.maxBatchBytes) },
              // acks=all waits for every in-sync replica; with three or more, one may be down and writes go on.
              { name: 'min.insync.replicas', value: config.replicationFactor >= 3 ? '2' : '1' },
            ],
          },
        ],
      });
    } catch (err) {
      if ((err as { type?: unknown }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
    }
  }
  // On a cluster, the broker asked may not know a topic just created yet (UNKNOWN_TOPIC_OR_PARTITION) for a
  // moment after createTopics returned: ask again (the caller bounds the whole check by requestTimeoutMs).
  let meta: Awaited<ReturnType<Admin['fetchTopicMetadata']>>;
  for (let n = 0; ; n++) {
    try {
      meta = await admin.fetchTopicMetadata({ topics: [topic] });
      break;
    } catch (err) {
      if ((err as { type?: unknown }).type !== 'UNKNOWN_TOPIC_OR_PARTITION' || n >= 20) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const partitions = meta.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
  if (partitions !== 1) {
    throw new WeftError(
      'CONFIG_INVALID',
      `Kafka topic "${topic}" has ${partitions} partitions; the event log needs exactly one (the partition's order is ` +
        "the log's total order). Point the log at a topic with one partition.",
    );
  }
}
