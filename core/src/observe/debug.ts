import { createHash, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { ConfigError } from '../errors.js';
import type { Logger } from './logger.js';

/**
 * The debug HTTP server (OSM's port 9092, bound to localhost by default). Parts of Weft register JSON routes
 * on it; nothing served here may contain key material (handlers return fingerprints only). It serves
 * resource bodies and proxy addresses, so beyond loopback it should ask for a bearer token; routes
 * registered public (the probes) answer without one.
 */

export interface DebugServerOptions {
  /** The bearer token every non-public route asks for (`Authorization: Bearer <token>`). */
  readonly token?: string;
}

const REALM = 'weft-debug';
/** Shorter tokens can be guessed over the network. */
const MIN_TOKEN_LENGTH = 16;

/**
 * Reads the bearer token from `file` (surrounding whitespace, such as a trailing newline, dropped). Refuses
 * a file every user may read or write, a token with whitespace inside, or one shorter than 16 characters.
 */
export function readTokenFile(file: string, field = 'debug.tokenFile'): string {
  let text: string;
  let mode: number;
  try {
    mode = fs.statSync(file).mode;
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${field}: cannot read ${file} (${(err as Error).message})`, { cause: err });
  }
  if ((mode & 0o006) !== 0) {
    throw new ConfigError(
      `${field}: ${file} is ${(mode & 0o004) !== 0 ? 'readable' : 'writable'} by every user; ` +
        'make it private to Weft\'s user (chmod 600, or defaultMode: 0400 on a Kubernetes Secret volume)',
    );
  }
  const token = text.trim();
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new ConfigError(
      `${field}: ${file} must hold one token of at least ${MIN_TOKEN_LENGTH} characters without spaces ` +
        '(e.g. the output of `openssl rand -hex 32`)',
    );
  }
  return token;
}

/** True for addresses only this host can reach: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export interface DebugRequest {
  readonly path: string;
  /** The part of the path after the route's prefix when the route ends with "/*". */
  readonly rest: string;
  readonly query: URLSearchParams;
}

export interface DebugResponse {
  readonly status?: number;
  readonly body: unknown;
}

export type DebugHandler = (req: DebugRequest) => DebugResponse | Promise<DebugResponse>;

export class DebugServer {
  private readonly exact = new Map<string, DebugHandler>();
  private readonly prefixes = new Map<string, DebugHandler>();
  /** Exact routes answered without the token. */
  private readonly open = new Set<string>();
  private readonly tokenDigest: Buffer | undefined;
  private server: http.Server | undefined;

  constructor(
    private readonly logger?: Logger,
    options: DebugServerOptions = {},
  ) {
    // Digests of equal length: the comparison takes the same time whatever the token given, and its length.
    this.tokenDigest = options.token === undefined ? undefined : digest(options.token);
  }

  /** Whether non-public routes ask for a token. */
  get authenticated(): boolean {
    return this.tokenDigest !== undefined;
  }

  /**
   * Registers a GET route. "/debug/proxies" matches that path only; "/debug/proxies/*" matches everything
   * below it and hands the rest to the handler. A later registration of the same path replaces the earlier.
   * `public`: an exact route answered without the token (health probes carry none).
   */
  route(path: string, handler: DebugHandler, options: { public?: boolean } = {}): this {
    if (path.endsWith('/*')) this.prefixes.set(path.slice(0, -1), handler);
    else {
      this.exact.set(path, handler);
      if (options.public === true) this.open.add(path);
      else this.open.delete(path);
    }
    return this;
  }

  routes(): string[] {
    return [...this.exact.keys(), ...[...this.prefixes.keys()].map((p) => `${p}*`)].sort();
  }

  async listen(host = '127.0.0.1', port = 9092): Promise<number> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(`${JSON.stringify(body, null, 2)}\n`);
    };
    // Before anything else, so that without the token not even the list of routes is told.
    if (this.tokenDigest !== undefined && !this.open.has(url.pathname)) {
      const given = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
      if (given === undefined || !timingSafeEqual(digest(given), this.tokenDigest)) {
        const challenge = given === undefined ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_token"`;
        send(401, { error: `${given === undefined ? 'no' : 'a wrong'} bearer token; send Authorization: Bearer <the token in debug.tokenFile>` }, {
          'www-authenticate': challenge,
        });
        return;
      }
    }
    if (req.method !== 'GET') {
      send(405, { error: `method ${req.method ?? '?'} not allowed; the debug server is read-only (GET)` });
      return;
    }
    let handler = this.exact.get(url.pathname);
    let rest = '';
    if (handler === undefined) {
      const prefix = [...this.prefixes.keys()].filter((p) => url.pathname.startsWith(p)).sort((a, b) => b.length - a.length)[0];
      if (prefix !== undefined) {
        handler = this.prefixes.get(prefix);
        rest = decodeURIComponent(url.pathname.slice(prefix.length));
      }
    }
    if (handler === undefined) {
      send(404, { error: `no debug route ${url.pathname}`, routes: this.routes() });
      return;
    }
    try {
      const out = await handler({ path: url.pathname, rest, query: url.searchParams });
      send(out.status ?? 200, out.body);
    } catch (err) {
      this.logger?.error('debug route failed', { path: url.pathname, error: (err as Error).message });
      send(500, { error: (err as Error).message });
    }
  }
}
