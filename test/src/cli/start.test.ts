import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { FIXTURE_PLUGINS, getJson, REPO, spawnWeft, WEFT_BIN, runWeft, scratchWithExample, until, WeftProcess, type LogLine } from './helpers.js';

/**
 * `weft start` as a user runs it: a config file, the built-in plugins by package name, a third-party
 * plugin by path, OS-picked ports; ready, serving, reacting to a manifest edit, stopping cleanly on SIGTERM.
 */

function writeConfig(dir: string, extraPlugins: string): string {
  const file = path.join(dir, 'weft.yaml');
  const sample = path.relative(dir, path.join(FIXTURE_PLUGINS, 'sample-proxy'));
  fs.writeFileSync(
    file,
    `dataDir: data
xds: { host: 127.0.0.1, port: 0 }
debug: { host: 127.0.0.1, port: 0 }
metrics: { host: 127.0.0.1, port: 0 }
plugins:
  - name: '@weft/plugin-files'
    config: { dir: manifests, debounceMs: 20 }
  - name: '@weft/plugin-ca-local'
  - name: '@weft/plugin-envoy'
  - path: ${JSON.stringify(sample)}
    config: { connectTimeoutMs: 750 }
${extraPlugins}`,
  );
  return file;
}

const isReady = (l: LogLine): boolean => l.msg === 'ready';

describe('weft start', () => {
  const dirs: string[] = [];
  const procs: WeftProcess[] = [];
  after(() => {
    for (const p of procs) p.kill();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('loads plugins by name and by path, serves /healthz, follows edits and exits 0 on SIGTERM', async () => {
    const dir = scratchWithExample();
    dirs.push(dir);
    const config = writeConfig(dir, '');
    const weft = new WeftProcess(['--config', config]);
    procs.push(weft);
    const ready = await weft.waitFor(isReady);

    assert.deepEqual(ready.plugins, ['files', 'ca-local', 'envoy', 'sample-proxy']);
    assert.deepEqual(ready.adapters, ['envoy', 'sidecar', 'sample']);
    const head = ready.offset as number;
    assert.ok(head >= 40, `the example was appended before ready (offset ${head})`);
    for (const what of ['xds', 'debug', 'metrics']) {
      assert.match(String(ready[what]), /^127\.0\.0\.1:\d+$/, `${what} address is logged`);
      assert.notEqual(String(ready[what]), '127.0.0.1:0');
    }
    const loaded = weft.lines.filter((l) => l.msg === 'plugin loaded').map((l) => `${String(l.index)}:${String(l.from)}`);
    assert.equal(loaded.length, 4);
    assert.match(loaded[3]!, /^3:.*sample-proxy$/);
    assert.ok(weft.lines.some((l) => l.msg === 'sample proxy adapter registered' && l.connectTimeoutMs === 750));

    const debug = String(ready.debug);
    const health = await getJson(debug, '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'ok', offset: head });

    // An edit in the watched folder reaches the catalog, and a follower of the log sees it live.
    const follower = spawnWeft(['log', 'tail', path.join(dir, 'data', 'log'), '--follow', '--from', String(head + 1)]);
    const file = path.join(dir, 'manifests', 'bookbuyer.yaml');
    fs.appendFileSync(file, '---\napiVersion: v1\nkind: ServiceAccount\nmetadata: { name: extra, namespace: bookbuyer }\n');
    await until('the edit to be applied', async () => ((await getJson(debug, '/healthz')).body as { offset: number }).offset > head);
    await until('log tail --follow to print the new event', () => follower.out().includes('bookbuyer/extra'));
    assert.equal(await follower.stop('SIGINT'), 0, 'log tail --follow ends cleanly on SIGINT');

    weft.signal('SIGTERM');
    const exit = await weft.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(weft.lines.some((l) => l.msg === 'stopped'), 'shutdown is logged');
    assert.ok(!fs.existsSync(path.join(dir, 'data', 'log', 'LOCK')), 'the log was closed (lock released)');

    // A restart over unchanged files appends nothing and resumes at the same offset.
    const again = new WeftProcess(['--config', config]);
    procs.push(again);
    const ready2 = await again.waitFor(isReady);
    assert.equal(ready2.offset, head + 1);
    assert.ok(!again.lines.some((l) => l.msg === 'manifests applied'), 'nothing re-appended on restart');
    again.signal('SIGINT');
    assert.deepEqual(await again.exited, { code: 0, signal: null });

    // weft log inspect / tail on the data the runs left behind.
    const logDir = path.join(dir, 'data', 'log');
    // Read-only commands, run side by side to keep the test short.
    const certDir = path.join(dir, 'certs');
    const [inspect, tail, json, byPod, byUuid, missing, noKind, envoy] = await Promise.all([
      runWeft(['log', 'inspect', logDir]),
      runWeft(['log', 'tail', logDir, '--from', String(head + 1)]),
      runWeft(['log', 'tail', logDir, '--json', '--from', String(head + 1)]),
      runWeft(['bootstrap', '--config', config, '--pod', 'bookbuyer/bookbuyer-0', '--kind', 'sample']),
      runWeft(['bootstrap', '--config', config, '--uuid', '5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f01', '--kind', 'sample']),
      runWeft(['bootstrap', '--config', config, '--pod', 'bookbuyer/nope', '--kind', 'sample']),
      runWeft(['bootstrap', '--config', config, '--pod', 'bookbuyer/bookbuyer-0', '--kind', 'linkerd']),
      runWeft(['bootstrap', '--config', config, '--pod', 'bookbuyer/bookbuyer-0', '--write-certs', certDir, '--tls-dir', '/certs']),
    ]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout, new RegExp(`events: ${head + 2}   head \\(next offset\\): ${head + 2}`));
    assert.match(inspect.stdout, /writer: none/);
    assert.match(inspect.stdout, /problems: none/);
    assert.equal(tail.code, 0, tail.stderr);
    assert.match(tail.stdout, new RegExp(`^${head + 1}\\t\\S+\\tfiles\\tupsert\\tServiceAccount\\tbookbuyer/extra\\n$`));
    const event = JSON.parse(json.stdout) as { offset: number; kind: string; key: string; body: { meta: { name: string } } };
    assert.equal(event.offset, head + 1);
    assert.equal(event.body.meta.name, 'extra');

    // weft bootstrap reads the same log and asks the adapter of the kind, here the third-party one.
    assert.equal(byPod.code, 0, byPod.stderr);
    assert.deepEqual(JSON.parse(byPod.stdout), {
      sample: true,
      node: '5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f01',
      server: '127.0.0.1:0',
    });
    assert.equal(byUuid.stdout, byPod.stdout);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no pod bookbuyer\/nope in the log at file:.*\(7 pods known\)/);
    assert.equal(noKind.code, 1);
    assert.match(noKind.stderr, /no proxy adapter for kind "linkerd" is loaded \(loaded: envoy, sidecar, sample\)/);

    // The Envoy bootstrap, with the proxy's client certificate from the configured CA written beside it.
    assert.equal(envoy.code, 0, envoy.stderr);
    assert.equal((JSON.parse(envoy.stdout) as { node: { id: string } }).node.id, '5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f01');
    assert.match(envoy.stdout, /"\/certs\/tls\.crt"/);
    const leaf = new X509Certificate(fs.readFileSync(path.join(certDir, 'tls.crt')));
    assert.equal(leaf.subject, 'CN=5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f01.envoy.bookbuyer.bookbuyer.cluster.local');
    assert.match(leaf.subjectAltName ?? '', /URI:spiffe:\/\/cluster\.local\/ns\/bookbuyer\/sa\/bookbuyer/);
    assert.ok(leaf.verify(new X509Certificate(fs.readFileSync(path.join(certDir, 'ca.crt'))).publicKey), 'signed by the mesh CA');
    assert.equal(fs.statSync(path.join(certDir, 'tls.key')).mode & 0o777, 0o600);
  });

  it('does not start half-configured: a broken plugin stops it before anything listens', async () => {
    const dir = scratchWithExample();
    dirs.push(dir);
    const config = writeConfig(dir, `  - path: ${JSON.stringify(path.relative(dir, path.join(FIXTURE_PLUGINS, 'wrong-api-version.js')))}\n`);
    const result = await runWeft(['start', '--config', config]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /weft start: .*weft\.yaml: plugins\[4\] \(.*wrong-api-version\.js\): apiVersion "weft\.dev\/v0" is not supported; this Weft speaks weft\.dev\/v1alpha1/,
    );
    for (const msg of ['xds server listening', 'source started', 'ready', 'log replayed into the catalog']) {
      assert.ok(!result.stderr.includes(`"msg":"${msg}"`), `"${msg}" must not happen`);
    }
    assert.ok(!fs.existsSync(path.join(dir, 'data', 'log')), 'no log was opened');
  });

  it('reports a config error with the file and field path', async () => {
    const dir = scratchWithExample();
    dirs.push(dir);
    const config = path.join(dir, 'weft.yaml');
    fs.writeFileSync(config, 'xds: { port: 99999, tls: true }\nplugins: [{ config: {} }]\n');
    const result = await runWeft(['start', '--config', config], { cwd: dir });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /weft\.yaml: 3 problem\(s\):/);
    assert.match(result.stderr, /- xds\.tls: unknown field/);
    assert.match(result.stderr, /- xds\.port: must be an integer from 0 to 65535 \(got 99999\)/);
    assert.match(result.stderr, /- plugins\[0\]: give exactly one of name/);
  });
});

describe('weft CLI basics', () => {
  it('prints help for the CLI and each command', async () => {
    const help = await runWeft(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: weft <command>/);
    for (const cmd of ['start', 'validate', 'log', 'bootstrap']) {
      const r = await runWeft([cmd, '--help']);
      assert.equal(r.code, 0, `${cmd} --help`);
      assert.match(r.stdout, /Usage:/);
    }
    // What `npx weft` runs: the bin npm links for the @weft/core workspace.
    const linked = path.join(REPO, 'node_modules', '.bin', 'weft');
    assert.ok(fs.existsSync(linked), 'npm links the weft bin at the root');
    assert.equal(fs.realpathSync(linked), fs.realpathSync(WEFT_BIN));
    const unknown = await runWeft(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const badFlag = await runWeft(['start', '--no-such-flag']);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /Unknown option '--no-such-flag'/);
  });
});
