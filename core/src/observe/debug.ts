import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.js';

/**
 * The debug HTTP server (OSM's port 9092, bound to localhost by default). Parts of Weft register JSON routes
 * on it; nothing served here may contain key material (handlers return fingerprints only).
 */

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
  private server: http.Server | undefined;

  constructor(private readonly logger?: Logger) {}

  /**
   * Registers a GET route. "/debug/proxies" matches that path only; "/debug/proxies/*" matches everything
   * below it and hands the rest to the handler. A later registration of the same path replaces the earlier.
   */
  route(path: string, handler: DebugHandler): this {
    if (path.endsWith('/*')) this.prefixes.set(path.slice(0, -1), handler);
    else this.exact.set(path, handler);
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
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body, null, 2)}\n`);
    };
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
