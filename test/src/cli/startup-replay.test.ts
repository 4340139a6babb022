import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { captureLogger, type EventInput, type Service, type Workload } from '@weft/core';
import { Catalog, FileEventLog, INDEX_NAMES, normalizeConfig, startWeft, type RunningWeft } from '@weft/core/testing';

const meta = (namespace: string, name: string, labels: Record<string, string> = {}): Workload['meta'] => ({ namespace, name, labels, annotations: {} });

function service(name: string, selector: Record<string, string>): Service {
  return { meta: meta('shop', name), ports: [{ name: 'http', port: 80, targetPort: 80, protocol: 'TCP', appProtocol: 'http' }], selector, clusterIP: null };
}

function workload(name: string, labels: Record<string, string>, sa: string, ip: string): Workload {
  return {
    meta: meta('shop', name, labels),
    serviceAccount: sa,
    ips: [ip],
    ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
    proxyUuid: `uuid-${name}`,
    ready: true,
  };
}

/**
 * A history with what makes a start-up fold interesting: pods that come, change, go and come back;
 * relabels moving pods between services; a service whose selector changes; identical re-upserts from
 * another source; changes made and undone inside one batch.
 */
function history(): EventInput[][] {
  const up = (kind: 'Service' | 'Workload', body: Service | Workload, source = 'files'): EventInput => ({
    source,
    op: 'upsert',
    kind,
    key: `shop/${body.meta.name}`,
    body,
  });
  const del = (kind: 'Service' | 'Workload', name: string): EventInput => ({ source: 'files', op: 'delete', kind, key: `shop/${name}` });
  const batches: EventInput[][] = [[up('Service', service('web', { app: 'web' })), up('Service', service('api', { app: 'api', tier: 'back' }))]];
  for (let round = 0; round < 30; round++) {
    const b: EventInput[] = [];
    for (let p = 0; p < 8; p++) {
      const app = (p + round) % 3 === 0 ? 'api' : 'web';
      const name = `pod-${p}`;
      if ((p * 7 + round) % 11 === 0) b.push(del('Workload', name));
      else b.push(up('Workload', workload(name, { app, tier: 'back', version: `v${round % 2}` }, `sa-${p % 3}`, `10.0.${p}.${round}`)));
    }
    if (round % 5 === 0) b.push(up('Service', service('api', round % 10 === 0 ? { app: 'api' } : { app: 'api', tier: 'back' })));
    // The same content again, from another writer: only the source moves.
    if (round % 4 === 1) b.push(up('Service', service('web', { app: 'web' }), 'kubernetes'));
    // Changed and changed back inside one batch: no change for that batch.
    if (round % 6 === 2) b.push(up('Service', service('web', { app: 'other' })), up('Service', service('web', { app: 'web' })));
    batches.push(b);
  }
  return batches;
}

function indexes(c: Catalog): unknown {
  return INDEX_NAMES.map((i) => [i, c.entries(i)]);
}

describe('start-up replay', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-startup-'));
  let weft: RunningWeft | undefined;
  after(async () => {
    await weft?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('folds an existing file log to what a batch-by-batch replay gives, then follows new batches', async () => {
    const logDir = path.join(dir, 'log');
    const writer = await FileEventLog.open(logDir);
    for (const b of history()) await writer.append(b);
    const head = writer.head();
    await writer.close();

    const exact = new Catalog();
    const reader = await FileEventLog.open(logDir, { readOnly: true });
    for await (const batch of reader.read(0)) exact.apply(batch);
    await reader.close();
    const want = exact.snapshot();

    const config = normalizeConfig(
      { log: `file:${logDir}`, xds: { host: '127.0.0.1', port: 0, insecure: true }, metrics: { enabled: false }, plugins: [] },
      { file: path.join(dir, 'weft.yaml'), label: 'weft.yaml', configDir: dir },
    );
    const logger = captureLogger('info');
    weft = await startWeft(config, { logger });
    const replayed = logger.records.find((r) => r.msg === 'log replayed into the catalog');
    assert.equal(replayed?.events, head, 'every event of the log was folded');
    assert.equal(replayed?.resources, want.resources.length);

    const got = weft.catalog.snapshot();
    assert.ok(want.resources.length > 5);
    assert.deepEqual(got.resources, want.resources, 'same resources, bodies and sources');
    assert.deepEqual(indexes(weft.catalog), indexes(exact), 'same indexes');
    assert.deepEqual(got.provenance, want.provenance.filter(([k]) => k.startsWith('r:')), 'same provenance for every resource');
    assert.equal(weft.catalog.lastOffset, head - 1);

    // From there on batches apply as they come, and give the same changes as on the exact catalog.
    const next: EventInput[] = [
      { source: 'files', op: 'upsert', kind: 'Workload', key: 'shop/pod-new', body: workload('pod-new', { app: 'api', tier: 'back' }, 'sa-9', '10.1.0.1') },
      { source: 'files', op: 'delete', kind: 'Service', key: 'shop/web' },
    ];
    const [first] = await weft.log.append(next);
    await weft.caughtUp(first! + next.length - 1);
    exact.apply({ events: next.map((e, i) => ({ ...e, v: 1, offset: first! + i, time: 0 })) });
    assert.deepEqual(weft.catalog.snapshot().resources, exact.snapshot().resources);
    assert.deepEqual(indexes(weft.catalog), indexes(exact));
  });
});
