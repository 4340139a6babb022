import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { runWeft, scratchWithExample, until, WeftProcess, type LogLine } from './helpers.js';

/**
 * `weft start` and `weft validate` on manifest folders that used to stop them: an alias bomb, a file far
 * over the size limit, a Kubernetes ConfigMap volume (a folder of symlinks) and its update, a symlink loop,
 * a file that takes seconds to parse.
 */

/** A few hundred bytes that expand to 10^9 nodes: the "billion laughs" attack, in YAML aliases. */
const ALIAS_BOMB = [
  'apiVersion: v1',
  'kind: ConfigMap',
  'metadata: { name: lol, namespace: bookbuyer }',
  'data:',
  '  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]',
  ...Array.from({ length: 8 }, (_, i) => `  a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(', ')}]`),
  '',
].join('\n');

const serviceAccount = (name: string): string => `apiVersion: v1
kind: ServiceAccount
metadata: { name: ${name}, namespace: bookbuyer }
`;

/** Lays out what the kubelet writes for a ConfigMap volume at `dir`, or updates it the way the kubelet does. */
function configMapVolume(dir: string, stamp: string, files: Record<string, string>): void {
  const data = path.join(dir, '..data');
  const old = fs.existsSync(data) ? fs.readlinkSync(data) : undefined;
  fs.mkdirSync(path.join(dir, stamp), { recursive: true });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, stamp, name), text);
  fs.symlinkSync(stamp, path.join(dir, '..data_tmp'));
  fs.renameSync(path.join(dir, '..data_tmp'), data);
  for (const name of Object.keys(files)) {
    if (!fs.existsSync(path.join(dir, name))) fs.symlinkSync(`..data/${name}`, path.join(dir, name));
  }
  if (old !== undefined) fs.rmSync(path.join(dir, old), { recursive: true });
}

/** A file of `bytes` zero bytes that takes no room on disk: reading it would still cost its whole size. */
function sparseFile(file: string, bytes: number): void {
  fs.writeFileSync(file, '');
  fs.truncateSync(file, bytes);
}

function writeConfig(dir: string): string {
  const file = path.join(dir, 'weft.yaml');
  fs.writeFileSync(
    file,
    `dataDir: data
xds: { host: 127.0.0.1, port: 0 }
debug: { host: 127.0.0.1, port: 0 }
metrics: { enabled: false }
plugins:
  - name: '@weft/plugin-files'
    config: { dir: manifests, debounceMs: 20 }
  - name: '@weft/plugin-ca-local'
`,
  );
  return file;
}

/** GET /healthz; resolves with the time it took to answer. */
function healthLatency(address: string): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    http
      .get(`http://${address}/healthz`, (res) => {
        res.resume();
        res.on('end', () => resolve(Date.now() - t0));
      })
      .on('error', reject);
  });
}

async function loggedKeys(dir: string): Promise<string[]> {
  const tail = await runWeft(['log', 'tail', path.join(dir, 'data', 'log')]);
  assert.equal(tail.code, 0, tail.stderr);
  return tail.stdout
    .trim()
    .split('\n')
    .map((l) => l.split('\t').slice(3).join(' '));
}

describe('weft start and weft validate on hostile manifest folders', () => {
  const dirs: string[] = [];
  const procs: WeftProcess[] = [];
  after(() => {
    for (const p of procs) p.kill();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  const start = async (prepare: (manifests: string) => void): Promise<{ dir: string; weft: WeftProcess; ready: LogLine }> => {
    const dir = scratchWithExample();
    dirs.push(dir);
    prepare(path.join(dir, 'manifests'));
    const weft = new WeftProcess(['--config', writeConfig(dir)]);
    procs.push(weft);
    return { dir, weft, ready: await weft.waitFor((l) => l.msg === 'ready', 30_000) };
  };
  const errorsAbout = (weft: WeftProcess, file: string): LogLine[] => weft.lines.filter((l) => l.level === 'error' && l.file === file);

  it('starts beside an alias bomb, names it, and loads the rest of the folder, then and while running', async () => {
    const { dir, weft, ready } = await start((manifests) => fs.writeFileSync(path.join(manifests, 'bomb.yaml'), ALIAS_BOMB));
    assert.equal(errorsAbout(weft, 'bomb.yaml').length, 1, weft.stderrText);
    assert.match(
      String(errorsAbout(weft, 'bomb.yaml')[0]!.error),
      /^bomb\.yaml document 0 \(ConfigMap bookbuyer\/lol\): cannot be expanded: Excessive alias count/,
    );
    assert.ok((ready.offset as number) >= 40, `the example was appended (offset ${String(ready.offset)})`);

    // Running: a second bomb lands in the same scan as an edit of another file; the edit is applied.
    const manifests = path.join(dir, 'manifests');
    fs.mkdirSync(path.join(manifests, 'more'));
    fs.writeFileSync(path.join(manifests, 'more', 'bomb.yaml'), ALIAS_BOMB);
    fs.appendFileSync(path.join(manifests, 'bookbuyer.yaml'), `---\n${serviceAccount('extra')}`);
    await until('the edit beside the bomb', async () => (await loggedKeys(dir)).includes('upsert ServiceAccount bookbuyer/extra'));
    assert.equal(errorsAbout(weft, 'more/bomb.yaml').length, 1, weft.stderrText);
    weft.signal('SIGTERM');
    assert.deepEqual(await weft.exited, { code: 0, signal: null });
  });

  it('rejects a 64 MiB file unread, and answers /healthz and SIGTERM while a large allowed file is parsed', async (t) => {
    const { dir, weft, ready } = await start((manifests) => sparseFile(path.join(manifests, 'huge.yaml'), 64 * 1024 * 1024));
    assert.equal(errorsAbout(weft, 'huge.yaml').length, 1, weft.stderrText);
    assert.equal(errorsAbout(weft, 'huge.yaml')[0]!.msg, 'manifest file rejected');
    assert.match(
      String(errorsAbout(weft, 'huge.yaml')[0]!.error),
      /^huge\.yaml: is 64 MiB \(67108864 bytes\), more than the 16 MiB \(16777216 bytes\) a manifest file may have \(maxFileBytes\)/,
    );
    assert.ok((ready.offset as number) >= 40, `the example was appended (offset ${String(ready.offset)})`);

    // A bundle within the limits that takes seconds to parse: /healthz keeps answering meanwhile, and SIGTERM
    // stops Weft without waiting for the parse to end.
    const app = (i: number): string => `apiVersion: apps/v1
kind: Deployment
metadata: { name: app-${i}, namespace: bookbuyer, labels: { app: app-${i} } }
spec:
  selector: { matchLabels: { app: app-${i} } }
  template:
    metadata: { labels: { app: app-${i}, version: v1 } }
    spec:
      containers:
        - { name: app, image: "registry.example.com/app:${i}", ports: [{ containerPort: 8080 }], env: [{ name: A, value: "1" }] }
`;
    const docs: string[] = [];
    for (let i = 0, size = 0; size < 6 * 1024 * 1024; i++) {
      docs.push(app(i));
      size += docs[docs.length - 1]!.length;
    }
    fs.writeFileSync(path.join(dir, 'manifests', 'bundle.yaml'), docs.join('---\n'));
    await new Promise((r) => setTimeout(r, 300));
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      latencies.push(await healthLatency(String(ready.debug)));
      await new Promise((r) => setTimeout(r, 50));
    }
    t.diagnostic(`/healthz answered in ${latencies.join(', ')} ms while the bundle was parsed`);
    assert.ok(!weft.lines.some((l) => l.file === 'bundle.yaml'), 'the bundle was still being parsed');
    assert.ok(Math.max(...latencies) < 500, `/healthz took ${latencies.join(', ')} ms`);
    const stopping = Date.now();
    weft.signal('SIGTERM');
    assert.deepEqual(await weft.exited, { code: 0, signal: null });
    assert.ok(Date.now() - stopping < 3000, `SIGTERM took ${Date.now() - stopping} ms to stop Weft`);
  });

  it('loads a ConfigMap volume (a folder of symlinks) and follows the kubelet\'s update of it', async () => {
    const volume = (manifests: string): string => path.join(manifests, 'cm');
    const { dir, weft } = await start((manifests) =>
      configMapVolume(volume(manifests), '..2026_12_07_10_00_00.000000001', { 'extra.yaml': serviceAccount('extra') }),
    );
    assert.deepEqual(weft.lines.filter((l) => l.level === 'error'), []);
    assert.ok((await loggedKeys(dir)).includes('upsert ServiceAccount bookbuyer/extra'));

    configMapVolume(volume(path.join(dir, 'manifests')), '..2026_12_07_10_05_00.000000002', { 'extra.yaml': serviceAccount('extra2') });
    await until('the update to be appended', async () => (await loggedKeys(dir)).includes('upsert ServiceAccount bookbuyer/extra2'));
    assert.ok((await loggedKeys(dir)).includes('delete ServiceAccount bookbuyer/extra'));
    weft.signal('SIGTERM');
    assert.deepEqual(await weft.exited, { code: 0, signal: null });
  });

  it('weft validate names an alias bomb and a file over the size limit, follows symlinks and reports a loop', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-validate-folder-'));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'bomb.yaml'), ALIAS_BOMB);
    sparseFile(path.join(dir, 'huge.yaml'), 17 * 1024 * 1024);
    configMapVolume(path.join(dir, 'cm'), '..2026_12_07_10_00_00.000000001', { 'extra.yaml': serviceAccount('extra') });
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.symlinkSync('..', path.join(dir, 'sub', 'up'));
    const r = await runWeft(['validate', '.'], { cwd: dir });
    assert.equal(r.code, 1);
    assert.deepEqual(r.stdout.trimEnd().split('\n'), [
      'error: huge.yaml: is 17 MiB (17825792 bytes), more than the 16 MiB (16777216 bytes) a manifest file may have (maxFileBytes); split it into smaller files',
      'error: bomb.yaml document 0 (ConfigMap bookbuyer/lol): cannot be expanded: Excessive alias count indicates a resource exhaustion attack; write the repeated parts out instead of nesting aliases',
      'warning: sub/up: symlink loop: leads back to the folder itself; not followed',
      '3 file(s), 1 valid resource(s) (ServiceAccount 1), 0 ignored document(s), 2 error(s), 1 warning(s)',
    ]);
  });
});
