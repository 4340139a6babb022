import * as grpc from '@grpc/grpc-js';
import { silentLogger, type Logger } from '../observe/logger.js';
import type { ProxyIdentity } from './adapter.js';
import type { XdsMode } from './protocol.js';
import type { SecretOwnerOf } from './secrets.js';
import type { AdsRequest, AdsResponse, MalformedRequest } from './wire.js';

/**
 * The ADS stream loop, built as go-control-plane's server is: it knows a source of proxies (what a stream
 * serves) and callbacks (what happens around it: refusals, rate limits, metrics), and nothing of config.
 * It reads requests, hands them on, writes what the source sends, and ends the stream once.
 */

export type AdsCall = grpc.ServerDuplexStream<AdsRequest | MalformedRequest, AdsResponse>;

/** A stream refused or ended on purpose, with the status the client is given. */
export class StreamRefusal extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
    /** The problem it is counted and logged as (once per stream), e.g. "flood" or "max-proxies". */
    readonly problem: string,
    readonly fields: Readonly<Record<string, unknown>> = {},
  ) {
    super(details);
    this.name = 'StreamRefusal';
  }
}

/** What a stream serves once its proxy is known: the source opens one per stream on its first request. */
export interface OpenProxy {
  readonly identity: ProxyIdentity;
  request(request: AdsRequest): void;
  /** The stream ended: stop pushing, release what the proxy held. */
  close(): void;
}

export interface ProxySource {
  /** Opens the proxy of a stream whose identity is known; throws (XdsIdentityError, ConfigError) to refuse it. */
  open(stream: AdsStream, first: AdsRequest): OpenProxy;
}

/** What happens around the loop, in go-control-plane's terms. Throwing from open or request refuses the stream. */
export interface StreamCallbacks {
  /** A stream was accepted by grpc-js; nothing was read yet. May set `stream.certIdentity`. */
  onStreamOpen(stream: AdsStream): void;
  /**
   * A message arrived. Returns the request to hand on (the first one also fixes `stream.identity`), or throws
   * to end the stream (a flood, a malformed message, an identity the certificate does not back).
   */
  onStreamRequest(stream: AdsStream, message: AdsRequest | MalformedRequest): AdsRequest;
  /** The source accepted the stream's proxy (after its first request). */
  onProxyConnected(stream: AdsStream): void;
  /** A response was written (error undefined) or could not be. */
  onStreamResponse(stream: AdsStream, response: AdsResponse, error: Error | undefined): void;
  /** The stream ended, for whatever reason; called once. */
  onStreamClosed(stream: AdsStream): void;
  /** Something went wrong on a stream: counted every time, logged the first time per key. */
  onStreamProblem(stream: AdsStream, key: string, message: string, fields: Readonly<Record<string, unknown>>): boolean;
  /** An error that ends the stream: reports it and says with which status. */
  onStreamError(stream: AdsStream, error: unknown): { readonly code: grpc.status; readonly details: string };
}

/** One ADS stream, as the loop, its callbacks and its source share it. Plain fields: one per proxy. */
export class AdsStream {
  readonly peer: string;
  /** The stream's logger (the callbacks add the proxy's identity once known). */
  log: Logger = silentLogger;
  /** The identity the connection's certificate proved (mTLS); set by onStreamOpen. */
  certIdentity: ProxyIdentity | undefined = undefined;
  /** The proxy's identity, fixed by the first request. */
  identity: ProxyIdentity | undefined = undefined;
  /** Who owns a secret name, for the proxy's kind (set with the identity). */
  secretOwnerOf: SecretOwnerOf | undefined = undefined;
  proxy: OpenProxy | undefined = undefined;
  /** Problem keys already logged on this stream (created on the first). */
  reported: Set<string> | undefined = undefined;
  /** Request tokens left and when they were last refilled (the callbacks' rate limit). */
  tokens = 0;
  refilledAt = 0;
  private ended = false;
  private closed = false;

  constructor(
    readonly id: number,
    readonly mode: XdsMode,
    private readonly call: AdsCall,
    private readonly callbacks: StreamCallbacks,
  ) {
    this.peer = call.getPeer();
  }

  /** True once this side ended the stream (a status sent, or the half-close answered). */
  get ending(): boolean {
    return this.ended;
  }

  /** True once the stream can no longer be written. */
  get done(): boolean {
    return this.call.destroyed || this.call.writableEnded || this.call.cancelled;
  }

  /** Writes one response; `failed` runs if it could not be written (the callbacks hear of both). */
  send(response: AdsResponse, failed: () => void): void {
    this.call.write(response, (err: Error | null | undefined) => {
      if (err) failed();
      this.callbacks.onStreamResponse(this, response, err ?? undefined);
    });
  }

  problem(key: string, message: string, fields: Readonly<Record<string, unknown>> = {}): boolean {
    return this.callbacks.onStreamProblem(this, key, message, fields);
  }

  /** Ends the stream with a status, once. */
  end(code: grpc.status, details: string): void {
    if (this.ended) return;
    this.ended = true;
    this.call.emit('error', { code, details });
  }

  /** Ends the stream for an error, with the status the callbacks choose. */
  fail(error: unknown): void {
    const { code, details } = this.callbacks.onStreamError(this, error);
    this.end(code, details);
  }

  /** Runs once when the stream is gone: closes the proxy, then tells the callbacks. */
  cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    this.proxy?.close();
    this.callbacks.onStreamClosed(this);
  }

  /** The client half-closed: end our side as well. */
  halfClosed(): void {
    if (!this.ended) {
      this.ended = true;
      this.call.end();
    }
  }
}

/** Serves one ADS stream until it ends. */
export function serveStream(call: AdsCall, stream: AdsStream, source: ProxySource, callbacks: StreamCallbacks): void {
  try {
    callbacks.onStreamOpen(stream);
  } catch (err) {
    stream.fail(err);
    return;
  }
  const cleanup = (): void => stream.cleanup();
  call.on('cancelled', cleanup);
  call.on('close', cleanup);
  call.on('finish', cleanup);
  call.on('error', (err: Error) => {
    // Our own end() emits an error carrying the status; anything else is a transport problem.
    if (!stream.ending) stream.log.debug('stream error', { error: err.message });
    cleanup();
  });
  call.on('end', () => {
    stream.halfClosed();
    cleanup();
  });
  call.on('data', (message: AdsRequest | MalformedRequest) => {
    if (stream.ending) return;
    try {
      const request = callbacks.onStreamRequest(stream, message);
      if (stream.proxy === undefined) {
        stream.proxy = source.open(stream, request);
        callbacks.onProxyConnected(stream);
      }
      stream.proxy.request(request);
    } catch (err) {
      stream.fail(err);
      cleanup();
    }
  });
}
