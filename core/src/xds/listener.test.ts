import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { silentLogger } from '../observe/logger.js';
import { AdsListener, defaultMaxConnections, openFilesLimit, peerKey } from './listener.js';

describe('ADS connection limit default', () => {
  it('leaves room for every proxy plus 1,024, within 7/8 of the open-files limit', () => {
    assert.equal(defaultMaxConnections(10_000, 20_000), 11_024);
    assert.equal(defaultMaxConnections(20_000, 20_000), 17_500, 'the limit wins: the rest is for the log, plugins and servers');
    assert.equal(defaultMaxConnections(2, undefined), 1026, 'unknown limit: not clamped');
    assert.equal(defaultMaxConnections(10, 1), 1, 'never below one');
  });

  it('reads the soft open-files limit (undefined where there is none to read)', () => {
    const limit = openFilesLimit();
    assert.ok(limit === undefined || (Number.isInteger(limit) && limit > 0), String(limit));
  });
});

describe('ADS idle connection timeout', () => {
  it('keeps a connection whose stream arrived while the event loop was too busy to read it', async () => {
    // The peer runs on its own thread so it can send while this thread is blocked: it connects, and opens its
    // "stream" (one byte, which the fake injector below counts as a stream) 100 ms later, well inside the
    // 300 ms idle timeout. This thread is busy from accept to 600 ms after it, so when it looks again the
    // idle timer has expired and the stream's bytes sit unread in the socket: the timer must not win.
    const closed: string[] = [];
    let opened = 0;
    const injector = {
      injectConnection(connection: Duplex): void {
        const socket = connection as net.Socket;
        const key = peerKey(socket.remoteAddress, socket.remotePort);
        socket.once('data', () => {
          opened++;
          listener.streamOpened(key);
        });
        socket.on('close', () => closed.push(key));
        socket.on('error', () => undefined);
        const until = Date.now() + 600;
        while (Date.now() < until) {
          // Busy: a connect storm keeping the loop from reading sockets.
        }
      },
    };
    const listener: AdsListener = new AdsListener({ tls: undefined, injector, maxConnections: 10, idleTimeoutMs: 300, metrics: undefined, logger: silentLogger });
    const port = await listener.listen('127.0.0.1', 0);
    const peer = new Worker(
      `const net = require('node:net');
       const { parentPort, workerData } = require('node:worker_threads');
       const s = net.connect(workerData.port, '127.0.0.1', () => setTimeout(() => s.write('x'), 100));
       s.on('error', () => undefined);
       s.on('close', () => parentPort.postMessage('closed'));
       parentPort.on('message', () => s.destroy());`,
      { eval: true, workerData: { port } },
    );
    try {
      const peerClosed = new Promise<string>((resolve) => peer.once('message', resolve));
      const outcome = await Promise.race([peerClosed, new Promise((r) => setTimeout(() => r('open'), 1500))]);
      assert.equal(opened, 1, 'the stream reached the server');
      assert.equal(outcome, 'open', 'the connection with a stream was closed as idle');
      assert.deepEqual(closed, []);
    } finally {
      peer.postMessage('stop');
      await peer.terminate();
      listener.close();
    }
  });
});

describe('ADS listen backlog', () => {
  it('queues as many connections in the kernel as it allows (a connect storm is not refused at 511)', async (t) => {
    const somaxconn = Number(fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    if (!(somaxconn > 511)) {
      if (process.env.CI === 'true') assert.fail(`net.core.somaxconn is ${somaxconn}: the backlog cannot be told from Node's default`);
      t.skip(`net.core.somaxconn is ${somaxconn}`);
      return;
    }
    const injector = { injectConnection: (c: Duplex) => void c.destroy() };
    const listener = new AdsListener({ tls: undefined, injector, maxConnections: 100_000, idleTimeoutMs: 1000, metrics: undefined, logger: silentLogger });
    const port = await listener.listen('127.0.0.1', 0);
    try {
      // ss shows a listening socket's backlog as its Send-Q.
      const out = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
      const sendQ = Number(out.trim().split(/\s+/)[2]);
      assert.equal(sendQ, somaxconn, out);
    } finally {
      listener.close();
    }
  });
});
