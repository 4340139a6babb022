import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import type { WeftMetrics } from '../observe/metrics.js';
import type { ProxyAdapter, ProxyIdentity } from './adapter.js';
import { checkNodeMatches, identityFromNode, XdsIdentityError } from './identity.js';
import type { PeerTls } from './listener.js';
import { typeLabel } from './metric-labels.js';
import { secretOwnerFor } from './osm-names.js';
import type { RequestOutcome } from './protocol.js';
import { withoutForeignSecrets, type RefusedSecret } from './secrets.js';
import { StreamRefusal, type AdsStream, type StreamCallbacks } from './stream.js';
import type { TlsFront } from './tls-front.js';
import { MalformedNodeError, type AdsRequest, type AdsResponse, type MalformedRequest, type NodeInfo } from './wire.js';

export interface ServerCallbacksOptions {
  readonly logger: Logger;
  readonly metrics: WeftMetrics | undefined;
  readonly trustDomain: string;
  readonly maxProxies: number;
  readonly maxRequestsPerSecond: number;
  readonly adapters: ReadonlyMap<string, ProxyAdapter>;
  readonly tls: TlsFront;
  /** What the connection with a peer address presented in its TLS handshake. */
  readonly peerTls: (peer: string) => PeerTls | undefined;
  /** Marks the connection busy while a stream is open on it; returns the call that marks it idle again. */
  readonly streamOpened: (peer: string) => (() => void) | undefined;
  readonly shuttingDown: () => boolean;
}

/**
 * What happens around the ADS stream loop: refusals (shutting down, too many proxies, an identity the
 * connection does not prove, other identities' secrets), the per-stream rate limit, metrics and logs.
 */
export class ServerCallbacks implements StreamCallbacks {
  /** Streams open now (refused ones never count). */
  readonly open = new Set<AdsStream>();
  private readonly streamEnded = new WeakMap<AdsStream, () => void>();
  private readonly seenUuids = new Set<string>();

  constructor(private readonly options: ServerCallbacksOptions) {}

  onStreamOpen(stream: AdsStream): void {
    const o = this.options;
    stream.log = o.logger.child({ stream: stream.id, mode: stream.mode, peer: stream.peer });
    if (o.shuttingDown()) throw new StreamRefusal(grpc.status.UNAVAILABLE, 'xds server shutting down', 'shutting-down');
    if (this.open.size >= o.maxProxies) {
      o.metrics?.maxConnectionsRejected.inc();
      throw new StreamRefusal(
        grpc.status.RESOURCE_EXHAUSTED,
        `this xds server serves at most ${o.maxProxies} proxies; raise maxProxies or add servers`,
        'max-proxies',
        { maxProxies: o.maxProxies },
      );
    }
    if (o.tls.mtls) stream.certIdentity = o.tls.verifyPeer(o.peerTls(stream.peer));
    this.open.add(stream);
    const ended = o.streamOpened(stream.peer);
    if (ended !== undefined) this.streamEnded.set(stream, ended);
    stream.tokens = o.maxRequestsPerSecond;
    stream.refilledAt = performance.now();
  }

  onStreamRequest(stream: AdsStream, message: AdsRequest | MalformedRequest): AdsRequest {
    const o = this.options;
    const now = performance.now();
    stream.tokens = Math.min(o.maxRequestsPerSecond, stream.tokens + ((now - stream.refilledAt) / 1000) * o.maxRequestsPerSecond);
    stream.refilledAt = now;
    if (--stream.tokens < 0) {
      throw new StreamRefusal(
        grpc.status.RESOURCE_EXHAUSTED,
        `more than ${o.maxRequestsPerSecond} requests per second on one stream; a proxy sends one per response`,
        'flood',
        { limitPerSecond: o.maxRequestsPerSecond },
      );
    }
    if (message.kind === 'malformed') {
      throw new StreamRefusal(
        grpc.status.INVALID_ARGUMENT,
        `request is not a valid ${stream.mode === 'sotw' ? 'DiscoveryRequest' : 'DeltaDiscoveryRequest'}: ${message.error}`,
        'malformed',
        { error: message.error, bytes: message.size },
      );
    }
    o.metrics?.xdsRequestCount.inc({ type: typeLabel(message.typeUrl) });
    if (stream.identity === undefined) this.identify(stream, message);
    const { request, refused } = withoutForeignSecrets(message, stream.identity!, stream.secretOwnerOf!);
    this.secretsRefused(stream, refused, 'subscribed');
    return request;
  }

  /** The first request fixes who the proxy is: its certificate (whose node must agree) or, insecure, its node. */
  private identify(stream: AdsStream, first: AdsRequest): void {
    let node: NodeInfo | undefined;
    try {
      node = first.node;
    } catch (err) {
      if (!(err instanceof MalformedNodeError)) throw err;
      throw new StreamRefusal(
        grpc.status.INVALID_ARGUMENT,
        `request is not a valid ${stream.mode === 'sotw' ? 'DiscoveryRequest' : 'DeltaDiscoveryRequest'}: ${err.message}`,
        'malformed',
        { error: err.message, bytes: err.size },
      );
    }
    let identity: ProxyIdentity;
    if (stream.certIdentity !== undefined) {
      checkNodeMatches(stream.certIdentity, node);
      identity = stream.certIdentity;
    } else {
      identity = identityFromNode(node, this.options.trustDomain);
    }
    stream.identity = identity;
    stream.secretOwnerOf = secretOwnerFor(this.options.adapters.get(identity.kind) ?? {});
    stream.log = stream.log.child({ uuid: identity.uuid, kind: identity.kind, identity: `${identity.namespace}/${identity.serviceAccount}` });
  }

  /** The source accepted the stream's proxy. */
  onProxyConnected(stream: AdsStream): void {
    const metrics = this.options.metrics;
    const uuid = stream.identity?.uuid ?? '';
    metrics?.proxyConnectCount.inc();
    metrics?.connectedProxies.inc();
    if (this.seenUuids.has(uuid)) metrics?.proxyReconnectCount.inc();
    else {
      // Bounded memory under uuid churn: forgetting old uuids only undercounts reconnects.
      if (this.seenUuids.size >= 100_000) this.seenUuids.clear();
      this.seenUuids.add(uuid);
    }
    stream.log.info('proxy connected');
  }

  onStreamResponse(stream: AdsStream, response: AdsResponse, error: Error | undefined): void {
    const type = typeLabel(response.typeUrl);
    if (error !== undefined) {
      this.options.metrics?.responseSendError.inc({ type });
      stream.problem(`write:${type}`, 'response could not be written', { type, error: error.message });
    } else {
      this.options.metrics?.responseSendSuccess.inc({ type });
    }
  }

  onStreamClosed(stream: AdsStream): void {
    if (!this.open.delete(stream)) return;
    this.streamEnded.get(stream)?.();
    if (stream.proxy !== undefined) {
      this.options.metrics?.connectedProxies.dec();
      stream.log.info('proxy disconnected', { uuid: stream.identity?.uuid });
    }
  }

  onStreamProblem(stream: AdsStream, key: string, message: string, fields: Readonly<Record<string, unknown>>): boolean {
    stream.reported ??= new Set();
    if (stream.reported.has(key)) return false;
    stream.reported.add(key);
    this.options.metrics?.streamProblems.inc({ problem: key.split(':')[0] ?? key });
    stream.log.warn(message, fields);
    return true;
  }

  onStreamError(stream: AdsStream, err: unknown): { readonly code: grpc.status; readonly details: string } {
    if (err instanceof StreamRefusal) {
      if (err.problem !== 'shutting-down') stream.problem(err.problem, refusalMessage(err.problem), err.fields);
      return { code: err.code, details: err.details };
    }
    if (err instanceof XdsIdentityError) {
      stream.problem(`identity:${err.code}`, 'stream refused', { reason: err.message, code: err.code });
      return { code: err.grpcCode, details: err.message };
    }
    if (err instanceof ConfigError) {
      stream.problem('no-adapter', 'stream refused', { reason: err.message });
      return { code: grpc.status.FAILED_PRECONDITION, details: err.message };
    }
    stream.problem('internal', 'stream failed', { error: (err as Error)?.message ?? String(err) });
    return { code: grpc.status.INTERNAL, details: `xds server error: ${(err as Error)?.message ?? String(err)}` };
  }

  /** Logs each refused secret once per stream, naming the proxy and the secret, and counts it. */
  secretsRefused(stream: AdsStream, refused: readonly RefusedSecret[], how: 'subscribed' | 'in resource set'): void {
    const identity = stream.identity;
    if (identity === undefined) return;
    for (const r of refused) {
      const first = stream.problem(`secret-refused:${r.name}`, "another identity's secret refused; it is never sent to this proxy", {
        uuid: identity.uuid,
        identity: `${identity.namespace}/${identity.serviceAccount}`,
        secret: r.name,
        owner: `${r.owner.namespace}/${r.owner.serviceAccount}`,
        how,
      });
      if (first) this.options.metrics?.secretRefused.inc();
    }
  }

  /** Metrics and logs for a request the proxy's session processed. */
  requestHandled(stream: AdsStream, outcome: RequestOutcome): void {
    const metrics = this.options.metrics;
    const type = typeLabel(outcome.typeUrl);
    if (outcome.unknownType) {
      stream.problem(`unknown-type:${outcome.typeUrl}`, 'request for a type this proxy kind is not served; ignored', { typeUrl: outcome.typeUrl });
      return;
    }
    if (outcome.stale) stream.log.debug('stale nonce: not an ACK/NACK of the response in flight', { type });
    if (outcome.ack !== undefined && outcome.ack.cause.appendedAt !== undefined) {
      metrics?.convergence.observe(Math.max(0, Date.now() - outcome.ack.cause.appendedAt) / 1000);
    }
    if (outcome.nack !== undefined) {
      metrics?.nacks.inc({ type });
      // Logged once per type and version (a proxy NACKing the same bytes again says nothing new); not a
      // stream problem: the proxy did what the protocol asks.
      const key = `nack:${type}:${outcome.nack.version}`;
      stream.reported ??= new Set();
      if (!stream.reported.has(key)) {
        stream.reported.add(key);
        stream.log.warn('proxy NACKed a response; it keeps its last good config', {
          type,
          version: outcome.nack.version,
          nonce: outcome.nack.nonce,
          error: outcome.nack.message,
          offsets: outcome.nack.cause.offsets,
        });
      }
    }
  }

  /** Metrics of one push (the responses it wrote and how long planning and writing took). */
  pushed(stream: AdsStream, responses: readonly AdsResponse[], seconds: number): void {
    const metrics = this.options.metrics;
    if (metrics !== undefined) {
      for (const r of responses) metrics.pushes.inc({ type: typeLabel(r.typeUrl) });
      metrics.pushDuration.observe(seconds);
      // Once per type: a type's upserts and its held-back removals can be two responses of one push.
      for (const t of new Set(responses.map((r) => typeLabel(r.typeUrl)))) metrics.configUpdateTime.observe({ resource_type: t, success: 'true' }, seconds);
    }
    stream.log.debug('pushed', { responses: responses.map((r) => `${typeLabel(r.typeUrl)}#${r.nonce}`) });
  }
}

function refusalMessage(problem: string): string {
  switch (problem) {
    case 'flood':
      return 'request flood: stream ended';
    case 'malformed':
      return 'malformed request: stream ended';
    case 'max-proxies':
      return 'stream refused: maximum number of connected proxies reached';
    default:
      return 'stream ended';
  }
}
