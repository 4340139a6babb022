import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { DEFAULT_TRUST_DOMAIN } from '../model/types.js';
import type { LogLevel } from '../observe/logger.js';
import { DEFAULT_BUFFER_POOL_SIZE } from '../xds/buffer-pool.js';

/**
 * weft.yaml: the static configuration of one Weft instance. Everything here is validated up front, and
 * every error names the file and the field path, so that Weft never starts on a config it misread.
 */

export interface ListenConfig {
  readonly enabled: boolean;
  readonly host: string;
  /** 0 lets the OS pick a port (tests); the bound port is logged. */
  readonly port: number;
}

export interface XdsConfig {
  /**
   * Default 0.0.0.0: a control plane is reached by proxies on other hosts. deploy/weft.yaml narrows it to
   * 127.0.0.1 for the local quick start.
   */
  readonly host: string;
  readonly port: number;
  /** Plaintext ADS, identity from node metadata. Only for development and benchmarks. */
  readonly insecure: boolean;
  readonly maxProxies: number;
  /** Window in which a proxy's invalidations are coalesced into one push. */
  readonly coalesceMs: number;
  readonly maxConcurrentPushes: number;
  /** Open connections to the ADS port; unset: the server's default (from maxProxies and the open-files limit). */
  readonly maxConnections?: number;
  /** A connection without an open ADS stream (its TLS handshake included) for this long is closed. */
  readonly idleConnectionTimeoutMs: number;
  /** Node's Buffer pool size (process-wide) while the ADS server listens; see DEFAULT_BUFFER_POOL_SIZE. */
  readonly bufferPoolBytes: number;
}

export interface DebugConfig extends ListenConfig {
  /**
   * Absolute path of a file holding the bearer token every debug route but /healthz and /readyz asks for;
   * null: no authentication (warned about when the server listens beyond loopback).
   */
  readonly tokenFile: string | null;
}

export interface ReadinessConfig {
  /** /readyz fails while the catalog is more than this many events behind the log's head; 0 turns the check off. */
  readonly maxLagEvents: number;
}

export interface PluginEntry {
  /** Position in `plugins:`; error messages name `plugins[<index>]`. */
  readonly index: number;
  /** A package name, resolved with require.resolve from the config directory (then from Weft's own). */
  readonly name?: string;
  /** A file or directory, relative to the config file's directory. */
  readonly path?: string;
  /** The plugin's section, handed to its validateConfig. */
  readonly config: unknown;
}

export interface WeftConfig {
  /** Absolute path of the weft.yaml read, or null when running on the built-in defaults. */
  readonly file: string | null;
  /** How errors name the config ("weft.yaml", "deploy/weft.yaml", "<defaults>"). */
  readonly label: string;
  /** Directory relative paths resolve against: the config file's, or the working directory. */
  readonly configDir: string;
  readonly dataDir: string;
  /** Event log location: `file:<dir>`, `memory:`, or `<scheme>:...` served by a backend plugin. */
  readonly log: string;
  readonly logLevel: LogLevel;
  readonly trustDomain: string;
  readonly meshName: string;
  readonly xds: XdsConfig;
  readonly debug: DebugConfig;
  readonly metrics: ListenConfig;
  readonly readiness: ReadinessConfig;
  readonly plugins: readonly PluginEntry[];
}

/** Values given on the command line or in the environment; they win over the file. */
export interface ConfigOverrides {
  readonly dataDir?: string;
  /** Folder of manifests for the files source (the @weft/plugin-files entry's `dir`). */
  readonly manifests?: string;
  readonly log?: string;
  readonly logLevel?: string;
  readonly xdsHost?: string;
  readonly xdsPort?: string | number;
  readonly insecure?: boolean;
  readonly debugPort?: string | number;
  readonly metricsPort?: string | number;
}

export const FILES_PLUGIN = '@weft/plugin-files';

/** Directory Weft's own package lives in: package names in `plugins:` also resolve from here. */
export const CORE_PACKAGE_DIR = path.resolve(__dirname, '..', '..');

const TOP_LEVEL = [
  'dataDir',
  'log',
  'logLevel',
  'trustDomain',
  'meshName',
  'xds',
  'debug',
  'metrics',
  'readiness',
  'plugins',
] as const;
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

/** Collects every problem so the user fixes the file in one pass. */
class Problems {
  readonly list: string[] = [];
  add(field: string, message: string): void {
    this.list.push(`${field}: ${message}`);
  }
}

function unknownKeys(raw: Raw, allowed: readonly string[], at: string, problems: Problems): void {
  for (const k of Object.keys(raw)) {
    if (!allowed.includes(k)) {
      problems.add(at === '' ? k : `${at}.${k}`, `unknown field; expected one of ${allowed.join(', ')}`);
    }
  }
}

function str(raw: Raw, key: string, at: string, dflt: string, problems: Problems): string {
  const v = raw[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string' || v.trim() === '') {
    problems.add(at, `must be a non-empty string (got ${show(v)})`);
    return dflt;
  }
  return v;
}

function int(
  v: unknown,
  at: string,
  dflt: number,
  min: number,
  max: number,
  problems: Problems,
): number {
  if (v === undefined || v === null) return dflt;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    problems.add(at, `must be an integer from ${min} to ${max} (got ${show(v)})`);
    return dflt;
  }
  return n;
}

function bool(v: unknown, at: string, dflt: boolean, problems: Problems): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') {
    problems.add(at, `must be true or false (got ${show(v)})`);
    return dflt;
  }
  return v;
}

function section(raw: Raw, key: string, problems: Problems): Raw {
  const v = raw[key];
  if (v === undefined || v === null) return {};
  if (!isObject(v)) {
    problems.add(key, `must be a mapping (got ${show(v)})`);
    return {};
  }
  return v;
}

function listen(raw: Raw, key: 'debug' | 'metrics', dflt: ListenConfig, problems: Problems, more: readonly string[] = []): ListenConfig {
  const s = section(raw, key, problems);
  unknownKeys(s, ['enabled', 'host', 'port', ...more], key, problems);
  return {
    enabled: bool(s.enabled, `${key}.enabled`, dflt.enabled, problems),
    host: str(s, 'host', `${key}.host`, dflt.host, problems),
    port: int(s.port, `${key}.port`, dflt.port, 0, 65535, problems),
  };
}

function plugins(raw: Raw, problems: Problems): PluginEntry[] {
  const v = raw.plugins;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    problems.add('plugins', `must be a list of { name | path, config } entries (got ${show(v)})`);
    return [];
  }
  const out: PluginEntry[] = [];
  v.forEach((item: unknown, index) => {
    const at = `plugins[${index}]`;
    // A bare string is shorthand for { name } (a package) or { path } when it looks like a path.
    if (typeof item === 'string') {
      const isPath = item.startsWith('.') || item.startsWith('/');
      out.push(isPath ? { index, path: item, config: {} } : { index, name: item, config: {} });
      return;
    }
    if (!isObject(item)) {
      problems.add(at, `must be a package name or a mapping with name or path (got ${show(item)})`);
      return;
    }
    unknownKeys(item, ['name', 'path', 'config'], at, problems);
    const name = item.name;
    const p = item.path;
    if (name !== undefined && (typeof name !== 'string' || name === '')) {
      problems.add(`${at}.name`, `must be a package name (got ${show(name)})`);
      return;
    }
    if (p !== undefined && (typeof p !== 'string' || p === '')) {
      problems.add(`${at}.path`, `must be a file or directory path (got ${show(p)})`);
      return;
    }
    if ((name === undefined) === (p === undefined)) {
      problems.add(at, 'give exactly one of name (a package) or path (a file relative to the config)');
      return;
    }
    const config = item.config ?? {};
    out.push({ index, ...(name === undefined ? {} : { name }), ...(p === undefined ? {} : { path: p }), config });
  });
  return out;
}

/** Validates a parsed weft.yaml (or `{}` for the defaults). Throws one ConfigError listing every problem. */
export function normalizeConfig(
  raw: unknown,
  where: { file: string | null; label: string; configDir: string },
  overrides: ConfigOverrides = {},
  cwd: string = process.cwd(),
): WeftConfig {
  const problems = new Problems();
  let doc: Raw = {};
  if (raw === undefined || raw === null) doc = {};
  else if (isObject(raw)) doc = raw;
  else problems.add('(document)', `must be a mapping of settings (got ${show(raw)})`);
  unknownKeys(doc, TOP_LEVEL, '', problems);

  const dataDirRaw = str(doc, 'dataDir', 'dataDir', '.weft-data', problems);
  const dataDir =
    overrides.dataDir !== undefined ? path.resolve(cwd, overrides.dataDir) : path.resolve(where.configDir, dataDirRaw);

  let log = overrides.log ?? str(doc, 'log', 'log', `file:${path.join(dataDir, 'log')}`, problems);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(log);
  if (scheme === null) {
    problems.add('log', `must be "file:<dir>", "memory:" or "<scheme>:..." of a backend plugin (got ${show(log)})`);
  } else if (scheme[1] === 'file') {
    const dir = log.slice('file:'.length);
    if (dir === '') problems.add('log', 'file: needs a directory, e.g. "file:.weft-data/log"');
    // Relative file-log directories follow the same rule as dataDir.
    else log = `file:${path.resolve(overrides.log !== undefined ? cwd : where.configDir, dir)}`;
  }

  const levelRaw = overrides.logLevel ?? str(doc, 'logLevel', 'logLevel', 'info', problems);
  let logLevel: LogLevel = 'info';
  if ((LOG_LEVELS as readonly string[]).includes(levelRaw)) logLevel = levelRaw as LogLevel;
  else problems.add('logLevel', `must be one of ${LOG_LEVELS.join(', ')} (got ${show(levelRaw)})`);

  const trustDomain = str(doc, 'trustDomain', 'trustDomain', DEFAULT_TRUST_DOMAIN, problems);
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(trustDomain)) {
    problems.add('trustDomain', `must be a DNS name such as "cluster.local" (got ${show(trustDomain)})`);
  }
  const meshName = str(doc, 'meshName', 'meshName', 'osm', problems);

  const x = section(doc, 'xds', problems);
  unknownKeys(
    x,
    ['host', 'port', 'insecure', 'maxProxies', 'coalesceMs', 'maxConcurrentPushes', 'maxConnections', 'idleConnectionTimeoutMs', 'bufferPoolBytes'],
    'xds',
    problems,
  );
  const xds: XdsConfig = {
    host: overrides.xdsHost ?? str(x, 'host', 'xds.host', '0.0.0.0', problems),
    port: int(overrides.xdsPort ?? x.port, 'xds.port', 15128, 0, 65535, problems),
    insecure: overrides.insecure ?? bool(x.insecure, 'xds.insecure', false, problems),
    maxProxies: int(x.maxProxies, 'xds.maxProxies', 20000, 1, 1_000_000, problems),
    coalesceMs: int(x.coalesceMs, 'xds.coalesceMs', 5, 0, 60_000, problems),
    maxConcurrentPushes: int(x.maxConcurrentPushes, 'xds.maxConcurrentPushes', 256, 1, 100_000, problems),
    ...(x.maxConnections === undefined || x.maxConnections === null
      ? {}
      : { maxConnections: int(x.maxConnections, 'xds.maxConnections', 1, 1, 1_000_000, problems) }),
    idleConnectionTimeoutMs: int(x.idleConnectionTimeoutMs, 'xds.idleConnectionTimeoutMs', 10_000, 100, 600_000, problems),
    bufferPoolBytes: int(x.bufferPoolBytes, 'xds.bufferPoolBytes', DEFAULT_BUFFER_POOL_SIZE, 0, 1024 * 1024, problems),
  };

  const debug = listen(doc, 'debug', { enabled: true, host: '127.0.0.1', port: 9092 }, problems, ['tokenFile']);
  // '' when absent; a path relative to the config otherwise.
  const tokenFile = str(isObject(doc.debug) ? doc.debug : {}, 'tokenFile', 'debug.tokenFile', '', problems);
  const r = section(doc, 'readiness', problems);
  unknownKeys(r, ['maxLagEvents'], 'readiness', problems);
  const readiness: ReadinessConfig = { maxLagEvents: int(r.maxLagEvents, 'readiness.maxLagEvents', 1000, 0, Number.MAX_SAFE_INTEGER, problems) };
  const metrics = listen(doc, 'metrics', { enabled: true, host: '0.0.0.0', port: 9091 }, problems);
  const withPorts = (l: ListenConfig, port: string | number | undefined, at: string): ListenConfig =>
    port === undefined ? l : { ...l, port: int(port, at, l.port, 0, 65535, problems) };

  let entries = plugins(doc, problems);
  if (overrides.manifests !== undefined) {
    const dir = path.resolve(cwd, overrides.manifests);
    const i = entries.findIndex((e) => e.name === FILES_PLUGIN);
    if (i < 0) {
      entries = [{ index: entries.length, name: FILES_PLUGIN, config: { dir } }, ...entries];
    } else {
      const e = entries[i]!;
      const cfg = isObject(e.config) ? e.config : {};
      entries = entries.map((p, j) => (j === i ? { ...e, config: { ...cfg, dir } } : p));
    }
  }

  if (problems.list.length > 0) {
    throw new ConfigError(
      `${where.label}: ${problems.list.length} problem(s):\n${problems.list.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return {
    file: where.file,
    label: where.label,
    configDir: where.configDir,
    dataDir,
    log,
    logLevel,
    trustDomain,
    meshName,
    xds,
    debug: { ...withPorts(debug, overrides.debugPort, 'debug.port'), tokenFile: tokenFile === '' ? null : path.resolve(where.configDir, tokenFile) },
    metrics: withPorts(metrics, overrides.metricsPort, 'metrics.port'),
    readiness,
    plugins: entries,
  };
}

/** How a path is shown in messages: relative to the working directory when under it. */
export function displayPath(file: string, cwd: string = process.cwd()): string {
  const rel = path.relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** Parses YAML text into a value, or throws ConfigError naming the file and the line. */
export function parseConfigText(text: string, label: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(`${label}: not valid YAML:\n${doc.errors.map((e) => `  - ${e.message}`).join('\n')}`);
  }
  return doc.toJS() as unknown;
}

/** Reads and validates a weft.yaml. */
export function loadConfigFile(file: string, overrides: ConfigOverrides = {}, cwd: string = process.cwd()): WeftConfig {
  const abs = path.resolve(cwd, file);
  const label = displayPath(abs, cwd);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(`${label}: cannot read the config file (${(err as Error).message}); pass --config <file>`, {
      cause: err,
    });
  }
  return normalizeConfig(parseConfigText(text, label), { file: abs, label, configDir: path.dirname(abs) }, overrides, cwd);
}

/** Overrides from the environment (WEFT_*); flags are merged over these by the CLI. */
export function envOverrides(env: NodeJS.ProcessEnv = process.env): ConfigOverrides {
  const o: { -readonly [K in keyof ConfigOverrides]: ConfigOverrides[K] } = {};
  if (env.WEFT_DATA_DIR) o.dataDir = env.WEFT_DATA_DIR;
  if (env.WEFT_MANIFESTS) o.manifests = env.WEFT_MANIFESTS;
  if (env.WEFT_LOG) o.log = env.WEFT_LOG;
  if (env.WEFT_LOG_LEVEL) o.logLevel = env.WEFT_LOG_LEVEL;
  if (env.WEFT_XDS_PORT) o.xdsPort = env.WEFT_XDS_PORT;
  if (env.WEFT_DEBUG_PORT) o.debugPort = env.WEFT_DEBUG_PORT;
  if (env.WEFT_METRICS_PORT) o.metricsPort = env.WEFT_METRICS_PORT;
  return o;
}
