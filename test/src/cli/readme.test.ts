import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfigFile, normalizeConfig, parseConfigText } from '@weft/core/testing';
import { REPO, runWeft, scratchWithExample, WeftProcess } from './helpers.js';

/**
 * The README is checked against the code it describes: what `weft start` prints and in which order, the
 * defaults it states, the commands it lists, the settings and file names it tells people to use, and the
 * files it cites. The repository's own packaging facts (licence, install scripts) are checked here too.
 */

const README = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');

/** The text under a heading (the heading line itself included), up to the next heading of the same or a higher level. */
function section(heading: string): string {
  const lines = README.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  assert.ok(start >= 0, `README has the heading ${JSON.stringify(heading)}`);
  const level = /^#+/.exec(heading)![0].length;
  let end = lines.length;
  let fenced = false;
  for (let i = start + 1; i < lines.length; i++) {
    if (lines[i]!.startsWith('```')) fenced = !fenced;
    const m = /^(#+) /.exec(lines[i]!);
    if (!fenced && m !== null && m[1]!.length <= level) {
      end = i;
      break;
    }
  }
  return lines.slice(start, end).join('\n');
}

function codeSpans(text: string): string[] {
  return [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
}

function codeBlocks(text: string): string[] {
  return [...text.matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('README: weft start', () => {
  const procs: WeftProcess[] = [];
  after(() => {
    for (const p of procs) p.kill();
  });

  it('lists every line weft start prints before ready, in the order printed', async () => {
    const start = section('### weft start');
    const list = /Start-up order, and what is logged:\n\n([\s\S]*?)\n\n(?!\s)/.exec(start);
    assert.ok(list !== null, 'the start-up list is there');
    const items = list[1]!.split(/\n(?=\d+\. )/).map((item) => codeSpans(item));
    assert.ok(items.length >= 5);

    const dir = scratchWithExample();
    dirs.push(dir);
    // A first start on the default config, as the quick start runs it (free ports, a scratch data dir).
    const weft = new WeftProcess([
      '--data-dir', path.join(dir, 'data'), '--manifests', path.join(dir, 'manifests'),
      '--xds-port', '0', '--debug-port', '0', '--metrics-port', '0',
    ]);
    procs.push(weft);
    await weft.waitFor((l) => l.msg === 'ready');
    weft.signal('SIGTERM');
    assert.deepEqual(await weft.exited, { code: 0, signal: null });
    // What every start prints; warnings depend on the machine (e.g. its open-files limit) and are not listed.
    const printed = weft.lines.filter((l) => l.level === 'info').map((l) => l.msg);
    const beforeReady = printed.slice(0, printed.indexOf('ready') + 1);

    const named = new Set(items.flat());
    const missing = [...new Set(beforeReady)].filter((m) => !named.has(m));
    assert.deepEqual(missing, [], `printed at start-up but not in the README's list (printed: ${beforeReady.join(' | ')})`);

    // Each numbered item's lines all come before the next item's.
    const position = (msg: string): number => beforeReady.indexOf(msg);
    const groups = items.map((spans) => spans.filter((s) => position(s) >= 0).map(position));
    for (let i = 0; i < groups.length; i++) {
      assert.ok(groups[i]!.length > 0, `item ${i + 1} names a line that is printed: ${items[i]!.join(', ')}`);
      if (i > 0) {
        assert.ok(
          Math.max(...groups[i - 1]!) < Math.min(...groups[i]!),
          `item ${i} (${items[i - 1]!.join(', ')}) is printed before item ${i + 1} (${items[i]!.join(', ')}); printed: ${beforeReady.join(' | ')}`,
        );
      }
    }
    assert.equal(beforeReady.at(-1), 'ready');
  });

  it('states the defaults the code has: built in, and those of deploy/weft.yaml', () => {
    const builtIn = normalizeConfig({}, { file: null, label: '<defaults>', configDir: REPO }, {}, REPO);
    const deploy = loadConfigFile(path.join(REPO, 'deploy', 'weft.yaml'), {}, REPO);
    const addr = (l: { host: string; port: number }): string => `${l.host}:${l.port}`;

    const quick = section('## Quick start');
    const q = /ADS\s+with mTLS on `([^`]+)`,\s+debug on `([^`]+)`,\s+metrics on `([^`]+)`/.exec(quick);
    assert.ok(q !== null, 'the quick start names the three addresses');
    assert.deepEqual(q.slice(1), [addr(deploy.xds), addr(deploy.debug), addr(deploy.metrics)]);

    const start = section('### weft start');
    const d = /[Bb]uilt-in defaults[^:]*:\s+ADS\s+on `([^`]+)`,\s+debug\s+on `([^`]+)`,\s+metrics\s+on `([^`]+)`/.exec(start);
    assert.ok(d !== null, 'weft start names the built-in default addresses');
    assert.deepEqual(d.slice(1), [addr(builtIn.xds), addr(builtIn.debug), addr(builtIn.metrics)]);

    // Wherever else the README says "<address> by default", it is the built-in default of that server.
    for (const m of README.matchAll(/`?(\d+\.\d+\.\d+\.\d+:(\d+))`?\s+by\s+default/g)) {
      const port = Number(m[2]);
      const server = [builtIn.xds, builtIn.debug, builtIn.metrics].find((s) => s.port === port);
      assert.ok(server !== undefined, `${m[0]}: a port of Weft's`);
      assert.equal(m[1], addr(server), `"${m[0]}"`);
    }
  });

  it('turns insecure mode on with the setting it names', () => {
    const xds = section('## xDS: pointing proxies at Weft');
    const paragraph = /\*\*Insecure mode\*\*[^\n]*(\n[^\n]+)*/.exec(xds);
    assert.ok(paragraph !== null);
    const settings = codeSpans(paragraph[0]).filter((s) => /^[a-z][\w.]*:\s/.test(s));
    assert.ok(settings.length > 0, `the paragraph names a weft.yaml setting: ${paragraph[0]}`);
    for (const s of settings) {
      // `xds.insecure: true` is shorthand for the nested mapping.
      const [dotted, value] = [s.slice(0, s.indexOf(':')), s.slice(s.indexOf(':') + 1)];
      const yaml = dotted.split('.').reduceRight((inner, key) => `{ ${key}: ${inner} }`, value.trim());
      const config = normalizeConfig(parseConfigText(yaml, 'README'), { file: null, label: 'README', configDir: REPO }, {}, REPO);
      assert.equal(config.xds.insecure, true, `${s} turns insecure mode on`);
    }
  });
});

describe('README: commands', () => {
  it('the synopsis lists every command of weft --help, and --version', async () => {
    const help = await runWeft(['--help']);
    const commands = /Commands:\n([\s\S]*?)\n\n/.exec(help.stdout)![1]!
      .split('\n')
      .map((l) => /^ {2}(log [a-z]+|[a-z]+)/.exec(l)?.[1])
      .filter((c): c is string => c !== undefined);
    assert.ok(commands.includes('replay') && commands.includes('log tail'), commands.join(', '));
    const synopsis = codeBlocks(section('## Commands'))[0]!;
    for (const c of commands) assert.match(synopsis, new RegExp(`^weft ${c}\\b`, 'm'), `the synopsis lists weft ${c}`);
    assert.match(synopsis, /^weft --version/m);
  });

  it('names the certificate files weft bootstrap --write-certs writes, where the bootstrap looks for them', async () => {
    const help = await runWeft(['bootstrap', '--help']);
    const tlsDir = /--tls-dir <dir>[^(]*\(default (\/[^\s,)]+)/.exec(help.stdout)![1]!;
    const written = ['tls.crt', 'tls.key', 'ca.crt'];
    for (const name of written) assert.ok(help.stdout.includes(name));
    const xds = section('## xDS: pointing proxies at Weft');
    // Every file under /etc/weft the examples name (the directory itself may be named too).
    const paths = [...xds.matchAll(/\/etc\/weft\/[\w./-]+/g)].map((m) => m[0]).filter((p) => p !== tlsDir);
    assert.ok(paths.length >= 6, 'the Envoy and gRPC examples name their certificate files');
    for (const p of paths) {
      assert.equal(path.posix.dirname(p), tlsDir, p);
      assert.ok(written.includes(path.posix.basename(p)), `${p} is a file weft bootstrap --write-certs writes`);
    }
  });
});

describe('README: a repository that stands on its own', () => {
  const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: REPO, encoding: 'utf8' }).split('\0').filter((f) => f !== '');

  it('cites no design document the repository does not have', () => {
    const cited = ['DESIGN', '.md'].join('');
    const offenders = tracked.filter((f) => /\.(ts|js|mjs|md|ya?ml|json|sh)$/.test(f) && fs.existsSync(path.join(REPO, f)))
      .filter((f) => {
        const text = fs.readFileSync(path.join(REPO, f), 'utf8');
        return text.includes(cited) || text.includes(['DESIGN', 'invariant'].join(' '));
      });
    assert.deepEqual(offenders, []);
  });

  it('every repository file the README cites exists', () => {
    const cites = [
      ...[...README.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/.test(t)),
      ...codeSpans(README).filter((s) => /^(core|plugins|deploy|test|bench|protos)\/[\w./-]+$/.test(s)),
    ];
    assert.ok(cites.length > 10);
    const missing = [...new Set(cites)].filter((c) => !fs.existsSync(path.join(REPO, c)));
    assert.deepEqual(missing, []);
  });

  it('has a LICENSE that is the licence package.json declares', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { license: string };
    assert.equal(pkg.license, 'Apache-2.0');
    const text = fs.readFileSync(path.join(REPO, 'LICENSE'), 'utf8');
    assert.match(text, /^\s*Apache License\s+Version 2\.0, January 2004\s+http:\/\/www\.apache\.org\/licenses\/\s/);
    assert.match(text, /END OF TERMS AND CONDITIONS/);
    assert.ok(tracked.includes('LICENSE'), 'LICENSE is committed');
  });

  it('approves, in package.json, every dependency install script in the lockfile (npm ci prints no warning)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    const lock = JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; hasInstallScript?: boolean; link?: boolean }>;
    };
    const withScripts = Object.entries(lock.packages)
      .filter(([p, e]) => p.includes('node_modules/') && e.hasInstallScript === true)
      .map(([p, e]) => ({ name: p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length), version: e.version }));
    assert.ok(withScripts.length > 0, 'protobufjs has a postinstall script');
    const allowed = pkg.allowScripts ?? {};
    for (const { name, version } of withScripts) {
      const decided = allowed[name] ?? allowed[`${name}@${version}`];
      assert.equal(typeof decided, 'boolean', `${name}@${version}: approved or denied in package.json allowScripts`);
    }
  });

  it('the quick start runs on a git-ignored copy of the example, and the default config writes only to ignored paths', () => {
    const quick = section('## Quick start');
    const block = codeBlocks(quick).join('\n');
    const copy = /cp -r deploy\/examples\/bookstore (\S+)/.exec(block);
    assert.ok(copy !== null, 'the quick start copies the example mesh to a working folder');
    assert.match(block, new RegExp(`npx weft start --manifests ${copy[1]!.replace(/\/$/, '')}\\b`));
    assert.doesNotMatch(quick, /[Ee]dit [^.]*(example folder|deploy\/examples)/, 'no edits to tracked examples');
    const ignored = (p: string): boolean => spawnSync('git', ['check-ignore', '-q', '--no-index', p], { cwd: REPO }).status === 0;
    // With a trailing slash: git's directory-only patterns (`.weft-data/`) match a path that does not exist yet.
    assert.ok(ignored(`${copy[1]!.replace(/\/$/, '')}/`), `${copy[1]} is git-ignored`);
    const deploy = loadConfigFile(path.join(REPO, 'deploy', 'weft.yaml'), {}, REPO);
    assert.ok(ignored(`${path.relative(REPO, deploy.dataDir)}/`), `${deploy.dataDir} is git-ignored`);
    assert.ok(deploy.log.startsWith(`file:${deploy.dataDir}${path.sep}`), deploy.log);
  });
});
