import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  canonicalJsonOf,
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_OBJECTS,
  PLUGIN_API_VERSION,
  PluginConfigError,
  Tokens,
  type ResourceSource,
  type WeftPlugin,
} from '@weft/core';
import { ParseWorker } from './parse-pool.js';
import { FilesSource } from './source.js';

export { FilesSource, type FilesSourceOptions } from './source.js';
export { FolderState, diffResources, type ParseOutcome, type ParsedResource } from './state.js';
export { parseManifestText } from './parse.js';
export { ParseWorker } from './parse-pool.js';

export interface FilesPluginConfig {
  /** Folder of manifests, relative to the config file's directory. */
  readonly dir: string;
  readonly debounceMs: number;
  readonly rescanMs: number;
  /** Source name on the events; give each files source its own when there are several. */
  readonly name: string;
  /** A manifest file larger than this is rejected before it is read. */
  readonly maxFileBytes: number;
  /** The most resources the folder's files may define in all. */
  readonly maxObjects: number;
  /** A file whose parse takes longer is rejected (and the parser's thread replaced). */
  readonly parseTimeoutMs: number;
}

const MIB = 1024 * 1024;

/**
 * The parse worker's heap cap: YAML parsing takes some 60 bytes of heap per byte of text (a 4 MiB file of
 * small documents peaks near 250 MB), so a file at the size limit fits with room to spare.
 */
export function parserHeapMb(maxFileBytes: number): number {
  return Math.max(256, Math.ceil(maxFileBytes / MIB) * 96);
}

function optionalInt(raw: Record<string, unknown>, key: string, dflt: number, min: number, max: number): number {
  const v = raw[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new PluginConfigError(key, `must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
  }
  return v;
}

const FIELDS = ['dir', 'debounceMs', 'rescanMs', 'name', 'maxFileBytes', 'maxObjects', 'parseTimeoutMs'];

export function validateFilesConfig(raw: unknown): FilesPluginConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PluginConfigError('', 'must be a mapping with at least `dir` (the folder of manifests)');
  }
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!FIELDS.includes(k)) throw new PluginConfigError(k, `unknown field; expected one of ${FIELDS.join(', ')}`);
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
    maxFileBytes: optionalInt(r, 'maxFileBytes', DEFAULT_MAX_FILE_BYTES, 1024, 1024 * MIB),
    maxObjects: optionalInt(r, 'maxObjects', DEFAULT_MAX_OBJECTS, 1, 10_000_000),
    parseTimeoutMs: optionalInt(r, 'parseTimeoutMs', 120_000, 100, 3_600_000),
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
    const parser = new ParseWorker({ maxHeapMb: parserHeapMb(config.maxFileBytes), timeoutMs: config.parseTimeoutMs });
    const source = new FilesSource({
      name: config.name,
      dir,
      debounceMs: config.debounceMs,
      rescanMs: config.rescanMs,
      maxFileBytes: config.maxFileBytes,
      maxObjects: config.maxObjects,
      parse: (text, file, maxResources) => parser.parse(text, file, maxResources),
      closeParser: () => parser.close(),
      same: sameContent,
      logger: context.logger.child({ source: config.name, dir }),
    });
    container.register<ResourceSource>(Tokens.ResourceSource, { useValue: source });
  },
};

export default plugin;
