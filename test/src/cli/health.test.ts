import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { FIXTURE_PLUGINS, getJson, runWeft, until, WeftProcess, type LogLine } from './helpers.js';

/**
 * `weft start` as a probe, a load balancer and an operator see it: liveness (/healthz) against readiness
 * (/readyz) while the start is not done, a log that cannot be written (a real EFBIG) and its recovery, and
 * the debug server's bearer token.
 */

const isReady = (l: LogLine): boolean => l.msg === 'ready';

const svc = (name: string, annotation = ''): string => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: shop
  annotations: { note: "${annotation}" }
spec: { selector: { app: ${name} }, ports: [{ port: 80 }] }
`;

function scratch(dirs: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-health-'));
  dirs.push(dir);
  fs.mkdirSync(path.join(dir, 'manifests'));
  return dir;
}

function writeConfig(dir: string, text: string): string {
  const file = path.join(dir, 'weft.yaml');
  fs.writeFileSync(file, `dataDir: data\nxds: { host: 127.0.0.1, port: 0, insecure: true }\nmetrics: { host: 127.0.0.1, port: 0 }\n${text}`);
  return file;
}

/** A port free right now on 127.0.0.1 (the debug server must be reachable before `ready` names its port). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

function get(address: string, urlPath: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://${address}${urlPath}`, { headers }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      })
      .on('error', reject);
  });
}

async function metric(address: string, line: RegExp): Promise<number | undefined> {
  const text = (await get(address, '/metrics')).text;
  const m = line.exec(text);
  return m === null ? undefined : Number(m[1]);
}

interface Readyz {
  readonly status: string;
  readonly checks: Record<string, { ok: boolean } & Record<string, unknown>>;
}

describe('weft start: liveness, readiness and the debug server', () => {
  const dirs: string[] = [];
  const procs: WeftProcess[] = [];
  after(() => {
    for (const p of procs) p.kill();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('is live but not ready until the sources\' first pass and the catalog catch-up are done', async () => {
    const dir = scratch(dirs);
    const debugPort = await freePort();
    const gate = path.join(dir, 'gate');
    const config = writeConfig(
      dir,
      `debug: { host: 127.0.0.1, port: ${debugPort} }
plugins:
  - path: ${JSON.stringify(path.join(FIXTURE_PLUGINS, 'gated-source.js'))}
    config: { gate: gate }
`,
    );
    const weft = new WeftProcess(['--config', config]);
    procs.push(weft);
    await weft.waitFor((l) => l.msg === 'xds server listening');
    const debug = `127.0.0.1:${debugPort}`;
    // The debug server listens before the sources start: poll until it answers.
    await until('the debug server to listen', async () => (await get(debug, '/healthz').catch(() => ({ status: 0 }))).status === 200);

    assert.equal((await getJson(debug, '/healthz')).status, 200, 'live while starting');
    const starting = await getJson(debug, '/readyz');
    assert.equal(starting.status, 503, 'not ready while a source has not finished its first pass');
    const body = starting.body as Readyz;
    assert.equal(body.status, 'not ready');
    assert.equal(body.checks['start']?.ok, false);
    assert.equal(body.checks['start']?.['phase'], 'sources');
    assert.ok(!weft.lines.some(isReady));

    fs.writeFileSync(gate, '');
    const ready = await weft.waitFor(isReady);
    const now = await getJson(debug, '/readyz');
    assert.equal(now.status, 200);
    const checks = (now.body as Readyz).checks;
    assert.equal((now.body as Readyz).status, 'ready');
    for (const name of ['start', 'log', 'lag']) assert.equal(checks[name]?.ok, true, name);
    assert.equal(await metric(String(ready.metrics), /^weft_ready (\d+)$/m), 1);

    weft.signal('SIGTERM');
    assert.deepEqual(await weft.exited, { code: 0, signal: null });
  });

  it('fails readiness and counts failed appends while the log cannot be written (EFBIG), retries with backoff and recovers by itself', async () => {
    const dir = scratch(dirs);
    fs.writeFileSync(path.join(dir, 'manifests', 'web.yaml'), svc('web'));
    const config = writeConfig(
      dir,
      `debug: { host: 127.0.0.1, port: 0 }
plugins:
  - name: '@weft/plugin-files'
    config: { dir: manifests, debounceMs: 20, rescanMs: 100 }
`,
    );
    // 64 KiB per file: the start fits, a 100 KB resource does not.
    const weft = new WeftProcess(['--config', config], undefined, { fileSizeLimitKiB: 64 });
    procs.push(weft);
    const ready = await weft.waitFor(isReady);
    const debug = String(ready.debug);
    const metrics = String(ready.metrics);
    assert.equal((await getJson(debug, '/readyz')).status, 200);

    fs.writeFileSync(path.join(dir, 'manifests', 'big.yaml'), svc('big', 'x'.repeat(100_000)));
    const isFailure = (l: LogLine): boolean => l.msg === 'appending to the event log failed; retrying';
    await until('three failed attempts', () => weft.lines.filter(isFailure).length >= 3, 10_000);

    const notReady = await getJson(debug, '/readyz');
    assert.equal(notReady.status, 503, 'not ready while the log cannot be written');
    const log = (notReady.body as Readyz).checks['log']!;
    assert.equal(log.ok, false);
    assert.equal(log['reason'], 'EFBIG');
    assert.equal((await getJson(debug, '/healthz')).status, 200, 'still live: nothing is wrong with the process');
    assert.ok(((await metric(metrics, /^weft_log_append_failures_total\{reason="EFBIG"\} (\d+)$/m)) ?? 0) >= 3);
    assert.equal(await metric(metrics, /^weft_ready (\d+)$/m), 0);

    // Backoff, not a loop at the rescan's pace: each wait is longer than the one before.
    const failures = weft.lines.filter(isFailure).slice(0, 3);
    const waits = failures.map((l) => l['retryInMs'] as number);
    assert.ok(waits[0]! >= 100 && waits[1]! > waits[0]! && waits[2]! > waits[1]!, `growing waits: ${waits.join(', ')}`);
    const at = failures.map((l) => Date.parse(String(l.time)));
    assert.ok(at[2]! - at[1]! > at[1]! - at[0]!, 'the attempts spread out');

    // The cause goes away (the limit is raised on the running process): the next attempt gets through.
    execFileSync('prlimit', ['--pid', String(weft.pid), '--fsize=unlimited']);
    await weft.waitFor((l) => l.msg === 'appending to the event log recovered', 40_000);
    await until('readiness to come back', async () => (await getJson(debug, '/readyz')).status === 200, 10_000);
    const tail = (await getJson(debug, '/debug/log')).body as { events: { key: string }[] };
    assert.ok(tail.events.some((e) => e.key === 'shop/big'), 'the resource reached the log');
    assert.equal(await metric(metrics, /^weft_ready (\d+)$/m), 1);

    weft.signal('SIGTERM');
    assert.deepEqual(await weft.exited, { code: 0, signal: null });
    const inspect = await runWeft(['log', 'inspect', path.join(dir, 'data', 'log')]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout, /problems: none/, 'the failed writes left nothing behind');
  });

  it('asks for the bearer token from debug.tokenFile on every route but the probes', async () => {
    const dir = scratch(dirs);
    const token = 'c0ffee'.repeat(8);
    const tokenFile = path.join(dir, 'debug-token');
    fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'manifests', 'web.yaml'), svc('web'));
    const config = writeConfig(
      dir,
      `debug: { host: 127.0.0.1, port: 0, tokenFile: debug-token }
plugins:
  - name: '@weft/plugin-files'
    config: { dir: manifests, debounceMs: 20 }
`,
    );
    const weft = new WeftProcess(['--config', config]);
    procs.push(weft);
    const debug = String((await weft.waitFor(isReady)).debug);
    assert.ok(!weft.lines.some((l) => l.level === 'warn' && /debug server/.test(l.msg)), 'no exposure warning on loopback');

    for (const p of ['/debug/log', '/debug/proxies', '/debug/xds', '/nope']) {
      const missing = await get(debug, p);
      assert.equal(missing.status, 401, p);
      assert.match(String(missing.headers['www-authenticate']), /^Bearer realm="weft-debug"/);
      assert.doesNotMatch(missing.text, /shop\/web|routes/, 'nothing of the state and no route list without the token');
    }
    const wrong = await get(debug, '/debug/log', { authorization: `Bearer ${token.slice(1)}x` });
    assert.equal(wrong.status, 401);
    assert.match(String(wrong.headers['www-authenticate']), /error="invalid_token"/);
    const right = await get(debug, '/debug/log', { authorization: `Bearer ${token}` });
    assert.equal(right.status, 200);
    assert.match(right.text, /shop\/web/);
    for (const p of ['/healthz', '/readyz']) assert.equal((await get(debug, p)).status, 200, `${p} answers probes without a token`);

    weft.signal('SIGTERM');
    assert.deepEqual(await weft.exited, { code: 0, signal: null });

    // A token file others can read is refused before anything listens.
    fs.chmodSync(tokenFile, 0o644);
    const refused = await runWeft(['start', '--config', config]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /debug\.tokenFile: .*debug-token is readable by every user.*chmod 600/);
  });
});
