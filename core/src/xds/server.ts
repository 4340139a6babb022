import * as grpc from '@grpc/grpc-js';
import type { IdentityCertificates } from '../certs/types.js';
import type { DerivationEngine } from '../derive/types.js';
import { ConfigError } from '../errors.js';
import type { DebugServer } from '../observe/debug.js';
import { silentLogger, type Logger } from '../observe/logger.js';
import type { WeftMetrics } from '../observe/metrics.js';
import type { ProxyAdapter } from './adapter.js';
import { ServerCallbacks } from './callbacks.js';
import { AdsListener, defaultMaxConnections, openFilesLimit } from './listener.js';
import { ProxyHub, type ProxyDetail, type ProxySnapshot } from './proxies.js';
import type { XdsMode } from './protocol.js';
import { AdsStream, serveStream, type AdsCall } from './stream.js';
import { DEFAULT_BUFFER_POOL_SIZE, holdPool, releasePool } from './buffer-pool.js';
import { TlsFront, type XdsTls } from './tls-front.js';
import { decodeDeltaRequest, decodeSotwRequest, encodeAdsResponse, type AdsRequest, type AdsResponse, type MalformedRequest } from './wire.js';

export { typeLabel } from './metric-labels.js';
export type { ProxyDetail, ProxySnapshot } from './proxies.js';
export type { XdsTls } from './tls-front.js';
export { DEFAULT_BUFFER_POOL_SIZE } from './buffer-pool.js';

/** OSM's ADS port. */
export const DEFAULT_ADS_PORT = 15128;

export interface XdsServerOptions {
  readonly engine: DerivationEngine;
  /** Proxy adapters by kind; the kind in a proxy's identity picks one. */
  readonly adapters: ReadonlyMap<string, ProxyAdapter>;
  readonly tls: XdsTls;
  readonly trustDomain?: string;
  /** Streams beyond this are refused with RESOURCE_EXHAUSTED. Default 10,000. */
  readonly maxProxies?: number;
  /**
   * Open connections to the ADS port (with a stream or not); one more is closed as it is accepted. Default
   * maxProxies + 1,024, at most 7/8 of the process's open-files limit where that is known.
   */
  readonly maxConnections?: number;
  /**
   * A connection with no open ADS stream for this long is closed: one that never finished its TLS handshake,
   * never opened a stream, or whose last stream ended. Default 10,000 ms.
   */
  readonly idleConnectionTimeoutMs?: number;
  /**
   * Invalidations arriving within this window are pushed together: a proxy is pushed at most once per window.
   * A change reaching a proxy that was not pushed within the last window goes out at once. Default 5 ms.
   */
  readonly coalesceMs?: number;
  /**
   * Bound on the work of one turn of the event loop: a flush plans and writes at most this many proxies'
   * pushes, then yields to I/O (the requests and ACKs of every stream) before the next slice. Default 64.
   */
  readonly maxConcurrentPushes?: number;
  /** A stream sending more requests per second than this (sustained) is ended. Default 200. */
  readonly maxRequestsPerSecond?: number;
  /** Pushes and ACK/NACKs remembered per proxy for debug and replay. Default 32. */
  readonly historySize?: number;
  /**
   * Node's Buffer pool size in bytes (`Buffer.poolSize`, a process-wide setting) while this server listens;
   * restored when it closes. Default 1,024 (`DEFAULT_BUFFER_POOL_SIZE`); Node's own is 8,192.
   */
  readonly bufferPoolSize?: number;
  readonly certificates?: IdentityCertificates;
  readonly metrics?: WeftMetrics;
  readonly logger?: Logger;
}

const SERVICE = '/envoy.service.discovery.v3.AggregatedDiscoveryService';

function method(name: string, decode: (b: Buffer) => AdsRequest | MalformedRequest): grpc.MethodDefinition<AdsRequest | MalformedRequest, AdsResponse> {
  return {
    path: `${SERVICE}/${name}`,
    requestStream: true,
    responseStream: true,
    // Decoding never throws: a malformed message becomes a value the stream handler reports once.
    requestDeserialize: decode,
    requestSerialize: () => {
      throw new Error('the ADS server does not send requests');
    },
    responseSerialize: encodeAdsResponse,
    responseDeserialize: () => {
      throw new Error('the ADS server does not read responses');
    },
  };
}

/** The ADS service, with serializers that splice pre-encoded Any bytes. */
export const adsServiceDefinition: grpc.ServiceDefinition = {
  StreamAggregatedResources: method('StreamAggregatedResources', decodeSotwRequest),
  DeltaAggregatedResources: method('DeltaAggregatedResources', decodeDeltaRequest),
};

/**
 * The ADS server: StreamAggregatedResources (state of the world) and DeltaAggregatedResources (incremental)
 * on @grpc/grpc-js, composed the way go-control-plane's server is: the stream loop (stream.ts) serves from a
 * source, the proxy hub (proxies.ts: adapters say what a proxy gets as derivations, the engine keeps them
 * current, one flush per batch pushes, one actor per proxy holds its life), and callbacks (callbacks.ts:
 * refusals, rate limits, metrics). The TLS front (tls-front.ts) proves identities; the listener bounds
 * connections. This class only wires them and answers for the whole.
 */
export class XdsServer {
  private readonly server: grpc.Server;
  private readonly logger: Logger;
  private readonly maxConnections: number;
  private readonly idleConnectionTimeoutMs: number;
  private readonly tls: TlsFront;
  private readonly hub: ProxyHub;
  private readonly callbacks: ServerCallbacks;
  private listener: AdsListener | undefined;
  private streamCounter = 0;
  private closed = false;
  private listening = false;
  private readonly bufferPoolSize: number;

  constructor(private readonly options: XdsServerOptions) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'xds' });
    const trustDomain = options.trustDomain ?? 'cluster.local';
    const maxProxies = options.maxProxies ?? 10_000;
    const coalesceMs = options.coalesceMs ?? 5;
    const maxRequestsPerSecond = options.maxRequestsPerSecond ?? 200;
    const openFiles = options.maxConnections === undefined ? openFilesLimit() : undefined;
    this.maxConnections = options.maxConnections ?? defaultMaxConnections(maxProxies, openFiles);
    this.idleConnectionTimeoutMs = options.idleConnectionTimeoutMs ?? 10_000;
    if (!(maxProxies >= 1)) throw new ConfigError(`xds maxProxies must be at least 1, got ${maxProxies}`);
    if (!(this.maxConnections >= 1)) throw new ConfigError(`xds maxConnections must be at least 1, got ${this.maxConnections}`);
    if (!(this.idleConnectionTimeoutMs >= 1)) {
      throw new ConfigError(`xds idleConnectionTimeoutMs must be at least 1, got ${this.idleConnectionTimeoutMs}`);
    }
    if (!(coalesceMs >= 0)) throw new ConfigError(`xds coalesceMs must be >= 0, got ${coalesceMs}`);
    this.bufferPoolSize = options.bufferPoolSize ?? DEFAULT_BUFFER_POOL_SIZE;
    if (!Number.isInteger(this.bufferPoolSize) || this.bufferPoolSize < 0) {
      throw new ConfigError(`xds bufferPoolSize must be a whole number of bytes >= 0, got ${this.bufferPoolSize}`);
    }
    if (this.maxConnections < maxProxies) {
      this.logger.warn('xds maxConnections is below maxProxies: at most maxConnections proxies can connect', {
        maxConnections: this.maxConnections,
        maxProxies,
        ...(openFiles === undefined ? {} : { openFilesLimit: openFiles }),
        fix: 'raise the open-files limit (ulimit -n) or set xds.maxConnections, or lower xds.maxProxies',
      });
    }
    this.tls = new TlsFront(options.tls, trustDomain);
    this.callbacks = new ServerCallbacks({
      logger: this.logger,
      metrics: options.metrics,
      trustDomain,
      maxProxies,
      maxRequestsPerSecond,
      adapters: options.adapters,
      tls: this.tls,
      peerTls: (peer) => this.listener?.peer(peer),
      streamOpened: (peer) => this.listener?.streamOpened(peer),
      shuttingDown: () => this.closed,
    });
    this.hub = new ProxyHub({
      engine: options.engine,
      adapters: options.adapters,
      coalesceMs,
      maxConcurrentPushes: options.maxConcurrentPushes ?? 64,
      historySize: options.historySize ?? 32,
      ...(options.certificates === undefined ? {} : { certificates: options.certificates }),
      events: this.callbacks,
    });
    // Long-lived streams: keepalives find dead peers; no message size surprises for big SotW responses.
    // Channelz off: nothing here reads it (the debug endpoints and metrics are Weft's own), and its per-call and
    // per-message bookkeeping was a measurable part of the connect storm's CPU.
    this.server = new grpc.Server({
      'grpc.enable_channelz': 0,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      'grpc.max_receive_message_length': 4 * 1024 * 1024,
    });
    this.server.addService(adsServiceDefinition, {
      StreamAggregatedResources: (call: AdsCall) => this.handleStream(call, 'sotw'),
      DeltaAggregatedResources: (call: AdsCall) => this.handleStream(call, 'delta'),
    });
  }

  /** Binds and starts serving; resolves with the bound port (useful with port 0). */
  async listen(host = '0.0.0.0', port = DEFAULT_ADS_PORT): Promise<number> {
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    // The socket server is Weft's (see AdsListener): it bounds connections, then hands them to grpc-js.
    const listener = new AdsListener({
      tls: this.tls.secureContext(),
      injector: this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure()),
      maxConnections: this.maxConnections,
      idleTimeoutMs: this.idleConnectionTimeoutMs,
      metrics: this.options.metrics,
      logger: this.logger,
    });
    try {
      const bound = await listener.listen(host, port);
      this.listener = listener;
      this.listening = true;
      holdPool(this.bufferPoolSize);
      return bound;
    } catch (err) {
      throw new ConfigError(`xds server cannot listen on ${address}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** A new trust bundle (root rotation): new handshakes and new streams verify against it. */
  setTrustBundle(ca: readonly string[]): void {
    this.tls.setTrustBundle(ca);
    this.listener?.setContext(this.tls.secureContext()!);
  }

  /**
   * A new serving certificate (rotation): new TLS handshakes present it; open connections and their streams
   * stay up on the one they negotiated. `cert` is the PEM chain (leaf first).
   */
  setServingCertificate(key: string, cert: string): void {
    const fingerprint = this.tls.setServingCertificate(key, cert);
    this.listener?.setContext(this.tls.secureContext()!);
    this.logger.info('serving certificate replaced', { fingerprint });
  }

  /**
   * Routes an invalidation (the ids DerivationEngine.invalidate returned) to the proxies holding one of
   * those roots: they are marked dirty at once and pushed by one flush, a microtask later, together with
   * everything else invalidated in the same turn. Returns how many proxies were told.
   */
  notify(ids: ReadonlySet<string>, cause: { readonly offsets: readonly number[]; readonly appendedAt?: number }): number {
    return this.hub.notify(ids, { offsets: cause.offsets, appendedAt: cause.appendedAt });
  }

  proxies(): ProxySnapshot[] {
    return this.hub.all().map((p) => p.snapshot());
  }

  proxy(id: string): ProxyDetail | undefined {
    const p = this.hub.find(id);
    if (p === undefined) return undefined;
    return { ...p.snapshot(), pushes: p.session.pushHistory(), acks: p.session.ackHistory() };
  }

  /** Open streams, connected proxies and watched roots: all three return to 0 when clients leave. */
  stats(): { readonly streams: number; readonly proxies: number; readonly roots: number; readonly pushesWaiting: number } {
    return {
      streams: this.callbacks.open.size,
      proxies: this.hub.supervisor.size,
      roots: this.hub.supervisor.rootCount,
      pushesWaiting: this.hub.queue.waiting,
    };
  }

  /** Adds /debug/proxies, /debug/proxies/<id or uuid>, /healthz and /readyz to a debug server. */
  registerDebugRoutes(debug: DebugServer): void {
    debug.route('/healthz', () => ({ body: { status: 'ok' } }));
    debug.route('/readyz', () =>
      this.listening && !this.closed
        ? { body: { status: 'ready', proxies: this.hub.supervisor.size } }
        : { status: 503, body: { status: this.closed ? 'closed' : 'not listening yet' } },
    );
    debug.route('/debug/proxies', () => ({ body: { proxies: this.proxies() } }));
    debug.route('/debug/proxies/*', (req) => {
      const detail = this.proxy(req.rest);
      return detail === undefined ? { status: 404, body: { error: `no connected proxy with id or uuid "${req.rest}"` } } : { body: detail };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stream of [...this.callbacks.open]) stream.end(grpc.status.UNAVAILABLE, 'xds server shutting down');
    for (const p of this.hub.all()) this.hub.disconnect(p);
    this.server.forceShutdown();
    this.listener?.close();
    // Set by listen; close runs once.
    if (this.listening) releasePool();
  }

  private handleStream(call: AdsCall, mode: XdsMode): void {
    serveStream(call, new AdsStream(++this.streamCounter, mode, call, this.callbacks), this.hub, this.callbacks);
  }
}
