import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import type { Logger } from '../observe/logger.js';
import type { WeftMetrics } from '../observe/metrics.js';

/** What the TLS layer saw of a client: its certificate (DER) and whether, and why not, it verified. */
export interface PeerTls {
  readonly der: Buffer | undefined;
  readonly authorized: boolean;
  readonly authorizationError: string | undefined;
}

/** Why the listener closed a connection itself (the `reason` label of weft_xds_connections_rejected_total). */
export type ConnectionRejection = 'limit' | 'handshake' | 'idle';

export interface AdsListenerOptions {
  /** mTLS: the server's key pair and trust bundle. Unset: plaintext. */
  readonly tls: tls.SecureContextOptions | undefined;
  /** grpc-js's connection injector: the HTTP/2 server every accepted (and decrypted) connection goes to. */
  readonly injector: { injectConnection(connection: Duplex): void };
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly metrics: WeftMetrics | undefined;
  readonly logger: Logger;
}

interface Connection {
  readonly socket: net.Socket;
  /** Set once the TLS handshake finished (mTLS only). */
  tls: PeerTls | undefined;
  /** ADS streams open on this connection. */
  streams: number;
  /** The idle timer, or (once it expired) the check after the next poll phase. */
  timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
}

/**
 * The ADS port: a socket server Weft owns, in front of grpc-js (which has no connection limit and keeps a
 * connection that never opens a stream for as long as the peer wants). It
 *
 * - closes a connection at once when `maxConnections` are open (Node's `maxConnections`, before any byte or
 *   handshake is spent on it);
 * - closes a connection that has no open ADS stream for `idleTimeoutMs`: the timer starts at accept, so a
 *   TLS handshake that never finishes is bounded by it too, stops while a stream is open, and starts again
 *   when the last one ends;
 * - with mTLS, terminates TLS itself, asking for a client certificate without refusing one, and remembers what
 *   each connection presented: grpc-js only exposes a peer certificate that the TLS layer accepted, so
 *   without this an expired certificate and one from a foreign CA were indistinguishable; each stream finds
 *   its connection's certificate by peer address, and verifyClientCertificate names the precise reason.
 *
 * Accepted connections (decrypted, with mTLS) are handed to grpc-js through its connection injector.
 */
export class AdsListener {
  private readonly server: net.Server;
  /** By peer address, the key grpc-js's call.getPeer() gives for the same connection. */
  private readonly connections = new Map<string, Connection>();
  /** Set while connections are being refused at the limit: the refusal is logged once per episode. */
  private full = false;

  constructor(private readonly options: AdsListenerOptions) {
    const { injector, logger } = options;
    if (options.tls === undefined) {
      this.server = net.createServer((socket) => injector.injectConnection(socket));
    } else {
      this.server = tls.createServer(
        {
          ...options.tls,
          requestCert: true,
          rejectUnauthorized: false,
          ALPNProtocols: ['h2'],
          // Node's own handshake bound cannot be switched off; the idle timer (which counts) fires first.
          handshakeTimeout: options.idleTimeoutMs + 1000,
        },
        (socket) => this.secured(socket),
      );
      // A client that gives up during the handshake is its problem; the server only notes it.
      this.server.on('tlsClientError', (err) => logger.debug('tls handshake failed', { error: err.message }));
    }
    this.server.maxConnections = options.maxConnections;
    this.server.on('drop', (peer?: { remoteAddress?: string; remotePort?: number }) => this.dropped(peer));
    // Before the TLS layer's own listener sees it: every raw connection is counted and timed.
    this.server.prependListener('connection', (socket: net.Socket) => this.accepted(socket));
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      // Node's default backlog is 511; in a connect storm (every proxy reconnecting after a restart) the rest
      // are refused by the kernel and come back only after their TCP and gRPC backoffs. Ask for as many as
      // the kernel allows (it caps the number at net.core.somaxconn), as Go's listeners do. Not capped at
      // maxConnections: a connection over the limit must be accepted to be closed at once, not left waiting
      // in a full kernel queue.
      this.server.listen({ port, host, backlog: listenBacklog() }, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** New handshakes use this key pair and trust bundle; open connections keep what they negotiated. */
  setContext(context: tls.SecureContextOptions): void {
    if (this.server instanceof tls.Server) this.server.setSecureContext(context);
  }

  /** What the connection with this peer address presented in its TLS handshake. */
  peer(address: string): PeerTls | undefined {
    return this.connections.get(address)?.tls;
  }

  /**
   * An ADS stream opened on the connection with this peer address: it is no longer idle. The returned
   * function is called once when the stream ends.
   */
  streamOpened(address: string): () => void {
    const c = this.connections.get(address);
    if (c === undefined) return () => undefined;
    c.streams++;
    clear(c.timer);
    c.timer = undefined;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--c.streams === 0 && !c.socket.destroyed) this.arm(c);
    };
  }

  get size(): number {
    return this.connections.size;
  }

  close(): void {
    this.server.close();
    for (const c of this.connections.values()) c.socket.destroy();
  }

  private accepted(socket: net.Socket): void {
    const key = peerKey(socket.remoteAddress, socket.remotePort);
    const c: Connection = { socket, tls: undefined, streams: 0, timer: undefined };
    this.connections.set(key, c);
    this.options.metrics?.xdsConnections.inc();
    this.arm(c);
    socket.once('close', () => {
      clear(c.timer);
      if (this.connections.get(key) === c) this.connections.delete(key);
      this.options.metrics?.xdsConnections.dec();
      if (this.full && this.connections.size < this.options.maxConnections) this.full = false;
    });
  }

  private secured(socket: tls.TLSSocket): void {
    const c = this.connections.get(peerKey(socket.remoteAddress, socket.remotePort));
    const raw = socket.getPeerCertificate().raw as Buffer | undefined;
    const authError = socket.authorizationError;
    if (c !== undefined) {
      c.tls = {
        der: raw !== undefined && raw.length > 0 ? raw : undefined,
        authorized: socket.authorized,
        authorizationError: authError === undefined || authError === null ? undefined : String(authError),
      };
    }
    this.options.injector.injectConnection(socket);
  }

  private arm(c: Connection): void {
    clear(c.timer);
    c.timer = setTimeout(() => {
      // The timers phase runs before the poll phase: after a long stretch of work (a connect storm) the timer
      // can expire with the peer's stream already in the socket's receive buffer, unread. The decision waits
      // for one poll phase (setImmediate runs after it), which reads that and opens the stream if there is one.
      c.timer = setImmediate(() => this.expire(c));
    }, this.options.idleTimeoutMs);
    // An idle timer never keeps the process alive on its own.
    c.timer.unref();
  }

  private expire(c: Connection): void {
    c.timer = undefined;
    if (c.streams > 0 || c.socket.destroyed) return;
    const reason: ConnectionRejection = this.options.tls !== undefined && c.tls === undefined ? 'handshake' : 'idle';
    this.options.metrics?.xdsConnectionsRejected.inc({ reason });
    this.options.logger.debug(reason === 'handshake' ? 'connection closed: TLS handshake not done in time' : 'connection closed: no ADS stream', {
      peer: peerKey(c.socket.remoteAddress, c.socket.remotePort),
      timeoutMs: this.options.idleTimeoutMs,
    });
    c.socket.destroy();
  }

  private dropped(peer: { remoteAddress?: string; remotePort?: number } | undefined): void {
    this.options.metrics?.xdsConnectionsRejected.inc({ reason: 'limit' });
    if (this.full) return;
    this.full = true;
    this.options.logger.warn('connection refused: maximum number of ADS connections reached (logged once until one closes)', {
      maxConnections: this.options.maxConnections,
      peer: peerKey(peer?.remoteAddress, peer?.remotePort),
    });
  }
}

function clear(timer: NodeJS.Timeout | NodeJS.Immediate | undefined): void {
  if (timer === undefined) return;
  if ('refresh' in timer) clearTimeout(timer);
  else clearImmediate(timer);
}

/** The key grpc-js's call.getPeer() gives for a connection. */
export function peerKey(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return 'unknown';
  return port === undefined ? address : `${address}:${port}`;
}

/** The kernel's cap on a listening socket's queue of connections (Linux); Node's default where unknown. */
export function listenBacklog(): number {
  try {
    const n = Number(fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    return Number.isInteger(n) && n > 511 ? n : 511;
  } catch {
    // Not Linux: Node's own default.
    return 511;
  }
}

/** The process's soft open-files limit (Linux: /proc/self/limits); undefined where unknown or unlimited. */
export function openFilesLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return line === null ? undefined : Number(line[1]);
  } catch {
    // Not Linux (or no /proc): the limit is unknown and the default is not clamped.
    return undefined;
  }
}

/**
 * Default for maxConnections: room for every proxy plus 1,024 connections in their handshake or being
 * replaced, but never more than 7/8 of the open-files limit (the rest is for the event log, plugins and the
 * metrics and debug servers): past that, accept() fails for every socket the process opens.
 */
export function defaultMaxConnections(maxProxies: number, fileLimit: number | undefined): number {
  const wanted = maxProxies + 1024;
  return fileLimit === undefined ? wanted : Math.max(1, Math.min(wanted, Math.floor((fileLimit * 7) / 8)));
}
