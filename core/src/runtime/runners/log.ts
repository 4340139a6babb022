import * as fs from 'node:fs';
import type { Catalog } from '../../catalog/catalog.js';
import { CompactingFold } from '../../catalog/compact.js';
import type { EventLog, EventLogBackend } from '../../log/types.js';
import type { Logger } from '../../observe/logger.js';
import type { WeftMetrics } from '../../observe/metrics.js';
import { openLog } from '../backends.js';
import type { WeftConfig } from '../config.js';
import type { Runner } from './runner.js';

export interface OpenedLog {
  readonly log: EventLog;
  /** The catalog as of the log's head at open; the catalog runner keeps it following. */
  readonly catalog: Catalog;
}

/** Opens the event log and replays it into a catalog: nothing may derive or serve before this is done. */
export class LogRunner implements Runner<OpenedLog> {
  readonly name = 'log';
  private log: EventLog | undefined;

  constructor(
    private readonly inputs: {
      readonly config: Pick<WeftConfig, 'dataDir' | 'log' | 'label'>;
      readonly backends: readonly EventLogBackend[];
      readonly metrics: Pick<WeftMetrics, 'observeBatch'>;
      readonly logger: Logger;
    },
  ) {}

  async start(): Promise<OpenedLog> {
    const { config, backends, metrics, logger } = this.inputs;
    await fs.promises.mkdir(config.dataDir, { recursive: true });
    // The start-up replay's time includes the open, which verifies every record of a file log.
    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    const log = await openLog(config.log, backends, config.label, { keepRecords: true });
    this.log = log;
    // Start-up replay: only each resource's last event is parsed and indexed (CompactingFold says what it
    // keeps exact); from here on every batch is applied as it comes.
    const fold = new CompactingFold();
    if (log.readEncoded !== undefined) {
      for await (const events of log.readEncoded(0)) {
        fold.add(events);
        metrics.observeBatch({ events });
      }
    } else {
      for await (const batch of log.read(0)) {
        fold.add(batch.events);
        metrics.observeBatch(batch);
      }
    }
    const catalog = fold.finish();
    const cpu = process.cpuUsage(cpu0);
    logger.info('log replayed into the catalog', {
      events: fold.events,
      resources: fold.resources,
      offset: catalog.lastOffset,
      ms: Date.now() - t0,
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    });
    return { log, catalog };
  }

  async stop(): Promise<void> {
    // Closed even when the replay failed after the open: a file log holds a lock, Kafka a connection.
    await this.log?.close();
  }
}
