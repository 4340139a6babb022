import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  canonicalJsonOf,
  parseManifests,
  PLUGIN_API_VERSION,
  PluginConfigError,
  Tokens,
  type ResourceSource,
  type WeftPlugin,
} from '@weft/core';
import { FilesSource } from './source.js';
import type { ParseOutcome } from './state.js';

export { FilesSource, listManifests, type FilesSourceOptions } from './source.js';
export { FolderState, diffResources, type ParseOutcome, type ParsedResource } from './state.js';

export interface FilesPluginConfig {
  /** Folder of manifests, relative to the config file's directory. */
  readonly dir: string;
  readonly debounceMs: number;
  readonly rescanMs: number;
  /** Source name on the events; give each files source its own when there are several. */
  readonly name: string;
}

function optionalInt(raw: Record<string, unknown>, key: string, dflt: number, min: number, max: number): number {
  const v = raw[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new PluginConfigError(key, `must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
  }
  return v;
}

export function validateFilesConfig(raw: unknown): FilesPluginConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PluginConfigError('', 'must be a mapping with at least `dir` (the folder of manifests)');
  }
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!['dir', 'debounceMs', 'rescanMs', 'name'].includes(k)) {
      throw new PluginConfigError(k, 'unknown field; expected dir, debounceMs, rescanMs or name');
    }
  }
  if (typeof r.dir !== 'string' || r.dir === '') {
    throw new PluginConfigError('dir', 'must name the folder of manifests to watch, e.g. "examples/bookstore"');
  }
  const name = r.name ?? 'files';
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/.test(name)) {
    throw new PluginConfigError('name', `must be a short identifier (got ${JSON.stringify(name)})`);
  }
  return {
    dir: r.dir,
    debounceMs: optionalInt(r, 'debounceMs', 100, 0, 60_000),
    rescanMs: optionalInt(r, 'rescanMs', 2_000, 0, 3_600_000),
    name,
  };
}

/** Core's manifest parser, seen through what the source needs of it. */
export function parseManifestText(text: string, file: string): ParseOutcome {
  const r = parseManifests(text, file);
  return {
    resources: r.resources,
    errors: r.errors.map((e) => ({ message: e.message, document: e.document, namespace: e.namespace, name: e.resourceName })),
    ignored: r.ignored.map((i) => `document ${i.document} (${i.kind}${i.name === null ? '' : ` ${i.name}`}): ${i.reason}`),
  };
}

export const sameContent = (a: unknown, b: unknown): boolean => canonicalJsonOf(a) === canonicalJsonOf(b);

/** The files source: a folder of Kubernetes-style manifests, watched, as events on the log. */
export const plugin: WeftPlugin<FilesPluginConfig> = {
  name: 'files',
  apiVersion: PLUGIN_API_VERSION,
  validateConfig: validateFilesConfig,
  register(container, config, context) {
    const dir = path.resolve(context.configDir, config.dir);
    // Checked here, before anything starts, so that a typo stops Weft at load with the plugin's name on it.
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new PluginConfigError('dir', `${dir} is not a directory; create it or fix the path`);
    }
    const source = new FilesSource({
      name: config.name,
      dir,
      debounceMs: config.debounceMs,
      rescanMs: config.rescanMs,
      parse: parseManifestText,
      same: sameContent,
      logger: context.logger.child({ source: config.name, dir }),
    });
    container.register<ResourceSource>(Tokens.ResourceSource, { useValue: source });
  },
};

export default plugin;
