/** The files source warns, in its log, about references the folder's manifests leave dangling. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { captureLogger, type EventInput, type SourceSink } from '@weft/core';
import { parseManifestText, sameContent } from './index.js';
import { FilesSource } from './source.js';

const service = (name: string): string => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec:
  selector: {app: ${name}}
  ports: [{name: http, port: 80}]
`;

const SPLIT = `apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: web-split, namespace: shop}
spec:
  service: web
  backends:
    - {service: web-v1, weight: 90}
    - {service: web-v2, weight: 10}
`;

async function until(what: string, check: () => boolean, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('files source: dangling references', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-files-refs-'));
  const logger = captureLogger();
  const appended: EventInput[][] = [];
  const sink: SourceSink = {
    append: async (batch) => {
      appended.push([...batch]);
      return batch.map((_, i) => i);
    },
    known: () => new Map(),
    logger,
  };
  const source = new FilesSource({ name: 'files', dir, debounceMs: 20, rescanMs: 0, parse: parseManifestText, same: sameContent, logger });
  const warnings = (): string[] => logger.records.filter((r) => r.level === 'warn').map((r) => r.msg);
  const write = (file: string, text: string): void => fs.writeFileSync(path.join(dir, file), text);

  afterEach(async () => {
    await source.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('warns once per dangling reference of a TrafficSplit, and again only when one comes back', async () => {
    write('split.yaml', SPLIT);
    write('services.yaml', service('web-v1'));
    await source.start(sink);
    assert.equal(appended.length, 1, 'the split is loaded all the same');
    assert.deepEqual(warnings(), [
      'TrafficSplit shop/web-split: spec.service: Service shop/web is not defined, so the split applies to no traffic until it is',
      'TrafficSplit shop/web-split: spec.backends[1].service: Service shop/web-v2 is not defined, so the split leaves it out (weight 10) until it is',
    ]);
    const warning = logger.records.find((r) => r.level === 'warn')!;
    assert.equal(warning.resource, 'TrafficSplit/shop/web-split');
    assert.equal(warning.path, 'spec.service');
    assert.equal(warning.missing, 'Service/shop/web');

    // The apex appears: nothing new to say, and the backend's warning is not repeated.
    write('services.yaml', `${service('web-v1')}---\n${service('web')}`);
    await until('the apex to be appended', () => appended.length === 2);
    assert.equal(warnings().length, 2);

    // The apex goes away again: that is news.
    write('services.yaml', service('web-v1'));
    await until('the apex to be deleted', () => appended.length === 3);
    assert.equal(warnings().length, 3);
    assert.match(warnings()[2]!, /^TrafficSplit shop\/web-split: spec\.service: Service shop\/web is not defined/);
  });
});
