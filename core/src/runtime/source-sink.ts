import { randomUUID } from 'node:crypto';
import type { CatalogLike } from '../catalog/types.js';
import type { EventLog } from '../log/types.js';
import { keyOf, RESOURCE_KINDS, type ResourceKind } from '../model/types.js';
import type { Logger } from '../observe/logger.js';
import type { ResourceSource, SourceSink } from '../plugin/api.js';
import { retry, type RetryOptions } from '../retry.js';
import { appendFailureReason } from './readiness.js';

/**
 * How a source's failed append is tried again: waits from ~250 ms doubling to 30 s. A running instance
 * never gives up on a retriable failure (the log may come back: space freed, a broker back); during the
 * start it gives up after START_APPEND_RETRIES, so that a log that cannot be written fails `weft start`.
 */
export const APPEND_RETRY: RetryOptions = { initialRetryTime: 250, maxRetryTime: 30_000, multiplier: 2, factor: 0.2 };
export const START_APPEND_RETRIES = 5;

/**
 * The sink a source writes through: appends to the log, a retriable failure tried again with backoff as
 * `retryOptions` says (default: not at all); `known` is what the catalog holds from it.
 */
export function createSourceSink(
  source: Pick<ResourceSource, 'name'>,
  log: Pick<EventLog, 'append'>,
  catalog: Pick<CatalogLike, 'list' | 'sourceOf'>,
  logger: Logger,
  retryOptions: () => RetryOptions = () => ({ retries: 0 }),
): SourceSink {
  const sinkLogger = logger.child({ source: source.name });
  return {
    // One id for every attempt: a log that stored an attempt whose outcome was unknown drops the retry's copy.
    append: (batch) => {
      const id = randomUUID();
      return retry(() => log.append(batch, { id }), {
        ...retryOptions(),
        onRetry: ({ error, attempt, delayMs }) =>
          sinkLogger.error('appending to the event log failed; retrying', {
            events: batch.length,
            attempt,
            retryInMs: delayMs,
            reason: appendFailureReason(error),
            error: error instanceof Error ? error.message : String(error),
          }),
      });
    },
    known: () => {
      const out = new Map<string, { kind: ResourceKind; key: string; body: unknown }>();
      for (const kind of RESOURCE_KINDS) {
        for (const body of catalog.list(kind)) {
          const key = keyOf((body as { meta: { namespace: string; name: string } }).meta);
          if (catalog.sourceOf(kind, key) === source.name) out.set(`${kind}/${key}`, { kind, key, body });
        }
      }
      return out;
    },
    logger: sinkLogger,
  };
}
