import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The plugin boundary: the core never imports a plugin (the built-in ones are loaded by package name from
 * the config, like any other), and a plugin uses only the core's public API (`@weft/core`), never a path
 * inside it, so a third-party plugin can do everything a built-in one does.
 */
const repo = path.resolve(__dirname, '../../..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(full));
    else if (entry.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

function imports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from\s+|import\(\s*|require\(\s*)'([^']+)'/g)].map((m) => m[1] as string);
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

/**
 * Shared libraries under plugins/ that are not plugins (they register nothing): a plugin may use them
 * beside @weft/core, and they themselves import only @weft/core. Plugins never import each other.
 */
const LIBRARIES: Readonly<Record<string, string>> = { 'kube-client': '@weft/kube-client' };

test('plugins import Weft only through @weft/core and the shared libraries', () => {
  const pluginsDir = path.join(repo, 'plugins');
  const offenders: string[] = [];
  let checked = 0;
  for (const plugin of fs.readdirSync(pluginsDir)) {
    const src = path.join(pluginsDir, plugin, 'src');
    if (!fs.existsSync(src)) continue;
    const isLibrary = plugin in LIBRARIES;
    for (const file of sources(src)) {
      checked++;
      for (const spec of imports(file)) {
        const library = Object.values(LIBRARIES).some((l) => spec === l || spec.startsWith(`${l}/`));
        const weftPackage = spec.startsWith('@weft/') && spec !== '@weft/core' && (isLibrary || !library);
        const intoCore = spec.startsWith('.') && path.resolve(path.dirname(file), spec).startsWith(path.join(repo, 'core'));
        if (weftPackage || intoCore) offenders.push(`${path.relative(repo, file)}: ${spec}`);
      }
    }
  }
  assert.ok(checked > 20, `expected the plugin sources to be found (checked ${checked} files)`);
  assert.deepEqual(offenders, []);
});
