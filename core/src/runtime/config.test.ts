import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../errors.js';
import { envOverrides, loadConfigFile, normalizeConfig, parseConfigText } from './config.js';

const where = (configDir: string) => ({ file: path.join(configDir, 'weft.yaml'), label: 'weft.yaml', configDir });

describe('weft.yaml', () => {
  it('fills every default, resolving paths against the config directory', () => {
    const c = normalizeConfig({}, where('/etc/weft'), {}, '/home/me');
    assert.equal(c.dataDir, '/etc/weft/.weft-data');
    assert.equal(c.log, 'file:/etc/weft/.weft-data/log');
    assert.equal(c.trustDomain, 'cluster.local');
    assert.equal(c.meshName, 'osm');
    assert.deepEqual(c.xds, {
      host: '0.0.0.0',
      port: 15128,
      insecure: false,
      maxProxies: 20000,
      coalesceMs: 5,
      maxConcurrentPushes: 256,
      idleConnectionTimeoutMs: 10000,
      bufferPoolBytes: 1024,
    });
    assert.deepEqual(c.debug, { enabled: true, host: '127.0.0.1', port: 9092, tokenFile: null });
    assert.deepEqual(c.readiness, { maxLagEvents: 1000 });
    assert.deepEqual(c.metrics, { enabled: true, host: '0.0.0.0', port: 9091 });
    assert.deepEqual(c.plugins, []);
  });

  it('reads xds.maxConnections and xds.idleConnectionTimeoutMs, naming a bad value', () => {
    const c = normalizeConfig({ xds: { maxConnections: 500, idleConnectionTimeoutMs: 2000 } }, where('/etc/weft'));
    assert.equal(c.xds.maxConnections, 500);
    assert.equal(c.xds.idleConnectionTimeoutMs, 2000);
    assert.throws(
      () => normalizeConfig({ xds: { maxConnections: 0, idleConnectionTimeoutMs: 5 } }, where('/c')),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /xds\.maxConnections: must be an integer from 1 to 1000000 \(got 0\)/);
        assert.match(err.message, /xds\.idleConnectionTimeoutMs: must be an integer from 100 to 600000 \(got 5\)/);
        return true;
      },
    );
  });

  it('reads xds.bufferPoolBytes, naming a bad value', () => {
    assert.equal(normalizeConfig({ xds: { bufferPoolBytes: 0 } }, where('/etc/weft')).xds.bufferPoolBytes, 0);
    assert.equal(normalizeConfig({ xds: { bufferPoolBytes: 8192 } }, where('/etc/weft')).xds.bufferPoolBytes, 8192);
    assert.throws(
      () => normalizeConfig({ xds: { bufferPoolBytes: -1 } }, where('/c')),
      (err: unknown) => err instanceof ConfigError && /xds\.bufferPoolBytes: must be an integer from 0 to 1048576 \(got -1\)/.test(err.message),
    );
  });

  it('reads plugins as names, paths and shorthand strings', () => {
    const c = normalizeConfig(
      { plugins: ['@weft/plugin-envoy', './local.js', { path: '../p', config: { a: 1 } }, { name: 'x' }] },
      where('/etc/weft'),
    );
    assert.deepEqual(c.plugins, [
      { index: 0, name: '@weft/plugin-envoy', config: {} },
      { index: 1, path: './local.js', config: {} },
      { index: 2, path: '../p', config: { a: 1 } },
      { index: 3, name: 'x', config: {} },
    ]);
  });

  it('lets flags and environment win, with flag paths relative to the working directory', () => {
    const raw = {
      dataDir: 'd',
      xds: { port: 1 },
      plugins: [{ name: '@weft/plugin-files', config: { dir: 'm', debounceMs: 5 } }, { name: 'other' }],
    };
    const c = normalizeConfig(
      raw,
      where('/etc/weft'),
      { dataDir: 'data', manifests: 'mesh', xdsPort: '0', debugPort: 7, insecure: true, logLevel: 'debug' },
      '/home/me',
    );
    assert.equal(c.dataDir, '/home/me/data');
    assert.equal(c.log, 'file:/home/me/data/log');
    assert.equal(c.xds.port, 0);
    assert.equal(c.xds.insecure, true);
    assert.equal(c.debug.port, 7);
    assert.equal(c.logLevel, 'debug');
    assert.deepEqual(c.plugins[0], { index: 0, name: '@weft/plugin-files', config: { dir: '/home/me/mesh', debounceMs: 5 } });

    // --manifests without a files plugin in the config adds one.
    const added = normalizeConfig({}, where('/etc/weft'), { manifests: 'mesh' }, '/home/me');
    assert.deepEqual(added.plugins, [{ index: 0, name: '@weft/plugin-files', config: { dir: '/home/me/mesh' } }]);

    assert.deepEqual(envOverrides({ WEFT_DATA_DIR: '/x', WEFT_XDS_PORT: '15000', UNRELATED: 'y' }), {
      dataDir: '/x',
      xdsPort: '15000',
    });
  });

  it('keeps memory: and plugin schemes as written and resolves relative file: logs', () => {
    assert.equal(normalizeConfig({ log: 'memory:' }, where('/c')).log, 'memory:');
    assert.equal(normalizeConfig({ log: 'kafka://broker:9092/weft' }, where('/c')).log, 'kafka://broker:9092/weft');
    assert.equal(normalizeConfig({ log: 'file:var/log' }, where('/c')).log, 'file:/c/var/log');
  });

  it('lists every problem with its field path in one error', () => {
    const raw = {
      dataDirr: 'typo',
      log: 'nowhere',
      logLevel: 'loud',
      trustDomain: 'Not_A_Domain',
      xds: { port: 70000, insecure: 'yes', maxProxies: 0 },
      debug: 'off',
      plugins: [{ name: 'a', path: './b' }, 42, { name: 'c', settings: {} }],
    };
    assert.throws(
      () => normalizeConfig(raw, where('/c')),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(
          err.message,
          [
            'weft.yaml: 11 problem(s):',
            '  - dataDirr: unknown field; expected one of dataDir, log, logLevel, trustDomain, meshName, xds, debug, metrics, readiness, plugins',
            '  - log: must be "file:<dir>", "memory:" or "<scheme>:..." of a backend plugin (got "nowhere")',
            '  - logLevel: must be one of debug, info, warn, error (got "loud")',
            '  - trustDomain: must be a DNS name such as "cluster.local" (got "Not_A_Domain")',
            '  - xds.port: must be an integer from 0 to 65535 (got 70000)',
            '  - xds.insecure: must be true or false (got "yes")',
            '  - xds.maxProxies: must be an integer from 1 to 1000000 (got 0)',
            '  - debug: must be a mapping (got "off")',
            '  - plugins[0]: give exactly one of name (a package) or path (a file relative to the config)',
            '  - plugins[1]: must be a package name or a mapping with name or path (got 42)',
            '  - plugins[2].settings: unknown field; expected one of name, path, config',
          ].join('\n'),
        );
        return true;
      },
    );
  });

  it('reads debug.tokenFile relative to the config and readiness.maxLagEvents', () => {
    const c = normalizeConfig({ debug: { tokenFile: 'secrets/debug-token' }, readiness: { maxLagEvents: 0 } }, where('/etc/weft'));
    assert.equal(c.debug.tokenFile, '/etc/weft/secrets/debug-token');
    assert.equal(c.readiness.maxLagEvents, 0);
    assert.throws(
      () => normalizeConfig({ debug: { tokenFile: 7 }, metrics: { tokenFile: 'x' }, readiness: { maxLagEvents: -1, lag: 2 } }, where('/c')),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /debug\.tokenFile: must be a non-empty string \(got 7\)/);
        assert.match(err.message, /metrics\.tokenFile: unknown field; expected one of enabled, host, port$/m);
        assert.match(err.message, /readiness\.maxLagEvents: must be an integer from 0 to/);
        assert.match(err.message, /readiness\.lag: unknown field; expected one of maxLagEvents/);
        return true;
      },
    );
  });

  it('names the file for YAML syntax errors and unreadable files', () => {
    assert.throws(() => parseConfigText('xds: [unclosed', 'deploy/weft.yaml'), /^ConfigError: deploy\/weft\.yaml: not valid YAML:|deploy\/weft\.yaml: not valid YAML:/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-config-'));
    try {
      assert.throws(() => loadConfigFile('missing.yaml', {}, dir), /missing\.yaml: cannot read the config file .*pass --config <file>/);
      fs.writeFileSync(path.join(dir, 'weft.yaml'), 'dataDir: state\nmetrics: { enabled: false }\n');
      const c = loadConfigFile('weft.yaml', {}, dir);
      assert.equal(c.label, 'weft.yaml');
      assert.equal(c.file, path.join(dir, 'weft.yaml'));
      assert.equal(c.dataDir, path.join(dir, 'state'));
      assert.equal(c.metrics.enabled, false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
