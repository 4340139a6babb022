/**
 * Retrying an operation that may fail for a while (a log that cannot be written, a broker that is away), in
 * kafkajs's manner: only errors that say `retriable: true` (WeftError's flag) are tried again; the waits
 * grow exponentially with jitter up to a cap, so many callers failing together do not retry in step and a
 * lasting failure is not hammered. Sleep and randomness are injectable for tests.
 */

export interface RetryOptions {
  /** Attempts after the first; Infinity tries until it succeeds or `signal` aborts. Default 5. */
  readonly retries?: number;
  /** The first wait, ms. Default 300. */
  readonly initialRetryTime?: number;
  /** No wait is longer than this, ms. Default 30 000. */
  readonly maxRetryTime?: number;
  /** Each wait is the previous one times this. Default 2. */
  readonly multiplier?: number;
  /** Jitter: each wait is drawn from ±factor around its nominal value. Default 0.2. */
  readonly factor?: number;
  /** Which errors are worth another attempt. Default: those carrying `retriable: true`. */
  readonly isRetriable?: (error: unknown) => boolean;
  /** Ends the waiting: the pending call rejects with the last error. */
  readonly signal?: AbortSignal;
  /** Told of each failed attempt that will be retried, before the wait. */
  readonly onRetry?: (info: RetryInfo) => void;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Uniform in [0, 1). */
  readonly random?: () => number;
}

export interface RetryInfo {
  readonly error: unknown;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The wait before the next attempt. */
  readonly delayMs: number;
}

export function isRetriable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retriable?: unknown }).retriable === true;
}

/** Resolves after `ms`, or at once when `signal` aborts (the caller checks `signal.aborted`). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The wait after failed attempt `attempt` (1-based), with jitter from `random`. */
export function retryDelay(attempt: number, options: RetryOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialRetryTime ?? 300;
  const max = options.maxRetryTime ?? 30_000;
  const factor = options.factor ?? 0.2;
  const nominal = Math.min(max, initial * (options.multiplier ?? 2) ** (attempt - 1));
  const jittered = nominal * (1 - factor + 2 * factor * random());
  return Math.round(Math.min(max, jittered));
}

/**
 * Calls `fn` until it resolves. A failure that is not retriable, the last allowed attempt's failure, or an
 * abort rejects with that failure's error (the caller sees why it failed, not that it was retried).
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 5;
  const retriable = options.isRetriable ?? isRetriable;
  const wait = options.sleep ?? sleep;
  const random = options.random ?? Math.random;
  const aborted = (): boolean => options.signal?.aborted === true;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (!retriable(error) || attempt > retries || aborted()) throw error;
      const delayMs = retryDelay(attempt, options, random);
      options.onRetry?.({ error, attempt, delayMs });
      await wait(delayMs, options.signal);
      if (aborted()) throw error;
    }
  }
}
