import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { captureLogger, PluginLoadError, Tokens, type ProxyAdapter } from '@weft/core';
import { createPluginContainer, loadPlugins, normalizeConfig, type PluginEntry } from '@weft/core/testing';

const FIXTURES = path.resolve(__dirname, '../../fixtures/plugins');

interface Registration {
  readonly config: unknown;
  readonly configDir: string;
}
const registrations = (): Registration[] =>
  ((globalThis as Record<string, unknown>).__weftFixtureRegistrations ??= []) as Registration[];

function entries(plugins: unknown[], configDir = FIXTURES): PluginEntry[] {
  return [...normalizeConfig({ plugins }, { file: null, label: 'weft.yaml', configDir }).plugins];
}

async function load(plugins: unknown[], configDir = FIXTURES) {
  const container = createPluginContainer();
  const loaded = await loadPlugins(entries(plugins, configDir), container, {
    label: 'weft.yaml',
    configDir,
    context: { logger: captureLogger(), dataDir: '/nonexistent', configDir, trustDomain: 'cluster.local' },
  });
  return { container, loaded };
}

async function loadError(plugins: unknown[]): Promise<PluginLoadError> {
  const before = registrations().length;
  try {
    await load(plugins);
  } catch (err) {
    assert.ok(err instanceof PluginLoadError, `expected PluginLoadError, got ${String(err)}`);
    // Nothing registered: a healthy plugin listed before the broken one must not have run either.
    assert.equal(registrations().length, before, 'no register() may run when any plugin fails to load');
    return err;
  }
  assert.fail('loading should have failed');
}

describe('plugin loader', () => {
  it('loads CommonJS files, ES modules and package directories by path, in order', async () => {
    const before = registrations().length;
    const { container, loaded } = await load([
      { path: './recording.js', config: { hello: 'world' } },
      { path: './esm-plugin.mjs', config: { x: 1 } },
      { path: './sample-proxy', config: { connectTimeoutMs: 250 } },
    ]);
    assert.deepEqual(
      loaded.map((p) => [p.index, p.name, p.spec]),
      [
        [0, 'recording', './recording.js'],
        [1, 'esm-plugin', './esm-plugin.mjs'],
        [2, 'sample-proxy', './sample-proxy'],
      ],
    );
    assert.deepEqual(registrations().slice(before), [{ config: { hello: 'world' }, configDir: FIXTURES }]);
    assert.deepEqual(container.resolve('fixture.esm'), { x: 1 });
    const adapters = container.resolveAll<ProxyAdapter>(Tokens.ProxyAdapter);
    assert.deepEqual(
      adapters.map((a) => a.kind),
      ['sample'],
    );
    // validateConfig's normalized value is what register() got.
    assert.deepEqual(loaded[2]!.config, { connectTimeoutMs: 250 });
  });

  it('resolves package names from the config directory', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-loader-'));
    try {
      fs.mkdirSync(path.join(dir, 'node_modules'));
      fs.symlinkSync(path.join(FIXTURES, 'sample-proxy'), path.join(dir, 'node_modules', 'weft-sample-proxy'));
      const { loaded } = await load(['weft-sample-proxy'], dir);
      assert.equal(loaded[0]!.name, 'sample-proxy');
      assert.equal(loaded[0]!.spec, 'weft-sample-proxy');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a plugin speaking another apiVersion, naming it and its place in the config', async () => {
    const err = await loadError([{ path: './recording.js' }, { path: './wrong-api-version.js' }]);
    assert.equal(
      err.message,
      'weft.yaml: plugins[1] (./wrong-api-version.js): apiVersion "weft.dev/v0" is not supported; ' +
        'this Weft speaks weft.dev/v1alpha1',
    );
    assert.equal(err.code, 'PLUGIN_LOAD_FAILED');
  });

  it('refuses a module without a plugin export', async () => {
    const err = await loadError([{ path: './recording.js' }, { path: './no-export.js' }]);
    assert.equal(
      err.message,
      'weft.yaml: plugins[1] (./no-export.js): the module has no plugin export; ' +
        'export the plugin as the default export or as `plugin`',
    );
  });

  it('reports a plugin whose register() throws', async () => {
    const err = await loadError([{ path: './throws-in-register.js' }]);
    assert.equal(
      err.message,
      'weft.yaml: plugins[0] (./throws-in-register.js): register() of plugin "thrower" failed: ' +
        'cannot reach the licence server',
    );
  });

  it('names the config path of a bad config section', async () => {
    const err = await loadError([
      { path: './recording.js' },
      { path: './strict-config.js', config: { upstream: { port: 'eighty' } } },
    ]);
    assert.equal(
      err.message,
      'weft.yaml: plugins[1].config.upstream.port: must be a positive integer (got "eighty") (plugin strict-config)',
    );
  });

  it('names a path that does not exist and a package that is not installed', async () => {
    const missing = await loadError([{ path: './nope.js' }]);
    assert.match(missing.message, /^weft\.yaml: plugins\[0\] \(\.\/nope\.js\): no file or directory at .*nope\.js/);
    const pkg = await loadError(['weft-plugin-that-does-not-exist']);
    assert.match(
      pkg.message,
      /^weft\.yaml: plugins\[0\] \(weft-plugin-that-does-not-exist\): package not found from .*npm install weft-plugin-that-does-not-exist/,
    );
  });

  it('refuses the same plugin listed twice', async () => {
    const err = await loadError([{ path: './recording.js' }, { path: './recording.js', config: { again: true } }]);
    assert.equal(
      err.message,
      'weft.yaml: plugins[1] (./recording.js): plugin "recording" is already loaded by plugins[0] (./recording.js); ' +
        'list each plugin once',
    );
  });
});
