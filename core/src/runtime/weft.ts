import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import type { DependencyContainer } from 'tsyringe';
import type { Catalog } from '../catalog/catalog.js';
import { CompactingFold } from '../catalog/compact.js';
import type { CatalogLike } from '../catalog/types.js';
import type { CertificateIssuer } from '../certs/types.js';
import { CertificateManager } from '../certs/manager.js';
import { Engine } from '../derive/engine.js';
import { ConfigError, WeftError } from '../errors.js';
import type { EventLog, EventLogBackend, LogBatch, Subscription } from '../log/types.js';
import { keyOf, RESOURCE_KINDS, type ResourceKind } from '../model/types.js';
import { DebugServer, isLoopbackHost, readTokenFile } from '../observe/debug.js';
import { registerStateDebugRoutes } from '../observe/debug-routes.js';
import { createLogger, type Logger } from '../observe/logger.js';
import { startMetricsServer, WeftMetrics, type MetricsServer } from '../observe/metrics.js';
import { Tokens, type ResourceSource, type SourceSink } from '../plugin/api.js';
import { createPluginContainer, loadPlugins, type LoadedPlugin } from '../plugin/loader.js';
import { retry, type RetryOptions } from '../retry.js';
import type { ProxyAdapter } from '../xds/adapter.js';
import { XdsServer, type XdsTls } from '../xds/server.js';
import { builtinBackends, openLog } from './backends.js';
import { countIssuedCertificates, pushCertificateChanges } from './cert-push.js';
import { describeApplied } from './applied.js';
import { CORE_PACKAGE_DIR, type WeftConfig } from './config.js';
import { AppendHealth, appendFailureReason, Readiness } from './readiness.js';

/**
 * Composition of a running control plane. Everything that can be checked is checked before anything
 * listens or watches (config, plugins, extension points); then the pieces start in dependency order
 * (log, catalog caught up, certificates, servers, sources last) and stop in the reverse order.
 */

export interface StartOptions {
  readonly logger?: Logger;
}

export interface Listening {
  readonly host: string;
  readonly port: number;
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

/** Extension points, resolved from the container and checked for clashes. */
export interface Extensions {
  readonly backends: EventLogBackend[];
  readonly sources: ResourceSource[];
  readonly issuers: CertificateIssuer[];
  readonly adapters: ProxyAdapter[];
}

function all<T>(container: DependencyContainer, token: string): T[] {
  return container.isRegistered(token, true) ? container.resolveAll<T>(token) : [];
}

function unique<T>(items: readonly T[], keyOfItem: (t: T) => string, what: string, label: string): void {
  const seen = new Set<string>();
  for (const item of items) {
    const k = keyOfItem(item);
    if (seen.has(k)) throw new ConfigError(`${label}: two plugins register a ${what} "${k}"; load only one of them`);
    seen.add(k);
  }
}

export function resolveExtensions(container: DependencyContainer, config: WeftConfig): Extensions {
  const ext: Extensions = {
    backends: all<EventLogBackend>(container, Tokens.EventLogBackend),
    sources: all<ResourceSource>(container, Tokens.ResourceSource),
    issuers: all<CertificateIssuer>(container, Tokens.CertificateIssuer),
    adapters: all<ProxyAdapter>(container, Tokens.ProxyAdapter),
  };
  unique(ext.sources, (s) => s.name, 'resource source named', config.label);
  unique(ext.adapters, (a) => a.kind, 'proxy adapter for kind', config.label);
  if (ext.issuers.length > 1) {
    throw new ConfigError(
      `${config.label}: ${ext.issuers.length} certificate issuers are registered (${ext.issuers.map((i) => i.name).join(', ')}); ` +
        'load exactly one issuer plugin',
    );
  }
  if (ext.issuers.length === 0 && !config.xds.insecure) {
    throw new ConfigError(
      `${config.label}: no certificate issuer plugin is loaded, so proxies cannot get mTLS certificates; ` +
        'add @weft/plugin-ca-local to plugins, or set xds.insecure: true for development',
    );
  }
  return ext;
}

/** Imports and registers the configured plugins into a fresh container with the built-in log backends. */
export async function loadConfiguredPlugins(
  config: WeftConfig,
  logger: Logger,
): Promise<{ container: DependencyContainer; plugins: LoadedPlugin[] }> {
  const container = createPluginContainer();
  for (const backend of builtinBackends(logger.child({ component: 'log' }))) {
    container.register<EventLogBackend>(Tokens.EventLogBackend, { useValue: backend });
  }
  const plugins = await loadPlugins(config.plugins, container, {
    label: config.label,
    configDir: config.configDir,
    resolvePaths: [CORE_PACKAGE_DIR],
    context: { logger, dataDir: config.dataDir, configDir: config.configDir, trustDomain: config.trustDomain },
  });
  return { container, plugins };
}

/**
 * Names on the ADS server's certificate: the service names a proxy may dial (weft, weft.<mesh>.svc and the
 * FQDN under the trust domain), localhost, and the listen address when it is a concrete IP.
 */
export function xdsServerNames(config: WeftConfig): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames = ['weft', `weft.${config.meshName}.svc`, `weft.${config.meshName}.svc.${config.trustDomain}`, 'localhost'];
  const ipAddresses = ['127.0.0.1'];
  const host = config.xds.host;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host) && host !== '0.0.0.0' && host !== '127.0.0.1') ipAddresses.push(host);
  else if (!/^[\d.:]+$/.test(host) && host !== 'localhost') dnsNames.push(host);
  return { dnsNames, ipAddresses };
}

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

/** The log's writer as /debug/log shows it: this process, or the elected replica of a shared log. */
function writerOf(log: EventLog): { role: string; replicaId: string | null; writerId: string | null } {
  const s = log.leadership?.state();
  return s === undefined ? { role: 'writer', replicaId: null, writerId: null } : { role: s.role, replicaId: s.replicaId, writerId: s.writerId };
}

export async function startWeft(config: WeftConfig, options: StartOptions = {}): Promise<RunningWeft> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  logger.info('starting', { config: config.file ?? '<defaults>', dataDir: config.dataDir, log: config.log });

  // Phase 1: nothing runs yet; any error leaves nothing behind.
  const { container, plugins } = await loadConfiguredPlugins(config, logger);
  for (const p of plugins) logger.info('plugin loaded', { plugin: p.name, from: p.spec, index: p.index });
  const ext = resolveExtensions(container, config);
  const debugToken =
    config.debug.enabled && config.debug.tokenFile !== null ? readTokenFile(config.debug.tokenFile, `${config.label}: debug.tokenFile`) : undefined;

  // Phase 2: start in dependency order; on failure, stop what started, in reverse.
  const stops: { name: string; stop: () => Promise<void> }[] = [];
  // Ends the sources' append retries, so that stopping a source does not wait out a backoff.
  const stopping = new AbortController();
  const stopAll = async (): Promise<void> => {
    stopping.abort();
    for (const s of stops.reverse().splice(0)) {
      try {
        await s.stop();
      } catch (err) {
        logger.error('stopping a component failed', { component: s.name, error: (err as Error).message });
      }
    }
  };

  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const stopped = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // A caller that only awaits close() must not see an unhandled rejection.
  stopped.catch(() => undefined);

  try {
    await fs.promises.mkdir(config.dataDir, { recursive: true });
    // The start-up replay's time includes the open, which verifies every record of a file log.
    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    const log = await openLog(config.log, ext.backends, config.label, { keepRecords: true });
    stops.push({ name: 'log', stop: () => log.close() });

    const metrics = new WeftMetrics();
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
    const engine = new Engine(catalog, {
      onEvent: (e) => {
        if (e.type === 'recompute' || e.type === 'unchanged') metrics.derivationsRecomputed.inc();
      },
    });

    const lag = (): number => Math.max(0, log.head() - 1 - catalog.lastOffset);
    metrics.measureLogLag(lag);
    // Every append of this process (sources, certificate records) is counted and tells readiness.
    const appends = new AppendHealth(log, metrics, logger.child({ component: 'log' }));
    const readiness = new Readiness({
      appends,
      lag,
      maxLagEvents: config.readiness.maxLagEvents,
      // A Kafka follower cut off from the brokers shows no lag: its contact is a check of its own.
      ...(log.reachability === undefined ? {} : { reach: () => log.reachability!() }),
    });
    metrics.measureReadiness(() => readiness.report().ready);
    const applyBatch = (batch: LogBatch): ReturnType<Catalog['apply']> => {
      const changes = catalog.apply(batch);
      metrics.observeBatch(batch);
      return changes;
    };
    const cpu = process.cpuUsage(cpu0);
    logger.info('log replayed into the catalog', {
      events: fold.events,
      resources: fold.resources,
      offset: catalog.lastOffset,
      ms: Date.now() - t0,
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    });

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
    // Set once the ADS server exists; batches applied before that have no proxy to notify.
    const live: { xds?: XdsServer } = {};
    let failed = false;
    const subscription: Subscription = log.follow(catalog.lastOffset + 1, (batch) => {
      if (failed) return;
      try {
        const changes = applyBatch(batch);
        logger.info('change applied', describeApplied(batch));
        const ids = engine.invalidate(changes.keys);
        if (live.xds !== undefined && ids.size > 0) {
          const appendedAt = batch.events[batch.events.length - 1]?.time;
          live.xds.notify(ids, { offsets: changes.offsets, ...(appendedAt === undefined ? {} : { appendedAt }) });
        }
      } catch (err) {
        // A batch the catalog cannot fold means the state would diverge from the log: stop, loudly.
        failed = true;
        logger.error('applying a log batch failed; stopping', { error: (err as Error).message });
        void stopAll().then(() => settle.reject(err));
      }
      wake();
    });
    stops.push({ name: 'catalog', stop: () => subscription.close() });

    let certificates: CertificateManager | undefined;
    const issuer = ext.issuers[0];
    if (issuer !== undefined) {
      // A follower does not append: its issuance records are left to the log (it still issues and serves).
      const records = {
        append: (batch: Parameters<AppendHealth['append']>[0]) =>
          log.leadership !== undefined && log.leadership.state().role !== 'writer' ? Promise.resolve([]) : appends.append(batch),
      };
      const manager = new CertificateManager({ issuer, engine, log: records, logger, trustDomain: config.trustDomain });
      certificates = manager;
      stops.push({ name: 'certificates', stop: async () => manager.close() });
      // Subscribed before the first issuance (the ADS server's own certificate) so every one is counted.
      const unsubscribeIssued = countIssuedCertificates(manager, metrics);
      stops.push({ name: 'certificate metrics', stop: async () => unsubscribeIssued() });
      logger.info('certificate issuer ready', { issuer: issuer.name });
    }

    let tls: XdsTls = { mode: 'insecure' };
    if (!config.xds.insecure && certificates !== undefined) {
      const names = xdsServerNames(config);
      const cert = await certificates.serverCertificate(names.dnsNames, { ipAddresses: names.ipAddresses });
      tls = { mode: 'mtls', key: cert.keyPem, cert: [cert.certPem, ...cert.chainPem].join('\n'), ca: certificates.trustBundle() };
    }
    const ads = new XdsServer({
      engine,
      adapters: new Map(ext.adapters.map((a) => [a.kind, a])),
      tls,
      trustDomain: config.trustDomain,
      maxProxies: config.xds.maxProxies,
      coalesceMs: config.xds.coalesceMs,
      maxConcurrentPushes: config.xds.maxConcurrentPushes,
      ...(config.xds.maxConnections === undefined ? {} : { maxConnections: config.xds.maxConnections }),
      idleConnectionTimeoutMs: config.xds.idleConnectionTimeoutMs,
      ...(certificates === undefined ? {} : { certificates }),
      metrics,
      logger,
    });
    live.xds = ads;
    stops.push({ name: 'xds server', stop: () => ads.close() });
    if (certificates !== undefined && tls.mode === 'mtls') {
      const unsubscribe = certificates.on('trustBundle', ({ bundle }) => ads.setTrustBundle(bundle));
      stops.push({ name: 'trust bundle watch', stop: async () => unsubscribe() });
    }
    if (certificates !== undefined) {
      // Rotated identity certificates and trust bundles re-pushed over SDS; the serving certificate swapped.
      const unsubscribePush = pushCertificateChanges(
        certificates,
        ads,
        tls.mode === 'mtls' ? { servingDnsNames: xdsServerNames(config).dnsNames } : {},
      );
      stops.push({ name: 'certificate push', stop: async () => unsubscribePush() });
    }
    const xdsPort = await ads.listen(config.xds.host, config.xds.port);
    const xdsAddress: Listening = { host: config.xds.host, port: xdsPort };
    logger.info('xds server listening', {
      address: `${config.xds.host}:${xdsPort}`,
      mode: tls.mode,
      adapters: ext.adapters.map((a) => a.kind),
    });
    if (ext.adapters.length === 0) logger.warn('no proxy adapter plugin is loaded; every proxy will be refused');

    let debugAddress: Listening | undefined;
    if (config.debug.enabled) {
      const debug = new DebugServer(logger.child({ component: 'debug' }), debugToken === undefined ? {} : { token: debugToken });
      // The ADS server's routes first: the instance-wide /healthz and /readyz below win. Both answer without
      // the token: probes carry none, and they tell nothing of the mesh.
      ads.registerDebugRoutes(debug);
      debug
        .route('/healthz', () => ({ body: { status: 'ok', offset: catalog.lastOffset } }), { public: true })
        .route(
          '/readyz',
          () => {
            const { ready, checks } = readiness.report();
            return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : 'not ready', checks } };
          },
          { public: true },
        )
        .route('/debug/plugins', () => ({ body: plugins.map((p) => ({ name: p.name, from: p.spec, index: p.index })) }))
        .route('/debug/sources', () => ({ body: ext.sources.map((s) => s.name) }))
        .route('/debug/adapters', () => ({ body: ext.adapters.map((a) => ({ kind: a.kind, typeUrls: a.typeUrls })) }))
        .route('/debug/log', () => ({ body: { location: config.log, head: log.head(), applied: catalog.lastOffset, ...writerOf(log) } }))
        .route('/debug/engine', () => ({ body: engine.stats() }))
        .route('/debug/xds', () => ({ body: { address: `${xdsAddress.host}:${xdsAddress.port}`, ...ads.stats() } }));
      // Last: /debug/log with pages of events replaces the summary above, /debug/proxies/* gains /config.
      registerStateDebugRoutes(debug, {
        log,
        catalog,
        engine,
        adapters: new Map(ext.adapters.map((a) => [a.kind, a])),
        proxy: (id) => ads.proxy(id),
        location: config.log,
        trustDomain: config.trustDomain,
        ...(log.leadership === undefined ? {} : { leadership: log.leadership }),
      });
      const port = await debug.listen(config.debug.host, config.debug.port);
      stops.push({ name: 'debug server', stop: () => debug.close() });
      debugAddress = { host: config.debug.host, port };
      if (!debug.authenticated && !isLoopbackHost(config.debug.host)) {
        logger.warn('the debug server listens beyond loopback without authentication: anyone who reaches it reads every resource body and proxy address; set debug.tokenFile', {
          address: `${config.debug.host}:${port}`,
        });
      }
    }

    let metricsAddress: Listening | undefined;
    if (config.metrics.enabled) {
      const metricsServer: MetricsServer = await startMetricsServer(metrics, config.metrics.host, config.metrics.port);
      stops.push({ name: 'metrics server', stop: () => metricsServer.close() });
      metricsAddress = { host: config.metrics.host, port: metricsServer.port };
    }

    // The sources run only on the log's writer: on a shared log (Kafka) one replica appends, the others
    // follow; they start when this replica becomes the writer and stop when it no longer is.
    const running: ResourceSource[] = [];
    let tenure = new AbortController();
    const startSources = async (): Promise<void> => {
      tenure = new AbortController();
      const signal = AbortSignal.any([stopping.signal, tenure.signal]);
      for (const source of ext.sources) {
        const sink = createSourceSink(source, appends, catalog, logger, () => ({
          ...APPEND_RETRY,
          retries: readiness.phase === 'sources' ? START_APPEND_RETRIES : Infinity,
          signal,
        }));
        await source.start(sink);
        running.push(source);
        logger.info('source started', { source: source.name });
      }
    };
    const stopSources = async (): Promise<void> => {
      tenure.abort();
      for (const source of running.splice(0).reverse()) {
        await source.stop().catch((err: unknown) => logger.error('stopping a source failed', { source: source.name, error: (err as Error).message }));
        logger.info('source stopped', { source: source.name });
      }
    };
    stops.push({ name: 'sources', stop: stopSources });
    const leadership = log.leadership;
    if (leadership !== undefined) {
      metrics.measureLogWriter(() => leadership.state());
      let turn = Promise.resolve();
      const unsubscribe = leadership.onChange((state) => {
        turn = turn.then(async () => {
          if (stopping.signal.aborted) return;
          if (state.role !== 'writer') appends.forget('this replica is no longer the writer');
          if (state.role === 'writer' && running.length === 0) await startSources();
          else if (state.role !== 'writer' && running.length > 0) await stopSources();
        }).catch((err: unknown) => logger.error('starting or stopping the sources on a writer change failed', { error: (err as Error).message }));
      });
      stops.push({ name: 'writer role watch', stop: async () => unsubscribe() });
    }
    if (leadership === undefined || leadership.state().role === 'writer') await startSources();
    else logger.info('this replica follows the event log; the sources run on the writer', { writer: leadership.state().writerId });

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
      xds: ads,
      xdsAddress,
      debug: debugAddress,
      metricsAddress,
      readiness,
      caughtUp: (offset) =>
        catalog.lastOffset >= offset ? Promise.resolve() : new Promise((resolve) => waiters.push({ offset, resolve })),
      stopped,
      close: () => {
        closing ??= (async () => {
          readiness.setPhase('stopping');
          logger.info('stopping');
          await stopAll();
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
    await stopAll();
    if (err instanceof WeftError) throw err;
    throw new WeftError('START_FAILED', `Weft could not start: ${(err as Error).message}`, { cause: err });
  }
}
