import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DebugServer } from './debug.js';
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
