/**
 * The files source as `weft start` builds it (the plugin's config checks, its worker-thread parser) over a
 * real file log, fed folders that are hostile or unusual: an alias bomb, files over the size and object
 * limits, a file that takes seconds to parse, a Kubernetes ConfigMap volume, symlink loops.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { Harness, until } from './harness.js';

const svc = (name: string, port: number): string => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: shop }
spec:
  selector: { app: ${name} }
  ports: [{ name: http, port: ${port} }]
`;

const deployment = (name: string): string => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: shop, labels: { app: ${name}, tier: backend } }
spec:
  replicas: 3
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name}, tier: backend, version: v1 } }
    spec:
      serviceAccountName: ${name}
      containers:
        - name: ${name}
          image: registry.example.com/shop/${name}:1.4.2
          ports: [{ containerPort: 8080, name: http }, { containerPort: 9090, name: metrics }]
          env:
            - { name: LOG_LEVEL, value: info }
            - { name: UPSTREAM, value: "http://api.shop.svc.cluster.local:8080" }
            - { name: POD_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }
          resources: { requests: { cpu: 100m, memory: 128Mi }, limits: { cpu: 500m, memory: 256Mi } }
          readinessProbe: { httpGet: { path: /ready, port: 8080 }, periodSeconds: 5 }
          livenessProbe: { httpGet: { path: /live, port: 8080 }, periodSeconds: 10 }
`;

/** A few hundred bytes that expand to 10^9 nodes: the "billion laughs" attack, in YAML aliases. */
const ALIAS_BOMB = [
  'apiVersion: v1',
  'kind: ConfigMap',
  'metadata: { name: lol, namespace: shop }',
  'data:',
  '  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]',
  ...Array.from({ length: 8 }, (_, i) => `  a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(', ')}]`),
  '',
].join('\n');

/** Runs `work` beside a 10 ms interval timer; the longest time between two of its runs, in ms. */
async function longestPause(work: () => Promise<unknown>): Promise<number> {
  let longest = 0;
  let last = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 10);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(longest, Date.now() - last);
}

const fileErrors = (h: Harness, file: string): string[] =>
  h.logger.records.filter((r) => r.level === 'error' && r.file === file).map((r) => `${r.msg}: ${String(r.error)}`);

describe('files source: hostile and unusual folders', () => {
  let h: Harness;
  afterEach(async () => h.close());

  it('rejects an alias bomb by name and loads the rest of the folder, at start and while running', async () => {
    h = await new Harness().open({ log: 'file' });
    h.write('a.yaml', svc('web', 80));
    h.write('bomb.yaml', `${svc('db', 5432)}---\n${ALIAS_BOMB}`);
    await h.startPlugin();
    assert.equal(h.port('web'), 80, 'the other file loads');
    assert.equal(h.port('db'), 5432, "the bomb file's other document loads");
    assert.deepEqual(fileErrors(h, 'bomb.yaml'), [
      'invalid manifest rejected: bomb.yaml document 1 (ConfigMap shop/lol): cannot be expanded: Excessive alias count ' +
        'indicates a resource exhaustion attack; write the repeated parts out instead of nesting aliases',
    ]);

    // While running: a second bomb arrives in the same scan as an edit of another file; the edit applies.
    h.write('nested/bomb2.yaml', ALIAS_BOMB);
    h.write('a.yaml', svc('web', 81));
    await until('the edit beside the bomb', () => h.port('web') === 81);
    assert.equal(fileErrors(h, 'nested/bomb2.yaml').length, 1);
  });

  it('rejects a file over maxFileBytes before parsing it, keeps its last good version, and says so once', async () => {
    h = await new Harness().open({ log: 'file' });
    const padded = (text: string, bytes: number): string => `${text}# ${'x'.repeat(bytes - text.length - 3)}\n`;
    h.write('a.yaml', svc('web', 80));
    h.write('big.yaml', padded(svc('api', 8080), 5000));
    h.write('b.yaml', svc('db', 5432));
    await h.startPlugin({ maxFileBytes: 4096, rescanMs: 20 });
    assert.equal(h.port('web'), 80);
    assert.equal(h.port('db'), 5432);
    assert.equal(h.port('api'), undefined, 'nothing of the large file loads');
    assert.deepEqual(fileErrors(h, 'big.yaml'), [
      'manifest file rejected: big.yaml: is 5000 bytes, more than the 4096 bytes a manifest file may have (maxFileBytes); ' +
        'split it into smaller files',
    ]);

    // A loaded file that grows past the limit keeps what it defined, and says so.
    h.write('b.yaml', padded(svc('db', 5433), 6000));
    await until('the rejection', () => fileErrors(h, 'b.yaml').length === 1);
    assert.match(fileErrors(h, 'b.yaml')[0]!, /b\.yaml: is 6000 bytes, more than the 4096 bytes/);
    assert.ok(h.logger.records.some((r) => r.level === 'warn' && r.file === 'b.yaml' && /keeping the last good version/.test(r.msg)));
    await new Promise((r) => setTimeout(r, 150)); // several rescans
    assert.equal(h.port('db'), 5432);
    assert.equal(fileErrors(h, 'b.yaml').length, 1, 'a rescan does not repeat the report');
    assert.equal(fileErrors(h, 'big.yaml').length, 1);

    h.write('b.yaml', svc('db', 5433));
    await until('the fix', () => h.port('db') === 5433);
  });

  it('rejects the file that would take the folder past maxObjects, and takes it once there is room', async () => {
    h = await new Harness().open({ log: 'file' });
    h.write('a.yaml', `${svc('web', 80)}---\n${svc('api', 8080)}`);
    h.write('b.yaml', `${svc('db', 5432)}---\n${svc('cache', 6379)}`);
    await h.startPlugin({ maxObjects: 3 });
    assert.equal(h.port('web'), 80);
    assert.equal(h.port('db'), undefined);
    assert.deepEqual(fileErrors(h, 'b.yaml'), [
      'manifest file rejected: b.yaml: defines 2 resources, more than the 1 the folder\'s limit leaves room for ' +
        '(maxObjects counts the resources of all files); split the folder or raise maxObjects',
    ]);

    h.write('a.yaml', svc('web', 80));
    await until('b.yaml to load once a.yaml gives room', () => h.port('db') === 5432 && h.port('cache') === 6379);
    assert.equal(h.port('api'), undefined);
  });

  it('rejects a file whose parse runs past parseTimeoutMs, and parses the next change on a fresh thread', async () => {
    h = await new Harness().open({ log: 'file' });
    h.write('a.yaml', svc('web', 80));
    // The YAML parser checks each key of a mapping against all the keys before it: 30,000 keys take many
    // seconds, while the small file beside it must still parse within the limit on a busy machine.
    const keys = Array.from({ length: 30_000 }, (_, i) => `  key-${i}: v`).join('\n');
    h.write('slow.yaml', `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: slow, namespace: shop }\ndata:\n${keys}\n`);
    await h.startPlugin({ parseTimeoutMs: 1000 });
    assert.equal(h.port('web'), 80);
    assert.deepEqual(fileErrors(h, 'slow.yaml'), [
      'manifest file rejected: slow.yaml: parsing it took longer than 1 s (parseTimeoutMs); split it into smaller files',
    ]);
    h.write('a.yaml', svc('web', 81));
    await until('the next change', () => h.port('web') === 81);
  });

  it('parses a large file off the event loop: timers keep firing, and stopping does not wait for the parse', async (t) => {
    h = await new Harness().open({ log: 'file' });
    h.write('a.yaml', svc('web', 80));
    const source = await h.startPlugin();
    // A rendered bundle of ~2 MiB: a Deployment per app (which the mesh ignores), a Service for one app in
    // ten. Seconds of YAML parsing for a couple of hundred resources, so that the time measured is the
    // parser's, not that of appending thousands of events to the log and folding them.
    const docs: string[] = [];
    let apps = 0;
    for (let size = 0; size < 2 * 1024 * 1024; apps++) {
      const doc = apps % 10 === 0 ? `${deployment(`bulk-${apps}`)}---\n${svc(`bulk-${apps}`, 8080)}` : deployment(`bulk-${apps}`);
      docs.push(doc);
      size += doc.length;
    }
    const large = docs.join('---\n');
    const lastService = `bulk-${Math.floor((apps - 1) / 10) * 10}`;

    // What the machine's own scheduling costs the timer (tests run side by side), measured with nothing to do.
    const idle = await longestPause(() => new Promise((r) => setTimeout(r, 1000)));
    const t0 = Date.now();
    const pause = await longestPause(async () => {
      h.write('large.yaml', large);
      await until('the large file to load', () => h.port(lastService) !== undefined, 60_000);
    });
    const took = Date.now() - t0;
    t.diagnostic(`${large.length} bytes: loaded in ${took} ms; longest pause of the loop ${pause} ms (idle: ${idle} ms)`);
    assert.ok(took > 600, `the file must take long enough to parse to matter (${took} ms)`);
    assert.ok(pause < 200 + idle, `the loop went ${pause} ms without running a timer while the file was parsed (${took} ms)`);

    // Stop while a parse of the same size is in flight: the worker is ended, stop() returns at once.
    h.write('large.yaml', large.replace('name: bulk-0,', 'name: bulk-x,'));
    await new Promise((r) => setTimeout(r, 200));
    const s0 = Date.now();
    await source.stop();
    assert.ok(Date.now() - s0 < 500, `stop() took ${Date.now() - s0} ms`);
    await new Promise((r) => setTimeout(r, took));
    assert.equal(h.port('bulk-x'), undefined, 'the parse was ended, not finished');
  });

  it('loads a ConfigMap volume (a folder of symlinks) once, and follows the atomic ..data swap of an update', async () => {
    h = await new Harness().open({ log: 'file' });
    // What the kubelet writes for a ConfigMap with keys a.yaml and b.yaml mounted at the watched folder.
    const first = '..2026_12_07_10_00_00.000000001';
    h.write(`${first}/a.yaml`, svc('web', 80));
    h.write(`${first}/b.yaml`, svc('db', 5432));
    fs.symlinkSync(first, path.join(h.dir, '..data'));
    fs.symlinkSync('..data/a.yaml', path.join(h.dir, 'a.yaml'));
    fs.symlinkSync('..data/b.yaml', path.join(h.dir, 'b.yaml'));
    await h.startPlugin();
    assert.equal(h.port('web'), 80);
    assert.equal(h.port('db'), 5432);
    assert.deepEqual(h.errors(), [], 'each manifest is read once, under the name of its top-level link');

    // The update: a new timestamped folder, `..data` replaced by a rename, links for new keys, the old
    // folder removed. No rescan (rescanMs 0): the watch must see it.
    const swap = (to: string, files: Record<string, string>, removed: string[]): void => {
      for (const [name, text] of Object.entries(files)) h.write(`${to}/${name}`, text);
      const old = fs.readlinkSync(path.join(h.dir, '..data'));
      fs.symlinkSync(to, path.join(h.dir, '..data_tmp'));
      fs.renameSync(path.join(h.dir, '..data_tmp'), path.join(h.dir, '..data'));
      for (const name of Object.keys(files)) {
        if (!fs.existsSync(path.join(h.dir, name))) fs.symlinkSync(`..data/${name}`, path.join(h.dir, name));
      }
      for (const name of removed) fs.rmSync(path.join(h.dir, name));
      fs.rmSync(path.join(h.dir, old), { recursive: true });
    };
    swap('..2026_12_07_10_05_00.000000002', { 'a.yaml': svc('web', 81), 'b.yaml': svc('db', 5432), 'c.yaml': svc('api', 8080) }, []);
    await until('the swapped content', () => h.port('web') === 81 && h.port('api') === 8080);
    swap('..2026_12_07_10_10_00.000000003', { 'a.yaml': svc('web', 81), 'c.yaml': svc('api', 8080) }, ['b.yaml']);
    await until('the removed key', () => h.port('db') === undefined);
    assert.deepEqual(h.errors(), []);
  });

  it('does not follow a symlink loop, and reports each one once', async () => {
    h = await new Harness().open({ log: 'file' });
    h.write('a.yaml', svc('web', 80));
    h.write('sub/b.yaml', svc('db', 5432));
    fs.symlinkSync('..', path.join(h.dir, 'sub', 'up'));
    fs.symlinkSync('self', path.join(h.dir, 'self'));
    fs.symlinkSync('sub', path.join(h.dir, 'zz-again'));
    await h.startPlugin({ rescanMs: 20 });
    assert.equal(h.port('web'), 80);
    assert.equal(h.port('db'), 5432);
    await new Promise((r) => setTimeout(r, 150)); // several rescans
    const warnings = h.logger.records.filter((r) => r.level === 'warn').map((r) => r.msg);
    assert.deepEqual(warnings.sort(), [
      'self: symlink loop: the link resolves to itself; not followed',
      'sub/up: symlink loop: leads back to the folder itself; not followed',
      'zz-again: leads to sub, which is already scanned; not scanned twice',
    ]);
    assert.deepEqual(h.errors(), []);
  });
});
