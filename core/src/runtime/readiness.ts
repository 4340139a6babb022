import type { AppendOptions, EventInput, EventLog, LogReachability } from '../log/types.js';
import type { Logger } from '../observe/logger.js';
import type { WeftMetrics } from '../observe/metrics.js';
import { isRetriable } from '../retry.js';

/**
 * Liveness and readiness of one Weft instance. /healthz says the process is up (liveness: restart it when
 * that fails); /readyz says it should take traffic (readiness): the start-up replay, the sources' first
 * pass and the catalog catch-up are done, the event log takes appends, the catalog is not too far behind the
 * log's head, and a log kept elsewhere (Kafka) is in contact with its storage: cut off, a follower's head
 * stops and its lag reads 0, so the lag check alone would call it ready.
 */

/** Where the start is: sources' first pass, catalog catch-up, done; or stopping. */
export type StartPhase = 'sources' | 'catch-up' | 'done' | 'stopping';

export interface AppendFailure {
  /** errno code of the cause (EFBIG, ENOSPC, ...) when there is one, else the error's code. */
  readonly reason: string;
  readonly message: string;
  /** ISO time of the first failure since the last success. */
  readonly since: string;
  /** Failed attempts since the last success. */
  readonly failures: number;
}

export interface ReadinessCheck extends Readonly<Record<string, unknown>> {
  readonly ok: boolean;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: {
    readonly start: ReadinessCheck;
    readonly log: ReadinessCheck;
    readonly lag: ReadinessCheck;
    /** Only for a log that reports its contact (EventLog.reachability). */
    readonly reach?: ReadinessCheck;
  };
}

/** The label a failed append is counted under: the system's word for it when it has one. */
export function appendFailureReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string' && /^E[A-Z0-9]+$/.test(cause.code)) return cause.code;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' ? code : 'unknown';
}

/**
 * Every append this process makes goes through here: a failure is counted (weft_log_append_failures_total)
 * and, when retriable (the log may take appends again), marks the log unwritable for readiness until an
 * append succeeds; that success is logged once as the recovery.
 */
export class AppendHealth {
  private failure: AppendFailure | null = null;

  constructor(
    private readonly log: Pick<EventLog, 'append'>,
    private readonly metrics: WeftMetrics,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The failure readiness reports, or null while appends go through. */
  failing(): AppendFailure | null {
    return this.failure;
  }

  /**
   * Forgets the recorded failure without a successful append: a replica that stopped being the writer makes
   * no more appends, so nothing would ever clear a failure it recorded while it wrote, and it would stay
   * not ready for good although the log is the new writer's to write.
   */
  forget(why: string): void {
    if (this.failure === null) return;
    this.logger.info('append failure forgotten', { why, failures: this.failure.failures, since: this.failure.since });
    this.failure = null;
  }

  async append(batch: readonly EventInput[], options?: AppendOptions): Promise<number[]> {
    let offsets: number[];
    try {
      offsets = await this.log.append(batch, options);
    } catch (error) {
      const reason = appendFailureReason(error);
      this.metrics.logAppendFailures.inc({ reason });
      if (isRetriable(error)) {
        this.failure = {
          reason,
          message: error instanceof Error ? error.message : String(error),
          since: this.failure?.since ?? new Date(this.now()).toISOString(),
          failures: (this.failure?.failures ?? 0) + 1,
        };
      }
      throw error;
    }
    if (this.failure !== null) {
      this.logger.info('appending to the event log recovered', { failures: this.failure.failures, since: this.failure.since });
      this.failure = null;
    }
    return offsets;
  }
}

export class Readiness {
  private current: StartPhase = 'sources';

  constructor(
    private readonly options: {
      readonly appends: Pick<AppendHealth, 'failing'>;
      /** Events in the log not yet applied to the catalog. */
      readonly lag: () => number;
      /** 0: no bound. */
      readonly maxLagEvents: number;
      /** The log's contact with its storage (EventLog.reachability), when it reports one. */
      readonly reach?: () => LogReachability;
    },
  ) {}

  get phase(): StartPhase {
    return this.current;
  }

  setPhase(phase: StartPhase): void {
    this.current = phase;
  }

  report(): ReadinessReport {
    const failure = this.options.appends.failing();
    const lag = this.options.lag();
    const max = this.options.maxLagEvents;
    const checks = {
      start: { ok: this.current === 'done', phase: this.current },
      // The message stays in the logs: these answers go to unauthenticated probes.
      log: failure === null ? { ok: true } : { ok: false, reason: failure.reason, since: failure.since, failures: failure.failures },
      lag: { ok: max === 0 || lag <= max, lag, maxLagEvents: max },
    };
    const r = this.options.reach?.();
    if (r === undefined) return { ready: checks.start.ok && checks.log.ok && checks.lag.ok, checks };
    const reach = r.reachable
      ? { ok: true, lastContact: new Date(r.lastContact).toISOString() }
      : { ok: false, reason: r.reason ?? 'unknown', lastContact: new Date(r.lastContact).toISOString() };
    return { ready: checks.start.ok && checks.log.ok && checks.lag.ok && reach.ok, checks: { ...checks, reach } };
  }
}
