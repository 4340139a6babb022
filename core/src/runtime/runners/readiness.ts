import type { Catalog } from '../../catalog/catalog.js';
import type { EventLog } from '../../log/types.js';
import type { Logger } from '../../observe/logger.js';
import type { WeftMetrics } from '../../observe/metrics.js';
import type { WeftConfig } from '../config.js';
import { AppendHealth, Readiness } from '../readiness.js';
import type { Runner } from './runner.js';

export interface ReadinessChecks {
  /** Every append of this process (sources, certificate records) goes through it, so readiness sees it. */
  readonly appends: AppendHealth;
  readonly readiness: Readiness;
}

/** The checks /readyz and weft_ready report: append health, the catalog's lag behind the log, its reach. */
export class ReadinessRunner implements Runner<ReadinessChecks> {
  readonly name = 'readiness';

  constructor(
    private readonly inputs: {
      readonly config: Pick<WeftConfig, 'readiness'>;
      readonly log: EventLog;
      readonly catalog: Pick<Catalog, 'lastOffset'>;
      readonly metrics: WeftMetrics;
      readonly logger: Logger;
    },
  ) {}

  async start(): Promise<ReadinessChecks> {
    const { config, log, catalog, metrics, logger } = this.inputs;
    const lag = (): number => Math.max(0, log.head() - 1 - catalog.lastOffset);
    metrics.measureLogLag(lag);
    const appends = new AppendHealth(log, metrics, logger.child({ component: 'log' }));
    const readiness = new Readiness({
      appends,
      lag,
      maxLagEvents: config.readiness.maxLagEvents,
      // A Kafka follower cut off from the brokers shows no lag: its contact is a check of its own.
      ...(log.reachability === undefined ? {} : { reach: () => log.reachability!() }),
    });
    metrics.measureReadiness(() => readiness.report().ready);
    return { appends, readiness };
  }

  // The checks are read on demand and hold nothing open; the start phase is moved by startWeft.
  async stop(): Promise<void> {}
}
