import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The plugin boundary: the core never imports a plugin (the built-in ones are loaded by package name from
 * the config, like any other), and a plugin uses only the core's public API (`@weft/core`), never a path
 * inside it, so a third-party plugin can do everything a built-in one does and the core's internals can
 * change without breaking one. A plugin's tests may also use `@weft/core/testing` (the runtime, catalog,
 * engine and servers in-process); what the plugin ships may not.
 */
const repo = path.resolve(__dirname, '../../..');

const PUBLIC_ENTRY = '@weft/core';
const TESTING_ENTRY = '@weft/core/testing';

function sources(dir: string, ext: RegExp = /\.ts$/): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(full, ext));
    else if (ext.test(entry.name)) out.push(full);
  }
  return out;
}

function imports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from\s+|import\(\s*|require\(\s*)'([^']+)'/g)].map((m) => m[1] as string);
}

/**
 * What a plugin ships: its entry (src/index.ts) and every file reached from there, by an import or by a
 * `.js` file name in a string (a worker thread or child process started by path). The rest (tests, test
 * harnesses, benchmarks) is test support.
 */
function shippedFiles(src: string): Set<string> {
  const reached = new Set<string>();
  const pending = [path.join(src, 'index.ts')];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (reached.has(file) || !fs.existsSync(file)) continue;
    reached.add(file);
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/'((?:\.\.?\/)?[\w./-]+)\.js'/g)) {
      const target = path.resolve(path.dirname(file), `${m[1]}.ts`);
      if (target.startsWith(src + path.sep)) pending.push(target);
    }
  }
  return reached;
}

/**
 * Shared libraries under plugins/ that are not plugins (they register nothing): a plugin may use them
 * beside @weft/core, and they themselves import only @weft/core. Plugins never import each other.
 */
const LIBRARIES: Readonly<Record<string, string>> = { 'kube-client': '@weft/kube-client' };

/** Every import of a plugin under `pluginsDir` that crosses the boundary, as "<file>: <specifier>". */
function boundaryOffenders(pluginsDir: string, libraries: Readonly<Record<string, string>>): { offenders: string[]; checked: number } {
  const core = path.join(repo, 'core');
  const offenders: string[] = [];
  let checked = 0;
  for (const plugin of fs.readdirSync(pluginsDir)) {
    const src = path.join(pluginsDir, plugin, 'src');
    if (!fs.existsSync(src)) continue;
    const isLibrary = plugin in libraries;
    const shipped = shippedFiles(src);
    for (const file of sources(src)) {
      checked++;
      for (const spec of imports(file)) {
        const library = Object.values(libraries).some((l) => spec === l || spec.startsWith(`${l}/`));
        // The public entry always; the testing entry only from test support; any other path into the core
        // (`@weft/core/dist/...`, a relative path) never.
        const coreEntry = spec === PUBLIC_ENTRY || (spec === TESTING_ENTRY && !shipped.has(file));
        const weftPackage = spec.startsWith('@weft/') && !coreEntry && (isLibrary || !library);
        const intoCore = spec.startsWith('.') && path.resolve(path.dirname(file), spec).startsWith(core + path.sep);
        if (weftPackage || intoCore) offenders.push(`${path.relative(pluginsDir, file)}: ${spec}`);
      }
    }
  }
  return { offenders, checked };
}

test('the core imports no plugin', () => {
  const offenders: string[] = [];
  for (const file of sources(path.join(repo, 'core/src'))) {
    for (const spec of imports(file)) {
      if (spec.startsWith('@weft/plugin-') || spec.includes('/plugins/')) offenders.push(`${path.relative(repo, file)}: ${spec}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('plugins import Weft only through @weft/core (their tests also @weft/core/testing) and the shared libraries', () => {
  const { offenders, checked } = boundaryOffenders(path.join(repo, 'plugins'), LIBRARIES);
  assert.ok(checked > 20, `expected the plugin sources to be found (checked ${checked} files)`);
  assert.deepEqual(offenders, []);
});

test('the plugins used as fixtures, written as a third party would, require @weft/core only', () => {
  const files = [
    ...sources(path.join(repo, 'test/fixtures/plugins'), /\.(c|m)?js$/),
    ...sources(path.join(repo, 'test/fixtures/third-party-plugin'), /\.(c|m)?js$/),
  ];
  assert.ok(files.length > 3, `expected the fixture plugins to be found (found ${files.length})`);
  const offenders = files.flatMap((f) => imports(f).filter((s) => s.startsWith('@weft/') && s !== PUBLIC_ENTRY).map((s) => `${path.relative(repo, f)}: ${s}`));
  assert.deepEqual(offenders, []);
});

test('a plugin reaching past the public API is caught: a core module, the testing entry in shipped code, a relative path', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-boundary-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'bad', 'src');
  fs.mkdirSync(src, { recursive: true });
  const coreEngine = path.relative(src, path.join(repo, 'core/src/derive/engine.js'));
  const write = (name: string, text: string): void => fs.writeFileSync(path.join(src, name), text);
  write('index.ts', "import { Tokens } from '@weft/core';\nimport { XdsServer } from '@weft/core/dist/xds/server.js';\nexport * from './adapter.js';\n");
  write('adapter.ts', `import { startWeft } from '@weft/core/testing';\nimport { Engine } from '${coreEngine}';\nconst w = new Worker(path.join(__dirname, 'worker.js'));\n`);
  write('worker.ts', "import { Catalog } from '@weft/core/testing';\n");
  write('adapter.test.ts', "import { startWeft } from '@weft/core/testing';\nimport { Catalog } from '@weft/core/dist/catalog/catalog.js';\n");
  write('harness.ts', "import * as testing from '@weft/core/testing';\n");
  const { offenders } = boundaryOffenders(dir, {});
  assert.deepEqual(offenders.sort(), [
    `bad/src/adapter.test.ts: @weft/core/dist/catalog/catalog.js`,
    `bad/src/adapter.ts: ${coreEngine}`,
    'bad/src/adapter.ts: @weft/core/testing',
    'bad/src/index.ts: @weft/core/dist/xds/server.js',
    'bad/src/worker.ts: @weft/core/testing',
  ].sort());
});

test("@weft/core's package exports only its two entries: a module inside it cannot be required", () => {
  assert.equal(require.resolve(PUBLIC_ENTRY), path.join(repo, 'core/dist/index.js'));
  assert.equal(require.resolve(TESTING_ENTRY), path.join(repo, 'core/dist/testing/index.js'));
  for (const internal of ['@weft/core/dist/xds/server.js', '@weft/core/dist/derive/engine.js', '@weft/core/dist/index.js']) {
    assert.throws(() => require.resolve(internal), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' }, internal);
  }
});

test('each name has one home: nothing the testing entry exports is also in the public API', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const publicApi = new Set(Object.keys(require(PUBLIC_ENTRY) as object));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const testing = Object.keys(require(TESTING_ENTRY) as object);
  assert.ok(testing.includes('startWeft') && publicApi.has('PLUGIN_API_VERSION'), 'expected both entries to load');
  assert.deepEqual(testing.filter((name) => publicApi.has(name)), []);
  for (const internal of ['startWeft', 'XdsServer', 'Engine', 'Catalog', 'CertificateManager', 'MemoryEventLog', 'testing']) {
    assert.ok(!publicApi.has(internal), `${internal} is not part of the plugin API`);
  }
});
