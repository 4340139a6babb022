import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { captureLogger, TypeUrl } from '@weft/core';
import { normalizeConfig, startWeft, type RunningWeft } from '@weft/core/testing';
import { DeltaClient } from '../support/delta-client.js';
import { FIXTURE_PLUGINS, getJson } from './helpers.js';

const svc = (name: string): string => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: shop }
spec: { selector: { app: ${name} }, ports: [{ port: 80 }] }
`;

/**
 * The composition in one process: a manifest edit travels files source -> log -> catalog -> engine
 * invalidation -> ADS push to a connected proxy of a third-party proxy kind loaded by path.
 */
describe('startWeft composition', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-runtime-'));
  let weft: RunningWeft | undefined;
  let client: DeltaClient | undefined;
  after(async () => {
    client?.close();
    await weft?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pushes what a manifest edit changes to the connected proxy, then stops cleanly', async () => {
    fs.mkdirSync(path.join(dir, 'm'));
    fs.writeFileSync(path.join(dir, 'm', 'web.yaml'), svc('web'));
    const config = normalizeConfig(
      {
        log: 'memory:',
        xds: { host: '127.0.0.1', port: 0, insecure: true, coalesceMs: 0 },
        debug: { port: 0 },
        metrics: { enabled: false },
        plugins: [
          { name: '@weft/plugin-files', config: { dir: 'm', debounceMs: 10 } },
          { path: path.join(FIXTURE_PLUGINS, 'sample-proxy'), config: { connectTimeoutMs: 1500 } },
        ],
      },
      { file: path.join(dir, 'weft.yaml'), label: 'weft.yaml', configDir: dir },
    );
    const logger = captureLogger('info');
    weft = await startWeft(config, { logger });
    assert.equal(weft.catalog.get('Service', 'shop/web')?.meta.name, 'web');
    assert.deepEqual(weft.adapters.map((a) => a.kind), ['sample']);
    assert.ok(logger.records.some((r) => r.msg === 'xds server listening' && r.mode === 'insecure'));

    client = new DeltaClient(`127.0.0.1:${weft.xdsAddress.port}`, { id: 'p-1.sample.buyer.shop.cluster.local' });
    client.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'] });
    const first = await client.next();
    assert.deepEqual(first.resources.map((r) => r.name), ['shop/web']);
    assert.deepEqual(first.resources[0]!.message.connectTimeout, { seconds: 1, nanos: 500_000_000 }, 'the plugin got its config');
    client.ack(first);

    fs.writeFileSync(path.join(dir, 'm', 'api.yaml'), svc('api'));
    const added = await client.next(5000);
    assert.deepEqual(added.resources.map((r) => r.name), ['shop/api'], 'only the new cluster is sent');
    client.ack(added);

    fs.rmSync(path.join(dir, 'm', 'web.yaml'));
    const removed = await client.next(5000);
    assert.deepEqual(removed.removedResources, ['shop/web']);
    client.ack(removed);

    const proxies = await getJson(`127.0.0.1:${weft.debug!.port}`, '/debug/proxies');
    assert.equal(proxies.status, 200);
    assert.equal((proxies.body as { proxies: { uuid: string }[] }).proxies[0]?.uuid, 'p-1');

    client.close();
    client = undefined;
    await weft.close();
    await weft.stopped;
    assert.ok(logger.records.some((r) => r.msg === 'stopped'));
    weft = undefined;
  });

  it('refuses to start without a certificate issuer unless xds.insecure is set', async () => {
    const config = normalizeConfig(
      { log: 'memory:', xds: { port: 0 }, debug: { enabled: false }, metrics: { enabled: false } },
      { file: null, label: 'weft.yaml', configDir: dir },
    );
    await assert.rejects(startWeft(config, { logger: captureLogger() }), /weft\.yaml: no certificate issuer plugin is loaded.*add @weft\/plugin-ca-local to plugins, or set xds\.insecure: true/);
    const kafka = normalizeConfig(
      { log: 'kafka://broker/weft', xds: { insecure: true, port: 0 }, debug: { enabled: false }, metrics: { enabled: false } },
      { file: null, label: 'weft.yaml', configDir: dir },
    );
    await assert.rejects(startWeft(kafka, { logger: captureLogger() }), /weft\.yaml: log: no event-log backend serves "kafka:" \(available: file, memory\)/);
  });
});
