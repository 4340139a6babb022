import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { uriSans } from '@weft/core';

/**
 * Two workloads talking mTLS with node:tls, the way two sidecars would: each presents its identity's
 * certificate and trusts only the mesh trust bundle.
 */

export interface Credentials {
  readonly keyPem: string;
  readonly certPem: string;
  readonly chainPem: readonly string[];
  readonly bundle: readonly string[];
}

function secureOptions(c: Credentials): tls.SecureContextOptions {
  return { key: c.keyPem, cert: [c.certPem, ...c.chainPem].join(''), ca: [...c.bundle] };
}

export interface Workload {
  readonly port: number;
  /** Replaces certificate and trust bundle for new handshakes (what Envoy does on an SDS update). */
  reload(credentials: Credentials): void;
  /** Handshakes the server refused (bad or untrusted client certificate). */
  readonly refused: Error[];
  /** Client SPIFFE ids and serials seen by the server, in order. */
  readonly seen: { spiffe: string; serial: string }[];
  close(): Promise<void>;
}

/**
 * A server that requires a client certificate from the trust bundle and answers each line with
 * "<its view of the peer's SPIFFE id> <line>".
 */
export async function startWorkload(credentials: Credentials): Promise<Workload> {
  const refused: Error[] = [];
  const seen: { spiffe: string; serial: string }[] = [];
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({ ...secureOptions(credentials), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' });
  server.on('tlsClientError', (error) => refused.push(error));
  server.on('secureConnection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const peer = socket.getPeerX509Certificate();
    const spiffe = peer === undefined ? 'none' : (uriSans(peer)[0] ?? 'none');
    seen.push({ spiffe, serial: peer?.serialNumber ?? '' });
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        socket.write(`${spiffe} ${line}\n`);
      }
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    refused,
    seen,
    reload: (c) => server.setSecureContext({ ...secureOptions(c) }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface Connection {
  /** The server's certificate as this client saw it. */
  readonly server: X509Certificate;
  readonly serverSpiffe: string;
  /** Sends a line and waits for the answer "<server's view of us> <line>". */
  ask(line: string): Promise<string>;
  close(): void;
}

/** Connects as a client presenting `credentials`; checks the server's certificate names `servername`. */
export function connect(port: number, credentials: Credentials, servername: string): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ...secureOptions(credentials) });
    const waiting: { resolve: (s: string) => void; reject: (e: Error) => void }[] = [];
    let buffered = '';
    let closedWith: Error | undefined;
    const fail = (error: Error): void => {
      closedWith = error;
      reject(error);
      for (const w of waiting.splice(0)) w.reject(error);
    };
    socket.setEncoding('utf8');
    socket.on('error', fail);
    socket.on('close', () => fail(closedWith ?? new Error('connection closed')));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        waiting.shift()?.resolve(line);
      }
    });
    socket.once('secureConnect', () => {
      const server = socket.getPeerX509Certificate();
      if (server === undefined) {
        fail(new Error('server sent no certificate'));
        return;
      }
      const connection: Connection = {
        server,
        serverSpiffe: uriSans(server)[0] ?? 'none',
        ask: (line) =>
          new Promise((res, rej) => {
            if (closedWith !== undefined) {
              rej(closedWith);
              return;
            }
            waiting.push({ resolve: res, reject: rej });
            socket.write(`${line}\n`);
          }),
        close: () => socket.destroy(),
      };
      // With TLS 1.3 the server checks the client certificate after the client finished its side;
      // one round trip proves the server accepted it.
      connection.ask('hello').then(() => resolve(connection), reject);
    });
  });
}
