import 'reflect-metadata';
import type { DependencyContainer } from 'tsyringe';
import type { Catalog } from '../catalog/catalog.js';
import type { CertificateManager } from '../certs/manager.js';
import type { Engine } from '../derive/engine.js';
import { WeftError } from '../errors.js';
import type { EventLog } from '../log/types.js';
import { createLogger, type Logger } from '../observe/logger.js';
import { WeftMetrics } from '../observe/metrics.js';
import type { ResourceSource } from '../plugin/api.js';
import type { LoadedPlugin } from '../plugin/loader.js';
import type { ProxyAdapter } from '../xds/adapter.js';
import type { XdsServer } from '../xds/server.js';
import type { WeftConfig } from './config.js';
import type { Readiness } from './readiness.js';
import { CatalogRunner } from './runners/catalog.js';
import { CertificatePushRunner, CertificatesRunner } from './runners/certificates.js';
import { DebugRunner, readDebugToken } from './runners/debug.js';
import { LogRunner } from './runners/log.js';
import { MetricsServerRunner } from './runners/metrics.js';
import { PluginsRunner } from './runners/plugins.js';
import { ReadinessRunner } from './runners/readiness.js';
import { RunnerGroup } from './runners/runner.js';
import { SourcesRunner } from './runners/sources.js';
import { XdsListenerRunner, XdsServerRunner, type Listening } from './runners/xds.js';

export { loadConfiguredPlugins, resolveExtensions, type Extensions } from './runners/plugins.js';
export { xdsServerNames, type Listening } from './runners/xds.js';
export { APPEND_RETRY, START_APPEND_RETRIES, createSourceSink } from './source-sink.js';

/**
 * Composition of a running control plane out of runners (runners/), each starting and stopping one part.
 * Everything that can be checked is checked before anything listens or watches (config, plugins,
 * extension points); then the parts start in dependency order (log, catalog caught up, certificates,
 * servers, sources last) and stop in the reverse order.
 */

export interface StartOptions {
  readonly logger?: Logger;
}

export interface RunningWeft {
  readonly config: WeftConfig;
  readonly plugins: readonly LoadedPlugin[];
  readonly container: DependencyContainer;
  readonly log: EventLog;
  readonly catalog: Catalog;
  readonly engine: Engine;
  readonly metrics: WeftMetrics;
  readonly adapters: readonly ProxyAdapter[];
  readonly certificates: CertificateManager | undefined;
  readonly sources: readonly ResourceSource[];
  readonly xds: XdsServer;
  readonly xdsAddress: Listening;
  readonly debug: Listening | undefined;
  readonly metricsAddress: Listening | undefined;
  /** What /readyz answers (and weft_ready reports). */
  readonly readiness: Readiness;
  /** Resolves once the catalog has applied every event up to `offset` (for tests and tools). */
  caughtUp(offset: number): Promise<void>;
  /** Settles when Weft stopped: resolved on close(), rejected when a fatal error stopped it. */
  readonly stopped: Promise<void>;
  close(): Promise<void>;
}

export async function startWeft(config: WeftConfig, options: StartOptions = {}): Promise<RunningWeft> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  logger.info('starting', { config: config.file ?? '<defaults>', dataDir: config.dataDir, log: config.log });
  const group = new RunnerGroup(logger);

  // Phase 1: nothing runs yet; any error leaves nothing behind (and is thrown as it is).
  const { container, plugins, ext } = await group.start(new PluginsRunner({ config, logger }));
  const debugToken = readDebugToken(config);

  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const stopped = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // A caller that only awaits close() must not see an unhandled rejection.
  stopped.catch(() => undefined);

  // Phase 2: start in dependency order; on failure, stop what started, in reverse.
  try {
    const metrics = new WeftMetrics();
    const { log, catalog } = await group.start(new LogRunner({ config, backends: ext.backends, metrics, logger }));
    const { appends, readiness } = await group.start(new ReadinessRunner({ config, log, catalog, metrics, logger }));
    const following = await group.start(
      new CatalogRunner({ log, catalog, metrics, logger, onFatal: (err) => void group.stop().then(() => settle.reject(err)) }),
    );
    const { engine } = following;

    const issuer = ext.issuers[0];
    const certificates =
      issuer === undefined
        ? undefined
        : await group.start(new CertificatesRunner({ config, issuer, engine, log, appends, metrics, logger }));

    const { xds, tls } = await group.start(
      new XdsServerRunner({ config, engine, adapters: ext.adapters, certificates, metrics, logger }),
    );
    following.notifyTo(xds);
    if (certificates !== undefined) {
      await group.start(new CertificatePushRunner({ config, certificates, xds, mtls: tls.mode === 'mtls', logger }));
    }
    const xdsAddress = await group.start(new XdsListenerRunner({ config, xds, tls, adapters: ext.adapters, logger }));

    const debugAddress = config.debug.enabled
      ? await group.start(
          new DebugRunner({
            config,
            token: debugToken,
            log,
            catalog,
            engine,
            xds,
            xdsAddress,
            readiness,
            plugins,
            sources: ext.sources,
            adapters: ext.adapters,
            logger,
          }),
        )
      : undefined;
    const metricsAddress = config.metrics.enabled ? await group.start(new MetricsServerRunner({ config, metrics })) : undefined;

    await group.start(
      new SourcesRunner({ sources: ext.sources, log, caughtUp: following.caughtUp, appends, catalog, readiness, metrics, logger, stopping: group.signal }),
    );

    let closing: Promise<void> | undefined;
    const weft: RunningWeft = {
      config,
      plugins,
      container,
      log,
      catalog,
      engine,
      metrics,
      adapters: ext.adapters,
      certificates,
      sources: ext.sources,
      xds,
      xdsAddress,
      debug: debugAddress,
      metricsAddress,
      readiness,
      caughtUp: following.caughtUp,
      stopped,
      close: () => {
        closing ??= (async () => {
          readiness.setPhase('stopping');
          logger.info('stopping');
          await group.stop();
          logger.info('stopped');
          settle.resolve();
        })();
        return closing;
      },
    };
    // Ready means the catalog reflects everything the sources appended at start.
    readiness.setPhase('catch-up');
    await weft.caughtUp(log.head() - 1);
    readiness.setPhase('done');
    logger.info('ready', {
      offset: catalog.lastOffset,
      plugins: plugins.map((p) => p.name),
      sources: ext.sources.map((s) => s.name),
      adapters: ext.adapters.map((a) => a.kind),
      xds: `${xdsAddress.host}:${xdsAddress.port}`,
      debug: debugAddress === undefined ? null : `${debugAddress.host}:${debugAddress.port}`,
      metrics: metricsAddress === undefined ? null : `${metricsAddress.host}:${metricsAddress.port}`,
    });
    return weft;
  } catch (err) {
    await group.stop();
    if (err instanceof WeftError) throw err;
    throw new WeftError('START_FAILED', `Weft could not start: ${(err as Error).message}`, { cause: err });
  }
}
