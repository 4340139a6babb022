import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { PluginEntry } from '../runtime/config.js';
import { PLUGIN_API_VERSION, type PluginContext, type WeftPlugin } from './api.js';
import { PluginConfigError, PluginLoadError } from './errors.js';

/**
 * Loads `plugins:` entries in two phases so that Weft never starts half-configured:
 *  1. resolve, import, check the export shape and apiVersion, and validate every config section;
 *  2. only when all of that passed, call each plugin's register() in the order of the list.
 * register() only puts things into the container (no listening, no watching: that happens later in
 * source.start() and friends), so a failure in either phase leaves nothing running.
 */

export interface LoadedPlugin {
  readonly index: number;
  readonly name: string;
  readonly apiVersion: string;
  /** How the entry named it: the package name or the path as written. */
  readonly spec: string;
  /** The file that was imported. */
  readonly file: string;
  readonly config: unknown;
}

export interface LoadPluginsOptions {
  /** How messages name the config, e.g. "weft.yaml". */
  readonly label: string;
  readonly configDir: string;
  /** Extra directories package names are resolved from after configDir (Weft's own install). */
  readonly resolvePaths?: readonly string[];
  /** Context handed to register(); each plugin gets a logger with its name. */
  readonly context: PluginContext;
}

interface Candidate {
  readonly entry: PluginEntry;
  readonly spec: string;
  readonly file: string;
  readonly plugin: WeftPlugin;
  readonly config: unknown;
}

/**
 * A fresh container for one Weft instance: a child of tsyringe's root, so that two instances in one
 * process (tests) never see each other's registrations.
 */
export function createPluginContainer(): DependencyContainer {
  return rootContainer.createChildContainer();
}

function isObject(v: unknown): v is Record<string, unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Finds the file to import for an entry. */
export function resolvePluginFile(
  entry: PluginEntry,
  configDir: string,
  resolvePaths: readonly string[] = [],
): string {
  if (entry.path !== undefined) {
    const abs = path.resolve(configDir, entry.path);
    if (!fs.existsSync(abs)) {
      throw new Error(`no file or directory at ${abs}; paths are relative to the config file's directory`);
    }
    // A directory is a package: let Node pick its main file.
    return require.resolve(abs);
  }
  const name = entry.name ?? '';
  const paths = [configDir, ...resolvePaths];
  try {
    return require.resolve(name, { paths });
  } catch (err) {
    throw new Error(
      `package not found from ${paths.join(', ')}; install it (npm install ${name}) or give a path: instead`,
      { cause: err },
    );
  }
}

/** Picks the plugin out of a module namespace: default export or named `plugin`, also through CJS interop. */
export function pluginExport(ns: unknown): unknown {
  if (!isObject(ns)) return undefined;
  const looksLikePlugin = (v: unknown): boolean =>
    isObject(v) && ('register' in v || 'apiVersion' in v || 'name' in v) && !('__esModule' in v && 'default' in v);
  const dflt = ns.default;
  const candidates: unknown[] = [ns.plugin, dflt];
  // import() of a CommonJS module puts module.exports on `default`; a compiled TS module has its own
  // `default`/`plugin` inside that.
  if (isObject(dflt)) candidates.push(dflt.default, dflt.plugin);
  return candidates.find(looksLikePlugin);
}

function checkShape(value: unknown): WeftPlugin {
  if (value === undefined) {
    throw new Error('the module has no plugin export; export the plugin as the default export or as `plugin`');
  }
  const v = value as Record<string, unknown>;
  if (typeof v.name !== 'string' || v.name === '') {
    throw new Error('the plugin export has no name; set `name` to a non-empty string');
  }
  if (typeof v.register !== 'function') {
    throw new Error(`plugin "${v.name}" has no register(container, config, context) function`);
  }
  if (v.validateConfig !== undefined && typeof v.validateConfig !== 'function') {
    throw new Error(`plugin "${v.name}": validateConfig must be a function when present`);
  }
  if (v.apiVersion !== PLUGIN_API_VERSION) {
    throw new Error(
      `apiVersion ${JSON.stringify(v.apiVersion)} is not supported; this Weft speaks ${PLUGIN_API_VERSION}`,
    );
  }
  return value as WeftPlugin;
}

function configFailure(err: unknown): string {
  if (err instanceof PluginConfigError) {
    const prefix = `${err.path}: `;
    const text = err.path !== '' && err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    return `config${err.path === '' ? '' : `.${err.path}`}: ${text}`;
  }
  return `config: ${message(err)}`;
}

async function prepare(entry: PluginEntry, options: LoadPluginsOptions): Promise<Candidate> {
  const spec = entry.name ?? entry.path ?? '?';
  const where = `${options.label}: plugins[${entry.index}] (${spec})`;
  let file: string;
  let ns: unknown;
  try {
    file = resolvePluginFile(entry, options.configDir, options.resolvePaths);
  } catch (err) {
    throw new PluginLoadError(`${where}: ${message(err)}`, { cause: err });
  }
  try {
    // import() rather than require() so that ES-module plugins load as well as CommonJS ones.
    ns = await import(pathToFileURL(file).href);
  } catch (err) {
    throw new PluginLoadError(`${where}: importing ${file} failed: ${message(err)}`, { cause: err });
  }
  let plugin: WeftPlugin;
  try {
    plugin = checkShape(pluginExport(ns));
  } catch (err) {
    throw new PluginLoadError(`${where}: ${message(err)}`, { cause: err });
  }
  let config: unknown = entry.config;
  if (plugin.validateConfig !== undefined) {
    try {
      config = plugin.validateConfig(entry.config);
    } catch (err) {
      throw new PluginLoadError(`${options.label}: plugins[${entry.index}].${configFailure(err)} (plugin ${plugin.name})`, {
        cause: err,
      });
    }
  }
  return { entry, spec, file, plugin, config };
}

/**
 * Imports, checks and registers the plugins into `container`, in order. All plugins share the one
 * container Weft resolves extension points from (a child of tsyringe's root, one per Weft instance), so
 * `resolveAll(Tokens.X)` sees every registration. Throws PluginLoadError naming the plugin and config path.
 */
export async function loadPlugins(
  entries: readonly PluginEntry[],
  container: DependencyContainer,
  options: LoadPluginsOptions,
): Promise<LoadedPlugin[]> {
  const prepared: Candidate[] = [];
  for (const entry of entries) prepared.push(await prepare(entry, options));

  const seen = new Map<string, Candidate>();
  for (const c of prepared) {
    const first = seen.get(c.plugin.name);
    if (first !== undefined) {
      throw new PluginLoadError(
        `${options.label}: plugins[${c.entry.index}] (${c.spec}): plugin "${c.plugin.name}" is already loaded by ` +
          `plugins[${first.entry.index}] (${first.spec}); list each plugin once`,
      );
    }
    seen.set(c.plugin.name, c);
  }

  const loaded: LoadedPlugin[] = [];
  for (const c of prepared) {
    const context: PluginContext = { ...options.context, logger: options.context.logger.child({ plugin: c.plugin.name }) };
    try {
      await c.plugin.register(container, c.config, context);
    } catch (err) {
      throw new PluginLoadError(
        `${options.label}: plugins[${c.entry.index}] (${c.spec}): register() of plugin "${c.plugin.name}" failed: ${message(err)}`,
        { cause: err },
      );
    }
    loaded.push({
      index: c.entry.index,
      name: c.plugin.name,
      apiVersion: c.plugin.apiVersion,
      spec: c.spec,
      file: c.file,
      config: c.config,
    });
  }
  return loaded;
}
