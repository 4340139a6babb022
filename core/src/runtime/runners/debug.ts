import type { Catalog } from '../../catalog/catalog.js';
import type { Engine } from '../../derive/engine.js';
import type { EventLog } from '../../log/types.js';
import { DebugServer, isLoopbackHost, readTokenFile } from '../../observe/debug.js';
import { registerStateDebugRoutes } from '../../observe/debug-routes.js';
import type { Logger } from '../../observe/logger.js';
import type { ResourceSource } from '../../plugin/api.js';
import type { LoadedPlugin } from '../../plugin/loader.js';
import type { ProxyAdapter } from '../../xds/adapter.js';
import type { XdsServer } from '../../xds/server.js';
import type { WeftConfig } from '../config.js';
import type { Readiness } from '../readiness.js';
import type { Runner } from './runner.js';
import type { Listening } from './xds.js';

/**
 * The debug server's token, read before anything starts: an unreadable token file fails the start with
 * nothing to undo rather than after the log is open.
 */
export function readDebugToken(config: Pick<WeftConfig, 'debug' | 'label'>): string | undefined {
  return config.debug.enabled && config.debug.tokenFile !== null ? readTokenFile(config.debug.tokenFile, `${config.label}: debug.tokenFile`) : undefined;
}

/** The log's writer as /debug/log shows it: this process, or the elected replica of a shared log. */
function writerOf(log: EventLog): { role: string; replicaId: string | null; writerId: string | null } {
  const s = log.leadership?.state();
  return s === undefined ? { role: 'writer', replicaId: null, writerId: null } : { role: s.role, replicaId: s.replicaId, writerId: s.writerId };
}

/** The debug server: health and readiness probes, and the state of every part under /debug/. */
export class DebugRunner implements Runner<Listening> {
  readonly name = 'debug server';
  private server: DebugServer | undefined;

  constructor(
    private readonly inputs: {
      readonly config: Pick<WeftConfig, 'debug' | 'log' | 'trustDomain'>;
      readonly token: string | undefined;
      readonly log: EventLog;
      readonly catalog: Catalog;
      readonly engine: Engine;
      readonly xds: XdsServer;
      readonly xdsAddress: Listening;
      readonly readiness: Readiness;
      readonly plugins: readonly LoadedPlugin[];
      readonly sources: readonly ResourceSource[];
      readonly adapters: readonly ProxyAdapter[];
      readonly logger: Logger;
    },
  ) {}

  async start(): Promise<Listening> {
    const { config, token, log, catalog, engine, xds, xdsAddress, readiness, plugins, sources, adapters, logger } = this.inputs;
    const debug = new DebugServer(logger.child({ component: 'debug' }), token === undefined ? {} : { token });
    // The ADS server's routes first: the instance-wide /healthz and /readyz below win. Both answer without
    // the token: probes carry none, and they tell nothing of the mesh.
    xds.registerDebugRoutes(debug);
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
      .route('/debug/sources', () => ({ body: sources.map((s) => s.name) }))
      .route('/debug/adapters', () => ({ body: adapters.map((a) => ({ kind: a.kind, typeUrls: a.typeUrls })) }))
      .route('/debug/log', () => ({ body: { location: config.log, head: log.head(), applied: catalog.lastOffset, ...writerOf(log) } }))
      .route('/debug/engine', () => ({ body: engine.stats() }))
      .route('/debug/xds', () => ({ body: { address: `${xdsAddress.host}:${xdsAddress.port}`, ...xds.stats() } }));
    // Last: /debug/log with pages of events replaces the summary above, /debug/proxies/* gains /config.
    registerStateDebugRoutes(debug, {
      log,
      catalog,
      engine,
      adapters: new Map(adapters.map((a) => [a.kind, a])),
      proxy: (id) => xds.proxy(id),
      location: config.log,
      trustDomain: config.trustDomain,
      ...(log.leadership === undefined ? {} : { leadership: log.leadership }),
    });
    const port = await debug.listen(config.debug.host, config.debug.port);
    // Only a server that listens is closed: a failed listen leaves nothing open.
    this.server = debug;
    if (!debug.authenticated && !isLoopbackHost(config.debug.host)) {
      logger.warn('the debug server listens beyond loopback without authentication: anyone who reaches it reads every resource body and proxy address; set debug.tokenFile', {
        address: `${config.debug.host}:${port}`,
      });
    }
    return { host: config.debug.host, port };
  }

  async stop(): Promise<void> {
    await this.server?.close();
  }
}
