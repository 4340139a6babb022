/**
 * Whether a replica following the Kafka log is in contact with the brokers. The follower's own view cannot
 * tell: cut off from the brokers, it sees no new message, so its head stops and its lag reads 0, exactly
 * like a caught-up replica on a quiet topic. So a probe asks the partition's offsets (metadata, then the
 * leader's ListOffsets) every `intervalMs`; a replica with no answer for longer than `boundMs` is
 * unreachable, and /readyz sends proxies elsewhere while it keeps serving the ones it has.
 */
import type { LogReachability } from '@weft/core';
import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from '@weft/core';
import { kafkaOffsetNumber } from './offsets.js';

export interface BrokerContactOptions {
  readonly kafka: Kafka;
  readonly topic: string;
  /** No answer for longer than this: unreachable. */
  readonly boundMs: number;
  /** Time between probes; each probe is itself bounded by `boundMs`. */
  readonly intervalMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** The error's code (a WeftError's, or kafkajs's type) for the unauthenticated /readyz answer; never its text. */
function reasonOf(err: unknown): string {
  const e = err as { code?: unknown; type?: unknown; name?: unknown } | null;
  if (typeof e?.code === 'string' && e.code !== '') return e.code;
  if (typeof e?.type === 'string' && e.type !== '') return e.type;
  return typeof e?.name === 'string' && e.name !== '' ? e.name : 'unknown';
}

export class BrokerContact {
  private readonly now: () => number;
  private lastContact: number;
  private lastError: unknown = null;
  /** The partition's high watermark at the last answer (Kafka offset; counts transaction markers too). */
  private highWatermark = -1;
  private admin: Admin | null = null;
  private timer: NodeJS.Timeout | null = null;
  private probing: Promise<void> | null = null;
  private closed = false;
  private reported = true;

  constructor(private readonly o: BrokerContactOptions) {
    this.now = o.now ?? Date.now;
    // The open just talked to the brokers: the bound runs from now.
    this.lastContact = this.now();
    this.schedule();
  }

  /** Reachable while an answer came within the bound; `failure` (a tail that cannot go on) is unreachable at once. */
  state(failure: unknown = null): LogReachability {
    const since = this.now() - this.lastContact;
    if (failure !== null && failure !== undefined) return { reachable: false, lastContact: this.lastContact, reason: reasonOf(failure) };
    if (since <= this.o.boundMs) return { reachable: true, lastContact: this.lastContact };
    return { reachable: false, lastContact: this.lastContact, reason: this.lastError === null ? 'KAFKA_NO_ANSWER' : reasonOf(this.lastError) };
  }

  /** The partition's high watermark at the last answer, -1 before one. */
  get brokerHighWatermark(): number {
    return this.highWatermark;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.probing = this.probe().finally(() => {
        this.probing = null;
        this.schedule();
      });
    }, this.o.intervalMs);
    // A probe alone must not keep the process alive.
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const ask = async (): Promise<void> => {
        if (this.admin === null) {
          const admin = this.o.kafka.admin({ retry: { retries: 0 } });
          await admin.connect();
          this.admin = admin;
        }
        const offsets = await this.admin.fetchTopicOffsets(this.o.topic);
        const p = offsets.find((x) => x.partition === 0);
        if (p !== undefined) this.highWatermark = kafkaOffsetNumber(p.high, `topic ${this.o.topic}`);
      };
      await Promise.race([
        ask(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${this.o.boundMs} ms`), { code: 'KAFKA_NO_ANSWER' })), this.o.boundMs);
        }),
      ]);
      this.lastContact = this.now();
      this.lastError = null;
      if (!this.reported) {
        this.reported = true;
        this.o.logger.info('the Kafka brokers answer again', { topic: this.o.topic });
      }
    } catch (err) {
      this.lastError = err;
      // A connection that failed may be half-open: the next probe starts a fresh admin client.
      const admin = this.admin;
      this.admin = null;
      void admin?.disconnect().catch(() => undefined);
      if (this.reported && this.now() - this.lastContact > this.o.boundMs) {
        this.reported = false;
        this.o.logger.warn('the Kafka brokers did not answer within the bound; this replica is not ready', {
          topic: this.o.topic,
          boundMs: this.o.boundMs,
          error: (err as Error).message,
        });
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.probing;
    await this.admin?.disconnect().catch(() => undefined);
    this.admin = null;
  }
}
