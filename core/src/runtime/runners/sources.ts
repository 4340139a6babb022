import type { Catalog } from '../../catalog/catalog.js';
import type { EventLog } from '../../log/types.js';
import type { Logger } from '../../observe/logger.js';
import type { WeftMetrics } from '../../observe/metrics.js';
import type { ResourceSource } from '../../plugin/api.js';
import type { AppendHealth, Readiness } from '../readiness.js';
import { APPEND_RETRY, createSourceSink, START_APPEND_RETRIES } from '../source-sink.js';
import type { Runner } from './runner.js';

/**
 * The sources that append run only on the log's writer: on a shared log (Kafka) one replica appends, the
 * others follow; they start when this replica becomes the writer and stop when it no longer is. A source
 * that appends nothing (`everyReplica`, the injector's webhook) runs on every replica for the instance's
 * whole life, so that the API server can reach the webhook on any of them. Started last, once everything
 * that serves what they append is up.
 */
export class SourcesRunner implements Runner {
  readonly name = 'sources';
  private readonly running: ResourceSource[] = [];
  /** The everyReplica sources started, stopped only with the instance. */
  private readonly always: ResourceSource[] = [];
  // Aborted when this replica stops being the writer: that tenure's append retries end.
  private tenure = new AbortController();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly inputs: {
      readonly sources: readonly ResourceSource[];
      readonly log: Pick<EventLog, 'leadership' | 'head'>;
      /** Resolves once the catalog has applied the log up to `offset` (the catalog runner's). */
      readonly caughtUp: (offset: number) => Promise<void>;
      /** The log's appends, counted for readiness; a lost writer role forgets their failures. */
      readonly appends: AppendHealth;
      readonly catalog: Catalog;
      /** While its phase is 'sources', an append gives up after START_APPEND_RETRIES. */
      readonly readiness: Pick<Readiness, 'phase'>;
      readonly metrics: WeftMetrics;
      readonly logger: Logger;
      /** Aborted as the whole instance stops: retries end and no writer change starts a source again. */
      readonly stopping: AbortSignal;
    },
  ) {}

  async start(): Promise<void> {
    const { log, appends, metrics, logger, stopping } = this.inputs;
    const leadership = log.leadership;
    if (leadership !== undefined) {
      metrics.measureLogWriter(() => leadership.state());
      // Changes handled one after the other: a stop never overlaps the start it follows.
      let turn = Promise.resolve();
      this.unsubscribe = leadership.onChange((state) => {
        turn = turn.then(async () => {
          if (stopping.aborted) return;
          if (state.role !== 'writer') appends.forget('this replica is no longer the writer');
          if (state.role === 'writer' && this.running.length === 0) {
            // A source reconciles against what the catalog holds when it starts: first everything on the log
            // (the last writer's final appends may have been committed only as this replica fenced it), or
            // what the catalog has not applied yet would be appended a second time.
            await this.inputs.caughtUp(log.head() - 1);
            if (stopping.aborted || log.leadership?.state().role !== 'writer' || this.running.length > 0) return;
            await this.startSources();
          }
          else if (state.role !== 'writer' && this.running.length > 0) await this.stopSources();
        }).catch((err: unknown) => logger.error('starting or stopping the sources on a writer change failed', { error: (err as Error).message }));
      });
    }
    for (const source of this.inputs.sources.filter((s) => s.everyReplica === true)) {
      await source.start(this.sink(source, stopping));
      this.always.push(source);
      logger.info('source started', { source: source.name, everyReplica: true });
    }
    if (leadership === undefined || leadership.state().role === 'writer') await this.startSources();
    else logger.info('this replica follows the event log; the sources run on the writer', { writer: leadership.state().writerId });
  }

  async stop(): Promise<void> {
    // The role watch first, so that no writer change starts a source while they stop.
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.stopSources();
    for (const source of this.always.splice(0).reverse()) await this.stopSource(source);
  }

  private sink(source: ResourceSource, signal: AbortSignal): ReturnType<typeof createSourceSink> {
    const { appends, catalog, readiness, logger } = this.inputs;
    return createSourceSink(source, appends, catalog, logger, () => ({
      ...APPEND_RETRY,
      retries: readiness.phase === 'sources' ? START_APPEND_RETRIES : Infinity,
      signal,
    }));
  }

  private async startSources(): Promise<void> {
    const { sources, logger, stopping } = this.inputs;
    this.tenure = new AbortController();
    const signal = AbortSignal.any([stopping, this.tenure.signal]);
    for (const source of sources) {
      if (source.everyReplica === true) continue;
      await source.start(this.sink(source, signal));
      this.running.push(source);
      logger.info('source started', { source: source.name });
    }
  }

  private async stopSources(): Promise<void> {
    this.tenure.abort();
    for (const source of this.running.splice(0).reverse()) await this.stopSource(source);
  }

  private async stopSource(source: ResourceSource): Promise<void> {
    const { logger } = this.inputs;
    await source.stop().catch((err: unknown) => logger.error('stopping a source failed', { source: source.name, error: (err as Error).message }));
    logger.info('source stopped', { source: source.name });
  }
}
