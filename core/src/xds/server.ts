import { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { createActor, fromPromise, type Actor } from 'xstate';
import { proxyMachine } from '../actors/proxy-machine.js';
import { PushQueue } from '../actors/push-queue.js';
import { ProxySupervisor, type SupervisedProxy } from '../actors/supervisor.js';
import type { IdentityCertificates } from '../certs/types.js';
import type { DerivationEngine, DerivationSpec } from '../derive/types.js';
import { ConfigError } from '../errors.js';
import type { DebugServer } from '../observe/debug.js';
import { silentLogger, type Logger } from '../observe/logger.js';
import type { WeftMetrics } from '../observe/metrics.js';
import { TypeUrl, type ProxyAdapter, type ProxyIdentity, type ResourceSet } from './adapter.js';
import { checkNodeMatches, identityFromNode, verifyClientCertificate, XdsIdentityError } from './identity.js';
import { AdsListener, defaultMaxConnections, openFilesLimit } from './listener.js';
import { osmSecretOwner, ownSecretsOnly, withoutForeignSecrets, type RefusedSecret, type SecretOwnerOf } from './secrets.js';
import { XdsSession, type AckRecord, type PushCause, type PushRecord, type RequestOutcome, type TypeSnapshot, type XdsMode } from './protocol.js';
import {
  decodeDeltaRequest,
  decodeSotwRequest,
  encodeAdsResponse,
  type AdsRequest,
  type AdsResponse,
  type MalformedRequest,
} from './wire.js';

/** OSM's ADS port. */
export const DEFAULT_ADS_PORT = 15128;

export type XdsTls =
  | {
      readonly mode: 'mtls';
      /** Server key and certificate (PEM), e.g. from the certificate issuer. */
      readonly key: string;
      readonly cert: string;
      /** Trust bundle (root PEMs) that proxy certificates must chain to. */
      readonly ca: readonly string[];
    }
  | { readonly mode: 'insecure' };

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
  /** Global bound on pushes running at once. Default 64. */
  readonly maxConcurrentPushes?: number;
  /** A stream sending more requests per second than this (sustained) is ended. Default 200. */
  readonly maxRequestsPerSecond?: number;
  /** Pushes and ACK/NACKs remembered per proxy for debug and replay. Default 32. */
  readonly historySize?: number;
  readonly certificates?: IdentityCertificates;
  readonly metrics?: WeftMetrics;
  readonly logger?: Logger;
}

export interface ProxySnapshot {
  /** Stream id, unique within this server's life. */
  readonly id: number;
  readonly uuid: string;
  readonly kind: string;
  readonly serviceAccount: string;
  readonly namespace: string;
  readonly mode: XdsMode;
  readonly state: string;
  readonly peer: string;
  readonly connectedAt: string;
  readonly types: readonly TypeSnapshot[];
}

export interface ProxyDetail extends ProxySnapshot {
  readonly pushes: readonly PushRecord[];
  readonly acks: readonly AckRecord[];
}

/** Short labels for metrics (OSM labels its xDS metrics this way). */
export function typeLabel(typeUrl: string): string {
  switch (typeUrl) {
    case TypeUrl.Listener:
      return 'LDS';
    case TypeUrl.RouteConfiguration:
      return 'RDS';
    case TypeUrl.Cluster:
      return 'CDS';
    case TypeUrl.ClusterLoadAssignment:
      return 'EDS';
    case TypeUrl.Secret:
      return 'SDS';
    default:
      return 'unknown';
  }
}

type AdsCall = grpc.ServerDuplexStream<AdsRequest | MalformedRequest, AdsResponse>;

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

/** What a connected proxy's stream does for its actor and its pushes; built by XdsServer.connect. */
interface ProxyIo {
  retain(): void;
  release(): void;
  prepare(): Promise<void>;
  /** Plans and writes one push. */
  push(): void;
  requestHandled(outcome: RequestOutcome): void;
  failed(error: unknown): void;
}

class ConnectedProxy implements SupervisedProxy {
  readonly actor: Actor<typeof proxyMachine>;
  readonly rootIds: readonly string[];
  readonly connectedAt = new Date();
  /** performance.now() of the last push that wrote something; -Infinity before the first. */
  lastPushAt = -Infinity;
  constructor(
    readonly id: number,
    readonly identity: ProxyIdentity,
    readonly session: XdsSession,
    readonly peer: string,
    readonly specs: ReadonlyMap<string, DerivationSpec<ResourceSet>>,
    readonly secretOwnerOf: SecretOwnerOf,
    readonly io: ProxyIo,
    machine: typeof proxyMachine,
    private readonly queue: PushQueue<ConnectedProxy>,
  ) {
    this.rootIds = [...new Set([...specs.values()].map((s) => s.id))];
    this.actor = createActor(machine, { input: { streamId: id } });
  }
  /** A log batch touched one of the proxy's roots: marked dirty now, pushed by the batch's flush. */
  invalidate(cause: PushCause): void {
    this.session.invalidate(cause);
    this.queue.add(this);
  }
  /** Applies a request; an ACK freeing a blocked type or a subscription change queues a push. */
  request(request: AdsRequest): void {
    const outcome = this.session.onRequest(request);
    this.io.requestHandled(outcome);
    const value = this.actor.getSnapshot().value;
    if (outcome.nack !== undefined && value === 'idle') this.actor.send({ type: 'NACKED' });
    else if (value === 'holding' && !this.session.holdingNack) this.actor.send({ type: 'RECOVERED' });
    if (this.session.needsPush) this.queue.add(this);
  }
  /**
   * Called by the flush: pushes now when the proxy is ready and outside its coalescing window; a proxy pushed
   * within the window is handed to its actor, which waits out the rest of it (a busy proxy gets at most one
   * push per window). A proxy still syncing or already waiting is skipped: its actor queues it again.
   */
  flush(coalesceMs: number): void {
    const value = this.actor.getSnapshot().value;
    if (value !== 'idle' && value !== 'holding') return;
    if (!this.session.needsPush) return;
    const wait = this.lastPushAt + coalesceMs - performance.now();
    if (wait > 0) {
      this.actor.send({ type: 'DEFER', waitMs: wait });
      return;
    }
    try {
      this.io.push();
    } catch (err) {
      this.io.failed(err);
    }
  }
  get state(): string {
    const value = String(this.actor.getSnapshot().value);
    // Waiting for an ACK is the session's business, not a state of the machine; shown as before.
    return value === 'idle' && this.session.hasInflight ? 'awaitingAck' : value;
  }
  snapshot(): ProxySnapshot {
    return {
      id: this.id,
      uuid: this.identity.uuid,
      kind: this.identity.kind,
      serviceAccount: this.identity.serviceAccount,
      namespace: this.identity.namespace,
      mode: this.session.mode,
      state: this.state,
      peer: this.peer,
      connectedAt: this.connectedAt.toISOString(),
      types: this.session.snapshot(),
    };
  }
}

/**
 * The ADS server: StreamAggregatedResources (state of the world) and DeltaAggregatedResources (incremental)
 * on @grpc/grpc-js. It knows nothing of config: adapters say what a proxy gets (as derivations), the engine
 * keeps them current, one actor per stream decides when to push, XdsSession what to send.
 */
export class XdsServer {
  private readonly server: grpc.Server;
  private readonly supervisor = new ProxySupervisor<ConnectedProxy>();
  private readonly queue: PushQueue<ConnectedProxy>;
  private readonly streams = new Map<number, ConnectedProxy>();
  private readonly machine: typeof proxyMachine;
  private readonly logger: Logger;
  private readonly trustDomain: string;
  private readonly maxProxies: number;
  private readonly maxConnections: number;
  private readonly idleConnectionTimeoutMs: number;
  private readonly coalesceMs: number;
  private readonly maxRequestsPerSecond: number;
  private bundle: X509Certificate[];
  private bundlePem: readonly string[];
  private servingKey: string;
  private servingCert: string;
  private listener: AdsListener | undefined;
  private readonly calls = new Set<AdsCall>();
  private readonly seenUuids = new Set<string>();
  private streamCounter = 0;
  private closed = false;
  private listening = false;

  constructor(private readonly options: XdsServerOptions) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'xds' });
    this.trustDomain = options.trustDomain ?? 'cluster.local';
    this.maxProxies = options.maxProxies ?? 10_000;
    this.coalesceMs = options.coalesceMs ?? 5;
    this.maxRequestsPerSecond = options.maxRequestsPerSecond ?? 200;
    const openFiles = options.maxConnections === undefined ? openFilesLimit() : undefined;
    this.maxConnections = options.maxConnections ?? defaultMaxConnections(this.maxProxies, openFiles);
    this.idleConnectionTimeoutMs = options.idleConnectionTimeoutMs ?? 10_000;
    if (!(this.maxProxies >= 1)) throw new ConfigError(`xds maxProxies must be at least 1, got ${this.maxProxies}`);
    if (!(this.maxConnections >= 1)) throw new ConfigError(`xds maxConnections must be at least 1, got ${this.maxConnections}`);
    if (!(this.idleConnectionTimeoutMs >= 1)) {
      throw new ConfigError(`xds idleConnectionTimeoutMs must be at least 1, got ${this.idleConnectionTimeoutMs}`);
    }
    if (!(this.coalesceMs >= 0)) throw new ConfigError(`xds coalesceMs must be >= 0, got ${this.coalesceMs}`);
    if (this.maxConnections < this.maxProxies) {
      this.logger.warn('xds maxConnections is below maxProxies: at most maxConnections proxies can connect', {
        maxConnections: this.maxConnections,
        maxProxies: this.maxProxies,
        ...(openFiles === undefined ? {} : { openFilesLimit: openFiles }),
        fix: 'raise the open-files limit (ulimit -n) or set xds.maxConnections, or lower xds.maxProxies',
      });
    }
    this.queue = new PushQueue({ maxPerSlice: options.maxConcurrentPushes ?? 64, push: (p) => p.flush(this.coalesceMs) });
    // The machine's I/O, provided once for every stream: implementations find their stream by id.
    const io = (streamId: number): ProxyIo | undefined => this.streams.get(streamId)?.io;
    this.machine = proxyMachine.provide({
      actions: {
        retainRoots: ({ context }) => io(context.streamId)?.retain(),
        releaseRoots: ({ context }) => io(context.streamId)?.release(),
        requestPush: ({ context }) => {
          const p = this.streams.get(context.streamId);
          if (p !== undefined) this.queue.add(p);
        },
        reportFailure: ({ context, event }) => io(context.streamId)?.failed((event as { error?: unknown }).error),
      },
      guards: {
        holdingNack: ({ context }) => this.streams.get(context.streamId)?.session.holdingNack ?? false,
      },
      actors: {
        prepare: fromPromise<void, { streamId: number }>(async ({ input }) => {
          await io(input.streamId)?.prepare();
        }),
      },
    });
    if (options.tls.mode === 'mtls') {
      if (options.tls.ca.length === 0) throw new ConfigError('xds mTLS needs a trust bundle (tls.ca) to verify proxy certificates');
      this.bundle = options.tls.ca.map((pem) => new X509Certificate(pem));
      this.bundlePem = options.tls.ca;
      this.servingKey = options.tls.key;
      this.servingCert = options.tls.cert;
    } else {
      this.bundle = [];
      this.bundlePem = [];
      this.servingKey = '';
      this.servingCert = '';
    }
    // Long-lived streams: keepalives find dead peers; no message size surprises for big SotW responses.
    this.server = new grpc.Server({
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
      tls: this.options.tls.mode === 'mtls' ? this.secureContext() : undefined,
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
      return bound;
    } catch (err) {
      throw new ConfigError(`xds server cannot listen on ${address}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** A new trust bundle (root rotation): new handshakes and new streams verify against it. */
  setTrustBundle(ca: readonly string[]): void {
    if (this.options.tls.mode !== 'mtls') throw new ConfigError('setTrustBundle needs the xds server in mtls mode');
    this.bundle = ca.map((pem) => new X509Certificate(pem));
    this.bundlePem = [...ca];
    this.listener?.setContext(this.secureContext());
  }

  /**
   * A new serving certificate (rotation): new TLS handshakes present it; open connections and their streams
   * stay up on the one they negotiated. `cert` is the PEM chain (leaf first).
   */
  setServingCertificate(key: string, cert: string): void {
    if (this.options.tls.mode !== 'mtls') throw new ConfigError('setServingCertificate needs the xds server in mtls mode');
    // Fails here, naming the problem, rather than leaving the server without a usable context.
    new X509Certificate(cert);
    this.servingKey = key;
    this.servingCert = cert;
    this.listener?.setContext(this.secureContext());
    this.logger.info('serving certificate replaced', { fingerprint: new X509Certificate(cert).fingerprint256 });
  }

  private secureContext(): tls.SecureContextOptions {
    return { key: this.servingKey, cert: this.servingCert, ca: [...this.bundlePem] };
  }

  /**
   * Routes an invalidation (the ids DerivationEngine.invalidate returned) to the proxies holding one of
   * those roots. Returns how many proxies were told.
   */
  notify(ids: ReadonlySet<string>, cause: { readonly offsets: readonly number[]; readonly appendedAt?: number }): number {
    return this.supervisor.notify(ids, { offsets: cause.offsets, appendedAt: cause.appendedAt });
  }

  proxies(): ProxySnapshot[] {
    return this.supervisor.proxies().map((p) => p.snapshot());
  }

  proxy(id: string): ProxyDetail | undefined {
    const p = this.supervisor.proxies().find((x) => String(x.id) === id || x.identity.uuid === id);
    if (p === undefined) return undefined;
    return { ...p.snapshot(), pushes: p.session.pushHistory(), acks: p.session.ackHistory() };
  }

  /** Open streams, connected proxies and watched roots: all three return to 0 when clients leave. */
  stats(): { readonly streams: number; readonly proxies: number; readonly roots: number; readonly pushesWaiting: number } {
    return {
      streams: this.calls.size,
      proxies: this.supervisor.size,
      roots: this.supervisor.rootCount,
      pushesWaiting: this.queue.waiting,
    };
  }

  /** Adds /debug/proxies, /debug/proxies/<id or uuid>, /healthz and /readyz to a debug server. */
  registerDebugRoutes(debug: DebugServer): void {
    debug.route('/healthz', () => ({ body: { status: 'ok' } }));
    debug.route('/readyz', () =>
      this.listening && !this.closed
        ? { body: { status: 'ready', proxies: this.supervisor.size } }
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
    for (const call of [...this.calls]) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'xds server shutting down' });
    }
    for (const p of this.supervisor.proxies()) this.disconnect(p);
    this.server.forceShutdown();
    this.listener?.close();
  }

  private disconnect(p: ConnectedProxy): void {
    p.actor.send({ type: 'CLOSE' });
    p.actor.stop();
    this.supervisor.remove(p);
    this.queue.delete(p);
    this.streams.delete(p.id);
  }

  private handleStream(call: AdsCall, mode: XdsMode): void {
    const streamId = ++this.streamCounter;
    const peer = call.getPeer();
    const log = this.logger.child({ stream: streamId, mode, peer });
    const metrics = this.options.metrics;
    const reported = new Set<string>();
    /** Logs a problem the first time it happens on this stream; later repeats only count. */
    const problem = (key: string, msg: string, fields: Record<string, unknown> = {}): boolean => {
      if (reported.has(key)) return false;
      reported.add(key);
      metrics?.streamProblems.inc({ problem: key.split(':')[0] ?? key });
      log.warn(msg, fields);
      return true;
    };
    let ended = false;
    const endWith = (code: grpc.status, details: string): void => {
      if (ended) return;
      ended = true;
      call.emit('error', { code, details });
    };

    if (this.closed) {
      endWith(grpc.status.UNAVAILABLE, 'xds server shutting down');
      return;
    }
    if (this.calls.size >= this.maxProxies) {
      metrics?.maxConnectionsRejected.inc();
      problem('max-proxies', 'stream refused: maximum number of connected proxies reached', { maxProxies: this.maxProxies });
      endWith(grpc.status.RESOURCE_EXHAUSTED, `this xds server serves at most ${this.maxProxies} proxies; raise maxProxies or add servers`);
      return;
    }

    let certIdentity: ProxyIdentity | undefined;
    if (this.options.tls.mode === 'mtls') {
      try {
        certIdentity = this.verifyPeer(call.getPeer());
      } catch (err) {
        this.refuse(err, problem, endWith);
        return;
      }
    }

    this.calls.add(call);
    const streamEnded = this.listener?.streamOpened(peer);
    let proxy: ConnectedProxy | undefined;
    let tokens = this.maxRequestsPerSecond;
    let refilledAt = performance.now();

    const cleanup = (): void => {
      if (!this.calls.delete(call)) return;
      streamEnded?.();
      if (proxy !== undefined) {
        this.disconnect(proxy);
        metrics?.connectedProxies.dec();
        log.info('proxy disconnected', { uuid: proxy.identity.uuid });
      }
    };
    call.on('cancelled', cleanup);
    call.on('close', cleanup);
    call.on('finish', cleanup);
    call.on('error', (err: Error) => {
      // Our own emit('error') ends the stream with a status; anything else is a transport problem.
      if (!ended) log.debug('stream error', { error: err.message });
      cleanup();
    });
    call.on('end', () => {
      // The client half-closed: end our side too (the proxy left).
      if (!ended) {
        ended = true;
        call.end();
      }
      cleanup();
    });

    call.on('data', (req: AdsRequest | MalformedRequest) => {
      if (ended) return;
      const now = performance.now();
      tokens = Math.min(this.maxRequestsPerSecond, tokens + ((now - refilledAt) / 1000) * this.maxRequestsPerSecond);
      refilledAt = now;
      if (--tokens < 0) {
        problem('flood', 'request flood: stream ended', { limitPerSecond: this.maxRequestsPerSecond });
        endWith(grpc.status.RESOURCE_EXHAUSTED, `more than ${this.maxRequestsPerSecond} requests per second on one stream; a proxy sends one per response`);
        cleanup();
        return;
      }
      if (req.kind === 'malformed') {
        problem('malformed', 'malformed request: stream ended', { error: req.error, bytes: req.size });
        endWith(grpc.status.INVALID_ARGUMENT, `request is not a valid ${mode === 'sotw' ? 'DiscoveryRequest' : 'DeltaDiscoveryRequest'}: ${req.error}`);
        cleanup();
        return;
      }
      metrics?.xdsRequestCount.inc({ type: typeLabel(req.typeUrl) });
      if (proxy === undefined) {
        try {
          proxy = this.connect(streamId, call, mode, req, certIdentity, log, problem, endWith);
        } catch (err) {
          this.refuse(err, problem, endWith);
          cleanup();
          return;
        }
      }
      const { request, refused } = withoutForeignSecrets(req, proxy.identity, proxy.secretOwnerOf);
      this.reportRefusedSecrets(refused, 'subscribed', proxy.identity, problem);
      proxy.request(request);
    });
  }

  /** Logs each refused secret once per stream, naming the proxy and the secret, and counts it. */
  private reportRefusedSecrets(
    refused: readonly RefusedSecret[],
    how: 'subscribed' | 'in resource set',
    identity: ProxyIdentity,
    problem: (key: string, msg: string, fields?: Record<string, unknown>) => boolean,
  ): void {
    for (const r of refused) {
      const first = problem(`secret-refused:${r.name}`, "another identity's secret refused; it is never sent to this proxy", {
        uuid: identity.uuid,
        identity: `${identity.namespace}/${identity.serviceAccount}`,
        secret: r.name,
        owner: `${r.owner.namespace}/${r.owner.serviceAccount}`,
        how,
      });
      if (first) this.options.metrics?.secretRefused.inc();
    }
  }

  /**
   * The identity a stream's connection proved. The certificate's own checks come first so a refusal names the
   * precise reason (expired, not yet valid, not signed by the trust bundle, not a proxy name, other trust
   * domain); the TLS layer's verdict (chain, usage) must agree as well.
   */
  private verifyPeer(peer: string): ProxyIdentity {
    const seen = this.listener?.peer(peer);
    if (seen?.der === undefined) {
      throw new XdsIdentityError(
        'XDS_UNAUTHENTICATED',
        'no client certificate was presented; ADS requires mTLS with a current proxy certificate issued by the mesh CA (see "weft bootstrap")',
      );
    }
    const identity = verifyClientCertificate(seen.der, this.bundle, this.trustDomain);
    if (!seen.authorized) {
      throw new XdsIdentityError(
        'XDS_UNAUTHENTICATED',
        `client certificate was not accepted by the TLS layer (${seen.authorizationError ?? 'unknown reason'}); issue the proxy a new bootstrap certificate from the mesh CA`,
      );
    }
    return identity;
  }

  private refuse(
    err: unknown,
    problem: (key: string, msg: string, fields?: Record<string, unknown>) => boolean,
    endWith: (code: grpc.status, details: string) => void,
  ): void {
    if (err instanceof XdsIdentityError) {
      problem(`identity:${err.code}`, 'stream refused', { reason: err.message, code: err.code });
      endWith(err.grpcCode, err.message);
      return;
    }
    if (err instanceof ConfigError) {
      problem('no-adapter', 'stream refused', { reason: err.message });
      endWith(grpc.status.FAILED_PRECONDITION, err.message);
      return;
    }
    problem('internal', 'stream failed', { error: (err as Error).message });
    endWith(grpc.status.INTERNAL, `xds server error: ${(err as Error).message}`);
  }

  private connect(
    streamId: number,
    call: AdsCall,
    mode: XdsMode,
    first: AdsRequest,
    certIdentity: ProxyIdentity | undefined,
    log: Logger,
    problem: (key: string, msg: string, fields?: Record<string, unknown>) => boolean,
    endWith: (code: grpc.status, details: string) => void,
  ): ConnectedProxy {
    let identity: ProxyIdentity;
    if (certIdentity !== undefined) {
      checkNodeMatches(certIdentity, first.node);
      identity = certIdentity;
    } else {
      identity = identityFromNode(first.node, this.trustDomain);
    }
    const adapter = this.options.adapters.get(identity.kind);
    if (adapter === undefined) {
      throw new ConfigError(
        `no proxy adapter for kind "${identity.kind}" (proxy ${identity.uuid}); loaded kinds: ${[...this.options.adapters.keys()].join(', ') || 'none'}`,
      );
    }
    const metrics = this.options.metrics;
    const engine = this.options.engine;
    const plog = log.child({ uuid: identity.uuid, kind: identity.kind, identity: `${identity.namespace}/${identity.serviceAccount}` });
    const specs = new Map(adapter.typeUrls.map((t) => [t, adapter.resources(identity, t)] as const));
    const session = new XdsSession({ mode, typeUrls: adapter.typeUrls, historySize: this.options.historySize ?? 32 });
    let retained: string[] = [];
    const rootIds = [...new Set([...specs.values()].map((spec) => spec.id))];
    const nacksLogged = new Set<string>();
    const adapterOwner = adapter.secretOwner?.bind(adapter);
    const secretOwnerOf: SecretOwnerOf = adapterOwner === undefined ? osmSecretOwner : (name) => adapterOwner(name) ?? osmSecretOwner(name);

    const io: ProxyIo = {
      retain: () => {
        retained = rootIds.slice();
        for (const id of retained) engine.retain(id);
      },
      release: () => {
        for (const id of retained) engine.release(id);
        retained = [];
      },
      prepare: async () => {
        if (this.options.certificates !== undefined) {
          await this.options.certificates.ensure({ namespace: identity.namespace, serviceAccount: identity.serviceAccount });
        }
      },
      push: () => {
        if (ended(call)) return;
        const start = performance.now();
        const responses = session.push((typeUrl) => {
          const spec = specs.get(typeUrl);
          if (spec === undefined) return { set: new Map(), hash: '' };
          const r = engine.get(spec);
          if (typeUrl !== TypeUrl.Secret) return { set: r.value, hash: r.hash };
          const own = ownSecretsOnly(r.value, identity, secretOwnerOf);
          this.reportRefusedSecrets(own.refused, 'in resource set', identity, problem);
          return { set: own.set, hash: r.hash };
        });
        for (const response of responses) {
          const type = typeLabel(response.typeUrl);
          call.write(response, (err: Error | null | undefined) => {
            if (err) {
              metrics?.responseSendError.inc({ type });
              session.abandon(response.typeUrl, response.nonce);
              problem(`write:${type}`, 'response could not be written', { type, error: err.message });
            } else {
              metrics?.responseSendSuccess.inc({ type });
            }
          });
          metrics?.pushes.inc({ type });
        }
        if (responses.length > 0) {
          proxy.lastPushAt = performance.now();
          const seconds = (performance.now() - start) / 1000;
          metrics?.pushDuration.observe(seconds);
          for (const t of new Set(responses.map((r) => typeLabel(r.typeUrl)))) {
            metrics?.configUpdateTime.observe({ resource_type: t, success: 'true' }, seconds);
          }
          plog.debug('pushed', { responses: responses.map((r) => `${typeLabel(r.typeUrl)}#${r.nonce}`) });
        }
      },
      requestHandled: (outcome: RequestOutcome) => this.observeRequest(outcome, plog, problem, nacksLogged),
      failed: (error: unknown) => {
        problem('push-failed', 'push failed; stream ended', { error: (error as Error)?.message ?? String(error) });
        endWith(grpc.status.INTERNAL, `xds server could not build this proxy's config: ${(error as Error)?.message ?? String(error)}`);
      },
    };

    const proxy = new ConnectedProxy(streamId, identity, session, call.getPeer(), specs, secretOwnerOf, io, this.machine, this.queue);
    this.streams.set(streamId, proxy);
    proxy.actor.subscribe({
      error: (err: unknown) => {
        problem('actor-failed', 'proxy actor failed; stream ended', { error: (err as Error)?.message ?? String(err) });
        endWith(grpc.status.INTERNAL, `xds server error: ${(err as Error)?.message ?? String(err)}`);
      },
    });
    proxy.actor.start();
    this.supervisor.add(proxy);
    proxy.actor.send({ type: 'CONNECTED' });
    metrics?.proxyConnectCount.inc();
    metrics?.connectedProxies.inc();
    if (this.seenUuids.has(identity.uuid)) metrics?.proxyReconnectCount.inc();
    else {
      // Bounded memory under uuid churn: forgetting old uuids only undercounts reconnects.
      if (this.seenUuids.size >= 100_000) this.seenUuids.clear();
      this.seenUuids.add(identity.uuid);
    }
    plog.info('proxy connected');
    return proxy;
  }

  private observeRequest(
    outcome: RequestOutcome,
    log: Logger,
    problem: (key: string, msg: string, fields?: Record<string, unknown>) => boolean,
    nacksLogged: Set<string>,
  ): void {
    const metrics = this.options.metrics;
    const type = typeLabel(outcome.typeUrl);
    if (outcome.unknownType) {
      problem(`unknown-type:${outcome.typeUrl}`, 'request for a type this proxy kind is not served; ignored', { typeUrl: outcome.typeUrl });
      return;
    }
    if (outcome.stale) log.debug('stale nonce: not an ACK/NACK of the response in flight', { type });
    if (outcome.ack !== undefined && outcome.ack.cause.appendedAt !== undefined) {
      metrics?.convergence.observe(Math.max(0, Date.now() - outcome.ack.cause.appendedAt) / 1000);
    }
    if (outcome.nack !== undefined) {
      metrics?.nacks.inc({ type });
      const key = `${type}:${outcome.nack.version}`;
      if (!nacksLogged.has(key)) {
        nacksLogged.add(key);
        log.warn('proxy NACKed a response; it keeps its last good config', {
          type,
          version: outcome.nack.version,
          nonce: outcome.nack.nonce,
          error: outcome.nack.message,
          offsets: outcome.nack.cause.offsets,
        });
      }
    }
  }
}

function ended(call: AdsCall): boolean {
  return call.destroyed || call.writableEnded || call.cancelled;
}
