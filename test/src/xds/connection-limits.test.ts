import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@weft/core';
import { createCa, proxyCert, serverCert, type TestCa } from '../support/certs.js';
import { DeltaClient, SotwClient } from '../support/delta-client.js';
import { endpointsBody, serviceBody } from '../support/grpc-test-adapter.js';
import { startMesh, waitFor, type TestMesh } from '../support/mesh.js';

/**
 * Connections to the ADS port, with real sockets: beyond maxConnections they are closed at once; one that
 * opens no ADS stream (TCP or TLS, the handshake included) within idleConnectionTimeoutMs is closed; each is
 * counted, and real ADS clients keep working.
 */

const node = (id: string) => ({ id, metadata: { kind: 'grpc', serviceAccount: 'client', namespace: 'demo' } });
const svc = (name: string, port: number) => [
  { source: 'test', op: 'upsert' as const, kind: 'Service' as const, key: `demo/${name}`, body: serviceBody('demo', name) },
  { source: 'test', op: 'upsert' as const, kind: 'Endpoints' as const, key: `demo/${name}`, body: endpointsBody('demo', name, [{ ip: '127.0.0.1', port }]) },
];

interface Idle {
  readonly socket: net.Socket;
  /** Resolves when the server closed the socket (it never writes here). */
  readonly closed: Promise<void>;
}

/** A TCP connection that sends nothing. */
async function idleTcp(port: number): Promise<Idle> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  // Reading, so that the server's FIN is seen (a paused socket never ends).
  socket.resume();
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, closed };
}

const rejected = (mesh: TestMesh, reason: string): Promise<number> => mesh.metrics.value('weft_xds_connections_rejected_total', { reason });
const open = (mesh: TestMesh): Promise<number> => mesh.metrics.value('weft_xds_connections');

async function closedWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} still open after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

describe('ADS connections beyond maxConnections', () => {
  const limit = 50;
  let mesh: TestMesh;
  before(async () => {
    // A long idle timeout: here only the limit closes connections.
    mesh = await startMesh({ maxConnections: limit, idleConnectionTimeoutMs: 60_000 });
    await mesh.append(svc('a', 1001));
  });
  after(async () => {
    await mesh.close();
  });

  it('closes connections over the limit at once, counts them, keeps the others, and serves ADS once below it', async () => {
    const held: Idle[] = [];
    for (let i = 0; i < limit; i++) held.push(await idleTcp(mesh.port));
    await waitFor('the held connections counted', async () => (await open(mesh)) === limit);

    const extra = 500;
    const refused = await Promise.all(Array.from({ length: extra }, () => idleTcp(mesh.port)));
    await closedWithin(Promise.all(refused.map((r) => r.closed)), 5000, 'a connection over the limit');
    assert.equal(await rejected(mesh, 'limit'), extra);
    assert.equal(await rejected(mesh, 'idle'), 0);
    assert.equal(await open(mesh), limit);
    assert.ok(held.every((h) => !h.socket.destroyed), 'the connections within the limit stay open');

    // At the limit a real client is refused too; one place free, it is served.
    held.pop()!.socket.destroy();
    await waitFor('a place free', async () => (await open(mesh)) === limit - 1);
    const client = new DeltaClient(mesh.address, node('limit-1'));
    try {
      client.request({ typeUrl: TypeUrl.Cluster });
      assert.deepEqual((await client.next()).resources.map((r) => r.name), ['demo/a']);
    } finally {
      client.close();
      for (const h of held) h.socket.destroy();
    }
    await waitFor('every connection gone', async () => (await open(mesh)) === 0);
  });
});

describe('ADS connections that open no stream (plaintext)', () => {
  const timeoutMs = 300;
  let mesh: TestMesh;
  before(async () => {
    mesh = await startMesh({ idleConnectionTimeoutMs: timeoutMs });
    await mesh.append(svc('a', 1001));
  });
  after(async () => {
    await mesh.close();
  });

  it('closes a TCP connection that sends nothing after the timeout, and counts it', async () => {
    const before = await rejected(mesh, 'idle');
    const started = Date.now();
    const idle = await idleTcp(mesh.port);
    await closedWithin(idle.closed, 5000, 'the idle connection');
    assert.ok(Date.now() - started >= timeoutMs - 50, `closed after ${Date.now() - started} ms, before the timeout`);
    assert.equal(await rejected(mesh, 'idle'), before + 1);
  });

  it('closes an HTTP/2 connection that never opens a stream', async () => {
    const before = await rejected(mesh, 'idle');
    const session = http2.connect(`http://${mesh.address}`);
    session.on('error', () => undefined);
    await new Promise<void>((resolve) => session.once('connect', () => resolve()));
    await closedWithin(new Promise<void>((resolve) => session.once('close', () => resolve())), 5000, 'the HTTP/2 connection');
    assert.equal(await rejected(mesh, 'idle'), before + 1);
  });

  it('keeps a connection with an open stream past the timeout, and closes it once its last stream ended', async () => {
    const channel = new grpc.Client(mesh.address, grpc.credentials.createInsecure());
    const client = new DeltaClient(mesh.address, node('idle-1'), undefined, { shared: channel });
    try {
      client.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['demo/a'] });
      client.ack(await client.next());
      await new Promise((r) => setTimeout(r, timeoutMs * 3));
      await mesh.append([svc('a', 1002)[1]!]);
      const pushed = await client.next();
      assert.equal(pushed.resources.length, 1, 'the stream outlived the idle timeout and still gets pushes');

      const before = await rejected(mesh, 'idle');
      client.close(); // the stream ends; the channel (and its connection) stays
      await waitFor('the stream gone', () => mesh.server.stats().streams === 0);
      assert.equal(await open(mesh), 1, 'the connection is still open right after its stream ended');
      await waitFor('the connection without a stream closed', async () => (await open(mesh)) === 0, 5000);
      assert.equal(await rejected(mesh, 'idle'), before + 1);
    } finally {
      channel.close();
    }
  });
});

describe('ADS connections that open no stream (mTLS)', () => {
  const timeoutMs = 300;
  const uuid = '7d0b5c1e-0000-4000-8000-0000000000c1';
  let ca: TestCa;
  let mesh: TestMesh;
  before(async () => {
    ca = createCa('weft-mesh-root');
    const srv = serverCert(ca);
    mesh = await startMesh({
      tls: { mode: 'mtls', key: srv.keyPem, cert: srv.certPem, ca: [ca.certPem] },
      idleConnectionTimeoutMs: timeoutMs,
      maxConnections: 3,
    });
    await mesh.append(svc('a', 1001));
  });
  after(async () => {
    await mesh.close();
  });

  it('closes a connection that never starts the TLS handshake, counted as handshake', async () => {
    const before = await rejected(mesh, 'handshake');
    const idle = await idleTcp(mesh.port);
    await closedWithin(idle.closed, 5000, 'the connection without a handshake');
    assert.equal(await rejected(mesh, 'handshake'), before + 1);
  });

  it('closes a connection stalled in the middle of the handshake, counted as handshake', async () => {
    const before = await rejected(mesh, 'handshake');
    const idle = await idleTcp(mesh.port);
    // The first bytes of a TLS record header for a ClientHello, then nothing.
    idle.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    await closedWithin(idle.closed, 5000, 'the stalled handshake');
    assert.equal(await rejected(mesh, 'handshake'), before + 1);
  });

  it('closes a TLS connection that completed the handshake but opens no stream, counted as idle', async () => {
    const before = await rejected(mesh, 'idle');
    const leaf = proxyCert(ca, { uuid, kind: 'grpc', serviceAccount: 'client', namespace: 'demo' });
    const socket = tls.connect({ host: '127.0.0.1', port: mesh.port, ca: ca.certPem, key: leaf.keyPem, cert: leaf.certPem, ALPNProtocols: ['h2'], servername: 'localhost' });
    socket.on('error', () => undefined);
    socket.resume();
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    await closedWithin(closed, 5000, 'the TLS connection without a stream');
    assert.equal(await rejected(mesh, 'idle'), before + 1);
  });

  it('refuses connections over the limit before any handshake, and serves a real mTLS client past the timeout', async () => {
    const leaf = proxyCert(ca, { uuid, kind: 'grpc', serviceAccount: 'client', namespace: 'demo' });
    const creds = grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(leaf.keyPem), Buffer.from(leaf.certPem));
    const client = new SotwClient(mesh.address, { id: uuid }, creds);
    try {
      client.request({ typeUrl: TypeUrl.Cluster });
      const first = await client.next();
      client.request({ typeUrl: TypeUrl.Cluster, versionInfo: first.versionInfo, responseNonce: first.nonce });
      const held = [await idleTcp(mesh.port), await idleTcp(mesh.port)];
      const before = await rejected(mesh, 'limit');
      const over = await idleTcp(mesh.port);
      await closedWithin(over.closed, 2000, 'the connection over the limit');
      assert.equal(await rejected(mesh, 'limit'), before + 1);
      await closedWithin(Promise.all(held.map((h) => h.closed)), 5000, 'the held connections');
      await new Promise((r) => setTimeout(r, timeoutMs));
      await mesh.append(svc('b', 2001));
      assert.deepEqual((await client.next()).resources.map((r) => r.name).sort(), ['demo/a', 'demo/b'], 'the mTLS stream outlived the timeout');
    } finally {
      client.close();
    }
  });
});
