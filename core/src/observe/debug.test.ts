import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DebugServer, isLoopbackHost, readTokenFile } from './debug.js';
import { startMetricsServer, WeftMetrics } from './metrics.js';

describe('debug and metrics servers', () => {
  it('serves registered JSON routes, prefix routes and a 404 listing the routes', async () => {
    const debug = new DebugServer();
    debug.route('/healthz', () => ({ body: { status: 'ok' } }));
    debug.route('/debug/things/*', (req) => (req.rest === 'x' ? { body: { id: req.rest } } : { status: 404, body: { error: 'no' } }));
    const port = await debug.listen('127.0.0.1', 0);
    try {
      const get = async (p: string) => {
        const r = await fetch(`http://127.0.0.1:${port}${p}`);
        return { status: r.status, body: (await r.json()) as Record<string, unknown> };
      };
      assert.deepEqual(await get('/healthz'), { status: 200, body: { status: 'ok' } });
      assert.deepEqual(await get('/debug/things/x'), { status: 200, body: { id: 'x' } });
      assert.equal((await get('/debug/things/y')).status, 404);
      const missing = await get('/nope');
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.body['routes'], ['/debug/things/*', '/healthz']);
    } finally {
      await debug.close();
    }
  });

  it('with a token, answers only public routes without it; 401 with a Bearer challenge otherwise', async () => {
    const token = 'a'.repeat(16) + 'b'.repeat(16);
    const debug = new DebugServer(undefined, { token });
    debug.route('/readyz', () => ({ body: { status: 'ready' } }), { public: true });
    debug.route('/debug/log', () => ({ body: { events: ['secret body'] } }));
    debug.route('/debug/proxies/*', () => ({ body: { address: '10.0.0.7' } }));
    const port = await debug.listen('127.0.0.1', 0);
    try {
      const get = async (p: string, authorization?: string) => {
        const r = await fetch(`http://127.0.0.1:${port}${p}`, authorization === undefined ? {} : { headers: { authorization } });
        return { status: r.status, challenge: r.headers.get('www-authenticate'), text: await r.text() };
      };
      assert.equal((await get('/readyz')).status, 200);
      for (const p of ['/debug/log', '/debug/proxies/x', '/unknown']) {
        const r = await get(p);
        assert.equal(r.status, 401, p);
        assert.equal(r.challenge, 'Bearer realm="weft-debug"');
        assert.doesNotMatch(r.text, /secret body|10\.0\.0\.7|routes/);
      }
      for (const wrong of [`Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, `Basic ${token}`, token]) {
        const r = await get('/debug/log', wrong);
        assert.equal(r.status, 401, wrong);
      }
      assert.equal((await get('/debug/log', `Bearer ${token}x`)).challenge, 'Bearer realm="weft-debug", error="invalid_token"');
      assert.match((await get('/debug/log', `Bearer ${token}`)).text, /secret body/);
      assert.match((await get('/debug/log', `bearer ${token}`)).text, /secret body/, 'the scheme is case-insensitive');
      // Re-registering a public path without the flag makes it private again.
      debug.route('/readyz', () => ({ body: {} }));
      assert.equal((await get('/readyz')).status, 401);
    } finally {
      await debug.close();
    }
  });

  it('reads a private token file and refuses one every user can read, or a short token', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-token-'));
    try {
      const file = path.join(dir, 'token');
      fs.writeFileSync(file, '0123456789abcdef0123\n', { mode: 0o600 });
      assert.equal(readTokenFile(file), '0123456789abcdef0123');
      fs.chmodSync(file, 0o640);
      assert.equal(readTokenFile(file), '0123456789abcdef0123', 'a group may read it');
      fs.chmodSync(file, 0o644);
      assert.throws(() => readTokenFile(file), /debug\.tokenFile: .* is readable by every user; make it private .*chmod 600/);
      fs.chmodSync(file, 0o602);
      assert.throws(() => readTokenFile(file), /is writable by every user/);
      fs.chmodSync(file, 0o600);
      fs.writeFileSync(file, 'short\n');
      assert.throws(() => readTokenFile(file), /at least 16 characters/);
      fs.writeFileSync(file, '0123456789 abcdef0123\n');
      assert.throws(() => readTokenFile(file), /without spaces/);
      assert.throws(() => readTokenFile(path.join(dir, 'missing')), /debug\.tokenFile: cannot read .*missing/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tells loopback addresses from the rest', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['0.0.0.0', '::', '10.0.0.5', 'weft.example', '128.0.0.1']) assert.equal(isLoopbackHost(h), false, h);
  });

  it('exposes Weft and OSM metric names on their own registry', async () => {
    const metrics = new WeftMetrics({ defaultMetrics: false });
    metrics.pushes.inc({ type: 'CDS' });
    metrics.convergence.observe(0.01);
    const server = await startMetricsServer(metrics, '127.0.0.1', 0);
    try {
      const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      for (const name of ['osm_proxy_connect_count', 'osm_proxy_max_connections_rejected', 'weft_connected_proxies', 'weft_convergence_seconds_bucket']) {
        assert.ok(text.includes(name), name);
      }
      assert.match(text, /weft_xds_pushes_total\{type="CDS"\} 1/);
      assert.equal(await metrics.value('weft_xds_pushes_total', { type: 'CDS' }), 1);
      assert.equal(await metrics.count('weft_convergence_seconds'), 1);
    } finally {
      await server.close();
    }
  });
});
