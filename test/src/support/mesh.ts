import * as grpc from '@grpc/grpc-js';
import { captureLogger, type EventInput, type ProxyAdapter } from '@weft/core';
import { WeftMetrics, XdsServer, type XdsServerOptions, type XdsTls, Catalog, Engine, MemoryEventLog } from '@weft/core/testing';
import { grpcTestAdapter } from './grpc-test-adapter.js';

/**
 * The real pipeline in one process: events appended to a MemoryEventLog, followed into the Catalog, the
 * changed keys invalidated on the Engine, the invalidated roots routed to the ADS server's actors.
 */
export interface TestMesh {
  readonly log: MemoryEventLog;
  readonly catalog: Catalog;
  readonly engine: Engine;
  readonly server: XdsServer;
  readonly metrics: WeftMetrics;
  readonly logger: ReturnType<typeof captureLogger>;
  readonly port: number;
  readonly address: string;
  /** Appends one batch and resolves once the catalog applied it and the server was notified. */
  append(events: readonly EventInput[]): Promise<number[]>;
  /** Number of proxies the last append touched. */
  lastTouched(): number;
  close(): Promise<void>;
}

export async function startMesh(
  options: { tls?: XdsTls; adapters?: ReadonlyMap<string, ProxyAdapter> } & Partial<Omit<XdsServerOptions, 'engine' | 'adapters' | 'tls'>> = {},
): Promise<TestMesh> {
  const logger = captureLogger('info');
  const log = new MemoryEventLog({ logger });
  const catalog = new Catalog();
  const metrics = new WeftMetrics({ defaultMetrics: false });
  const engine = new Engine(catalog, { onEvent: metrics.engineListener() });
  const adapters = options.adapters ?? new Map([['grpc', grpcTestAdapter('grpc')]]);
  const server = new XdsServer({
    coalesceMs: 2,
    ...options,
    engine,
    adapters,
    tls: options.tls ?? { mode: 'insecure' },
    metrics,
    logger,
  });
  const port = await server.listen('127.0.0.1', 0);
  let touched = 0;
  const applied: { offset: number; resolve: () => void }[] = [];
  const sub = log.follow(0, (batch) => {
    const changes = catalog.apply(batch);
    metrics.observeBatch(batch);
    const ids = engine.invalidate(changes.keys);
    touched = server.notify(ids, { offsets: changes.offsets, appendedAt: batch.events[0]?.time ?? Date.now() });
    for (const w of applied.splice(0)) {
      if (catalog.lastOffset >= w.offset) w.resolve();
      else applied.push(w);
    }
  });
  return {
    log,
    catalog,
    engine,
    server,
    metrics,
    logger,
    port,
    address: `127.0.0.1:${port}`,
    async append(events) {
      const offsets = await log.append(events);
      const last = offsets[offsets.length - 1] ?? -1;
      if (catalog.lastOffset < last) await new Promise<void>((resolve) => applied.push({ offset: last, resolve }));
      return offsets;
    },
    lastTouched: () => touched,
    async close() {
      await server.close();
      await sub.close();
      await log.close();
    },
  };
}

/** Polls until `check` returns true or throws after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const insecure = (): grpc.ChannelCredentials => grpc.credentials.createInsecure();
