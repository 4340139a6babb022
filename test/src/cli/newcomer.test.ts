import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { REPO, runWeft, scratchWithExample, WeftProcess, type LogLine } from './helpers.js';

/**
 * What a newcomer meets first, as processes: `weft --version`, Ctrl-C on `npx weft start`, a port that is
 * taken, the log line of an applied change, and `weft bootstrap --write-certs` on its own.
 */

const CORE_VERSION = (JSON.parse(fs.readFileSync(path.join(REPO, 'core', 'package.json'), 'utf8')) as { version: string }).version;

/** `weft start` on the default config (deploy/weft.yaml) with a scratch data dir and mesh, and free ports. */
function startArgs(dir: string): string[] {
  return ['--data-dir', path.join(dir, 'data'), '--manifests', path.join(dir, 'manifests'), '--xds-port', '0', '--debug-port', '0', '--metrics-port', '0'];
}

function occupyPort(): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const dir = scratchWithExample();
  dirs.push(dir);
  return dir;
}

describe('weft --version', () => {
  it('prints the version of @weft/core for --version and -v, exit 0', async () => {
    for (const arg of ['--version', '-v']) {
      const r = await runWeft([arg]);
      assert.equal(r.code, 0, `${arg}: ${r.stderr}`);
      assert.equal(r.stdout, `weft ${CORE_VERSION}\n`, arg);
      assert.equal(r.stderr, '');
    }
    const help = await runWeft(['--help']);
    assert.match(help.stdout, /--version/, 'the help mentions --version');
  });
});

function withoutNpmVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
}

describe('npx weft start and Ctrl-C', () => {
  it('exits 0 after a clean stop when the terminal sends SIGINT to the whole process group', async () => {
    const dir = scratch();
    // npx as a user runs it, from the repository (its .npmrc applies), in a process group of its own, so
    // that the SIGINT goes to npm, any shell npm puts in between, and Weft, as a terminal's Ctrl-C does.
    const npmCli = process.env.npm_execpath;
    const npx = npmCli !== undefined && /npm-cli\.js$/.test(npmCli) ? path.join(path.dirname(npmCli), 'npx-cli.js') : undefined;
    const [file, args] = npx !== undefined && fs.existsSync(npx) ? [process.execPath, [npx]] : ['npx', []];
    const child = spawn(file, [...args, 'weft', 'start', ...startArgs(dir)], {
      cwd: REPO,
      detached: true,
      // A terminal has none of the npm_* variables an `npm test` run exports (npm_config_script_shell,
      // npm_command, ...); npx must read the repository's .npmrc as a user's npx does.
      env: { ...withoutNpmVariables(process.env), WEFT_CONFIG: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const deadline = Date.now() + 30_000;
    try {
      while (!stderr.includes('"msg":"ready"')) {
        if (Date.now() > deadline || child.exitCode !== null) assert.fail(`weft did not get ready:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      process.kill(-child.pid!, 'SIGINT');
      const exit = await exited;
      assert.deepEqual(exit, { code: 0, signal: null }, stderr);
      assert.match(stderr, /"msg":"stopped"/, 'Weft stopped cleanly before npx returned');
      assert.doesNotMatch(stderr, /received while stopping/, 'one Ctrl-C is one signal, not a second one during shutdown');
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
  });
});

describe('weft start on a port that is taken', () => {
  const cases = [
    { server: 'xds', flag: '--xds-port', env: 'WEFT_XDS_PORT', extra: [] as string[] },
    { server: 'xds', flag: '--xds-port', env: 'WEFT_XDS_PORT', extra: ['--insecure'] },
    { server: 'debug', flag: '--debug-port', env: 'WEFT_DEBUG_PORT', extra: [] },
    { server: 'metrics', flag: '--metrics-port', env: 'WEFT_METRICS_PORT', extra: [] },
  ];
  for (const c of cases) {
    it(`names ${c.flag} and ${c.env} when the ${c.server} port is in use${c.extra.length > 0 ? ' (insecure)' : ''}, exit 1`, async () => {
      const dir = scratch();
      const taken = await occupyPort();
      try {
        const args = startArgs(dir);
        args[args.indexOf(c.flag) + 1] = String(taken.port);
        const r = await runWeft(['start', ...args, ...c.extra]);
        assert.equal(r.code, 1, r.stderr);
        const message = r.stderr.split('\n').filter((l) => l.startsWith('weft start:')).join('\n');
        assert.match(message, new RegExp(`127\\.0\\.0\\.1:${taken.port}`), message);
        assert.match(message, /in use/);
        assert.ok(message.includes(c.flag) && message.includes(c.env), `the message names ${c.flag} and ${c.env}: ${message}`);
        for (const other of cases.filter((o) => o.server !== c.server)) {
          assert.ok(!message.includes(other.flag), `only the server that failed is named: ${message}`);
        }
        assert.doesNotMatch(r.stderr, /"msg":"ready"/);
      } finally {
        await taken.close();
      }
    });
  }
});

describe('the log line of an applied change', () => {
  const procs: WeftProcess[] = [];
  after(() => {
    for (const p of procs) p.kill();
  });

  it('names the resources changed, a few of them and then a count', async () => {
    const dir = scratch();
    const weft = new WeftProcess(startArgs(dir));
    procs.push(weft);
    await weft.waitFor((l) => l.msg === 'ready');
    const applied = (l: LogLine): boolean => l.msg === 'change applied';

    // The example mesh, appended at start as one batch: a few names, and how many more.
    const first = weft.lines.find(applied);
    assert.ok(first !== undefined, `the first append is logged as applied:\n${weft.stderrText}`);
    const names = first.resources as string[];
    assert.ok(Array.isArray(names) && names.length === 5, JSON.stringify(first));
    for (const n of names) assert.match(n, /^(upsert|delete) [A-Za-z]+ [a-z0-9-]+(\/[a-z0-9.-]+)?$/);
    assert.equal(first.events, 41);
    assert.equal(first.more, 36);

    // One edit: the resource by name, nothing more.
    fs.appendFileSync(path.join(dir, 'manifests', 'bookbuyer.yaml'), '---\napiVersion: v1\nkind: ServiceAccount\nmetadata: { name: extra, namespace: bookbuyer }\n');
    const edit = await weft.waitFor((l) => applied(l) && l !== first);
    assert.deepEqual(edit.resources, ['upsert ServiceAccount bookbuyer/extra']);
    assert.equal(edit.events, 1);
    assert.equal(edit.more, undefined);
    assert.equal(typeof edit.offset, 'number');

    weft.signal('SIGINT');
    assert.deepEqual(await weft.exited, { code: 0, signal: null });
  });
});

describe('weft bootstrap --write-certs', () => {
  it('points the bootstrap at the directory it writes the certificates to, unless --tls-dir is given', async () => {
    const dir = scratch();
    const weft = new WeftProcess(startArgs(dir));
    try {
      await weft.waitFor((l) => l.msg === 'ready');
    } finally {
      weft.signal('SIGTERM');
    }
    assert.deepEqual(await weft.exited, { code: 0, signal: null });

    const common = ['bootstrap', '--data-dir', path.join(dir, 'data'), '--pod', 'bookbuyer/bookbuyer-0'];
    const certs = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-certs-'));
    dirs.push(certs);
    const [implied, explicit] = await Promise.all([
      // A relative directory, as a user types it: the bootstrap names the absolute path.
      runWeft([...common, '--write-certs', path.relative(REPO, path.join(certs, 'a'))]),
      runWeft([...common, '--write-certs', path.join(certs, 'b'), '--tls-dir', '/var/run/weft']),
    ]);
    assert.equal(implied.code, 0, implied.stderr);
    const text = implied.stdout;
    for (const file of ['tls.crt', 'tls.key', 'ca.crt']) {
      const full = path.join(certs, 'a', file);
      assert.ok(text.includes(JSON.stringify(full)), `the bootstrap names ${full}:\n${text}`);
      assert.ok(fs.existsSync(full), `${full} was written`);
      assert.ok(implied.stderr.includes(`wrote ${full}`));
    }
    assert.doesNotMatch(text, /\/etc\/weft\/certs/);

    assert.equal(explicit.code, 0, explicit.stderr);
    assert.match(explicit.stdout, /"\/var\/run\/weft\/tls\.crt"/, '--tls-dir still wins');
    assert.ok(fs.existsSync(path.join(certs, 'b', 'tls.crt')));
  });
});
