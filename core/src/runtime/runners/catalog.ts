import type { Catalog } from '../../catalog/catalog.js';
import { Engine } from '../../derive/engine.js';
import type { EventLog, LogBatch, Subscription } from '../../log/types.js';
import type { Logger } from '../../observe/logger.js';
import type { WeftMetrics } from '../../observe/metrics.js';
import type { XdsServer } from '../../xds/server.js';
import { describeApplied } from '../applied.js';
import type { Runner } from './runner.js';

export interface FollowingCatalog {
  readonly engine: Engine;
  /** Resolves once the catalog has applied every event up to `offset`. */
  caughtUp(offset: number): Promise<void>;
  /**
   * Where invalidated derivations are announced from now on. The ADS server starts after the catalog
   * follows the log; batches applied before it exists have no proxy to notify.
   */
  notifyTo(xds: Pick<XdsServer, 'notify'>): void;
}

/**
 * Keeps the catalog following the log, each batch invalidating the derivations it touched. A batch the
 * catalog cannot fold means the state would diverge from the log, so it is fatal (`onFatal`).
 */
export class CatalogRunner implements Runner<FollowingCatalog> {
  readonly name = 'catalog';
  private subscription: Subscription | undefined;

  constructor(
    private readonly inputs: {
      readonly log: Pick<EventLog, 'follow'>;
      readonly catalog: Catalog;
      readonly metrics: WeftMetrics;
      readonly logger: Logger;
      readonly onFatal: (err: unknown) => void;
    },
  ) {}

  async start(): Promise<FollowingCatalog> {
    const { log, catalog, metrics, logger, onFatal } = this.inputs;
    const engine = new Engine(catalog, {
      onEvent: (e) => {
        if (e.type === 'recompute' || e.type === 'unchanged') metrics.derivationsRecomputed.inc();
      },
    });
    const applyBatch = (batch: LogBatch): ReturnType<Catalog['apply']> => {
      const changes = catalog.apply(batch);
      metrics.observeBatch(batch);
      return changes;
    };
    const waiters: { offset: number; resolve: () => void }[] = [];
    const wake = (): void => {
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i]!;
        if (catalog.lastOffset >= w.offset) {
          waiters.splice(i, 1);
          w.resolve();
        }
      }
    };
    let xds: Pick<XdsServer, 'notify'> | undefined;
    let failed = false;
    this.subscription = log.follow(catalog.lastOffset + 1, (batch) => {
      if (failed) return;
      try {
        const changes = applyBatch(batch);
        logger.info('change applied', describeApplied(batch));
        const ids = engine.invalidate(changes.keys);
        if (xds !== undefined && ids.size > 0) {
          const appendedAt = batch.events[batch.events.length - 1]?.time;
          xds.notify(ids, { offsets: changes.offsets, ...(appendedAt === undefined ? {} : { appendedAt }) });
        }
      } catch (err) {
        failed = true;
        logger.error('applying a log batch failed; stopping', { error: (err as Error).message });
        onFatal(err);
      }
      wake();
    });
    return {
      engine,
      caughtUp: (offset) =>
        catalog.lastOffset >= offset ? Promise.resolve() : new Promise((resolve) => waiters.push({ offset, resolve })),
      notifyTo: (server) => {
        xds = server;
      },
    };
  }

  async stop(): Promise<void> {
    await this.subscription?.close();
  }
}
