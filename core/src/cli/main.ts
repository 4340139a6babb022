import * as fs from 'node:fs';
import * as path from 'node:path';
import { WeftError } from '../errors.js';
import { createLogger, type Logger } from '../observe/logger.js';
import {
  CORE_PACKAGE_DIR,
  envOverrides,
  loadConfigFile,
  normalizeConfig,
  type ConfigOverrides,
  type WeftConfig,
} from '../runtime/config.js';
import { flag, intOption, parseCommandLine, stringOption, UsageError, type OptionSpec, type Parsed } from './args.js';
import { DEMO_HELP, demoCommand } from './demo.js';
import { REPLAY_HELP, replayCommand } from './replay.js';

/**
 * The `weft` command. Output meant for people or scripts goes to stdout; Weft's own structured logs go to
 * stderr. Exit codes: 0 success, 1 failure (invalid input, a start that failed), 2 a command line that
 * cannot be understood. Commands load their modules on demand, so `weft --help` stays instant.
 */

export interface CliIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Resolves on SIGINT/SIGTERM (what ends `start` and `log tail --follow`). */
  readonly signal: () => Promise<string>;
  readonly logger?: Logger;
}

const MAIN_HELP = `weft: an event-sourced service-mesh control plane (Envoy xDS v3, SMI, OSM-compatible)

Usage: weft <command> [options]

Commands:
  start               run the control plane (log, catalog, plugins, ADS, debug and metrics servers)
  validate <path...>  check manifests (files or folders) and list every error
  log inspect <dir>   segments, event counts, head and problems of a file log
  log tail <dir>      print the events of a file log (--from N, --follow, --json)
  log repair <dir>    cut a corrupt file log at the damage (--truncate-at N, --dry-run), keeping what it drops
  bootstrap           print a proxy's bootstrap configuration (--pod ns/name or --uuid <uuid>)
  replay              a proxy's config at any point of the log, diffs, explanations, steps (--proxy)
  demo                real gRPC workloads on the running Weft: traffic split and policy changes, live

Run "weft <command> --help" for the options of a command, "weft --version" (-v) for the version.
`;

const START_HELP = `Usage: weft start [--config weft.yaml] [options]

Runs the control plane until SIGTERM or SIGINT, then stops cleanly (sources, servers, log) and exits 0.

Config file: --config, else $WEFT_CONFIG, else ./weft.yaml, else the repository's deploy/weft.yaml
(embedded file log under .weft-data, the files source on deploy/examples/bookstore, ca-local, envoy).

Options (each wins over the file; WEFT_<NAME> environment variables sit in between):
  --config <file>        weft.yaml to use
  --data-dir <dir>       data directory (WEFT_DATA_DIR); the file log defaults to <dir>/log
  --manifests <dir>      folder the files source watches (WEFT_MANIFESTS)
  --log <location>       event log: file:<dir>, memory:, or a plugin scheme (WEFT_LOG)
  --log-level <level>    debug | info | warn | error (WEFT_LOG_LEVEL)
  --xds-host <host>      ADS listen address
  --xds-port <port>      ADS port, 0 for any free port (WEFT_XDS_PORT)
  --insecure             plaintext ADS without certificates (development only)
  --debug-port <port>    debug server port, 0 for any free port (WEFT_DEBUG_PORT)
  --metrics-port <port>  metrics server port, 0 for any free port (WEFT_METRICS_PORT)
`;

const VALIDATE_HELP = `Usage: weft validate <path...>

Parses and validates manifests the way the files source does: each path is a file or a folder (searched
recursively for *.yaml, *.yml, *.json). Prints every error (file, document, kind/name, field path, rule),
the documents ignored and a summary of what is valid. Exits 1 if anything is invalid.
`;

const LOG_HELP = `Usage:
  weft log inspect <dir> [--json]
      Segments (offsets, sizes, event counts), head, writer lock and any damage of a file log.
      Read-only; safe while Weft runs. Exits 1 if a segment is corrupt (a torn tail is reported only).
  weft log tail <dir> [--from N] [--follow] [--json]
      Prints events from offset N (default 0): "offset time source op kind key", or one JSON event per
      line with --json (bodies included). --follow keeps printing new events until Ctrl-C.
  weft log repair <dir> --truncate-at <byte> [--segment <name>] [--dry-run] [--json]
      Cuts a corrupt log at the damage (which weft start refuses, never cuts); what it drops is moved
      into <dir>/repair-<time>/ and logged. See "weft log repair --help".
`;

const BOOTSTRAP_HELP = `Usage: weft bootstrap (--pod <namespace/name> | --uuid <proxy-uuid>) [options]

Reads the event log, finds the pod, and prints its proxy's bootstrap configuration as JSON, generated
by the adapter of the proxy kind (from the loaded plugins).

Options:
  --config <file>       weft.yaml (same lookup as weft start); the log it names is read read-only
  --data-dir <dir>      data directory override
  --kind <kind>         proxy kind (default envoy)
  --xds-address <host>  address the proxy dials (default: the configured xds host; 127.0.0.1 for 0.0.0.0)
  --tls-dir <dir>       where the proxy finds tls.crt, tls.key, ca.crt (default /etc/weft/certs, or the
                        --write-certs directory when that is given)
  --write-certs <dir>   also issue the proxy's client certificate (CN <uuid>.<kind>.<sa>.<ns>.<td>) from
                        the configured issuer and write tls.crt, tls.key (mode 600) and ca.crt there
`;

/** The version of @weft/core, the package this command belongs to. */
function coreVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(CORE_PACKAGE_DIR, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

const CONFIG_OPTIONS: Record<string, OptionSpec> = {
  config: { type: 'string', short: 'c' },
  'data-dir': { type: 'string' },
};

/**
 * One Ctrl-C can arrive twice: the terminal signals its whole process group, and a parent that forwards
 * signals (npx, npm run) sends it again. The same signal this soon after the first is that one again.
 */
const SAME_SIGNAL_MS = 1000;

function processIO(): CliIO {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    cwd: process.cwd(),
    env: process.env,
    signal: () =>
      new Promise((resolve) => {
        let first: { sig: string; at: number } | undefined;
        // The handlers stay: a second signal during shutdown must not kill the process before the log
        // is closed (its lock released, its last batch synced).
        const on = (sig: string): void => {
          if (first === undefined) {
            first = { sig, at: Date.now() };
            resolve(sig);
          } else if (sig !== first.sig || Date.now() - first.at > SAME_SIGNAL_MS) {
            process.stderr.write(`weft: ${sig} received while stopping; still shutting down (SIGKILL forces it)\n`);
          }
        };
        process.on('SIGINT', on);
        process.on('SIGTERM', on);
      }),
  };
}

/** The config a command runs with; see START_HELP for the lookup order. */
export function resolveConfig(parsed: Parsed, io: CliIO, extra: ConfigOverrides = {}): WeftConfig {
  const dataDir = stringOption(parsed, 'data-dir');
  const overrides: ConfigOverrides = { ...envOverrides(io.env), ...extra, ...(dataDir === undefined ? {} : { dataDir }) };
  const explicit = stringOption(parsed, 'config') ?? io.env.WEFT_CONFIG;
  if (explicit !== undefined && explicit !== '') return loadConfigFile(explicit, overrides, io.cwd);
  const candidates = [path.join(io.cwd, 'weft.yaml'), path.resolve(CORE_PACKAGE_DIR, '..', 'deploy', 'weft.yaml')];
  const found = candidates.find((c) => fs.existsSync(c));
  if (found !== undefined) return loadConfigFile(found, overrides, io.cwd);
  return normalizeConfig({}, { file: null, label: '<defaults>', configDir: io.cwd }, overrides, io.cwd);
}

async function start(argv: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine(argv, {
    ...CONFIG_OPTIONS,
    manifests: { type: 'string' },
    log: { type: 'string' },
    'log-level': { type: 'string' },
    'xds-host': { type: 'string' },
    'xds-port': { type: 'string' },
    insecure: { type: 'boolean' },
    'debug-port': { type: 'string' },
    'metrics-port': { type: 'string' },
  });
  if (flag(parsed, 'help')) {
    io.stdout(START_HELP);
    return 0;
  }
  if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`);
  const extra: { -readonly [K in keyof ConfigOverrides]: ConfigOverrides[K] } = {};
  const set = (key: keyof ConfigOverrides, option: string): void => {
    const v = stringOption(parsed, option);
    if (v !== undefined) (extra as Record<string, unknown>)[key] = v;
  };
  set('manifests', 'manifests');
  set('log', 'log');
  set('logLevel', 'log-level');
  set('xdsHost', 'xds-host');
  set('xdsPort', 'xds-port');
  set('debugPort', 'debug-port');
  set('metricsPort', 'metrics-port');
  if (flag(parsed, 'insecure')) extra.insecure = true;
  const config = resolveConfig(parsed, io, extra);
  const logger = io.logger ?? createLogger({ level: config.logLevel });
  const signal = io.signal();
  const { startWeft } = await import('../runtime/weft.js');
  const weft = await startWeft(config, { logger }).catch((err: unknown) => {
    throw addressInUse(err, config) ?? err;
  });
  const outcome = await Promise.race([
    signal.then((sig) => ({ sig })),
    weft.stopped.then(
      () => ({ sig: undefined }),
      (err: unknown) => ({ err }),
    ),
  ]);
  if ('err' in outcome) {
    logger.error('Weft stopped on an error', { error: (outcome.err as Error).message });
    return 1;
  }
  if (outcome.sig !== undefined) logger.info('signal received, shutting down', { signal: outcome.sig });
  await weft.close();
  return 0;
}

/** The servers `weft start` opens, with what moves each to another port. */
const LISTENERS = [
  { name: 'xds', what: 'ADS server', flag: '--xds-port', env: 'WEFT_XDS_PORT', field: 'xds.port' },
  { name: 'debug', what: 'debug server', flag: '--debug-port', env: 'WEFT_DEBUG_PORT', field: 'debug.port' },
  { name: 'metrics', what: 'metrics server', flag: '--metrics-port', env: 'WEFT_METRICS_PORT', field: 'metrics.port' },
] as const;

/**
 * A start that failed because a port is taken, as an error that says which server and how to move it;
 * undefined for any other failure. The server is the one configured on the port in use (two servers
 * given one port are both named).
 */
function addressInUse(err: unknown, config: WeftConfig): WeftError | undefined {
  let port: number | undefined;
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const { code, port: p } = e as NodeJS.ErrnoException & { port?: unknown };
    const text = `${code ?? ''} ${e.message}`;
    if (!/EADDRINUSE|address already in use/i.test(text)) continue;
    if (typeof p === 'number') port = p;
    else port ??= Number(/:(\d+)\D*$/.exec(e.message)?.[1] ?? Number.NaN);
  }
  if (port === undefined || Number.isNaN(port)) return undefined;
  const on = LISTENERS.filter((l) => config[l.name].port === port && (l.name === 'xds' || config[l.name].enabled));
  if (on.length === 0) return undefined;
  const how = on.map((l) => `${l.flag} <port> or ${l.env}=<port> (${l.field} in the config)`).join('; ');
  if (on.length > 1) {
    return new WeftError(
      'ADDRESS_IN_USE',
      `the ${on.map((l) => l.what).join(' and the ')} are ${on.length === 2 ? 'both' : 'all'} given port ${port}, which is in use; ` +
        `give each its own port: ${how}; 0 picks any free port`,
      { cause: err },
    );
  }
  const l = on[0]!;
  return new WeftError(
    'ADDRESS_IN_USE',
    `the ${l.what} cannot listen on ${config[l.name].host}:${port}: the address is in use (another Weft, or another ` +
      `program, has it). Stop that program, or give another port: ${how}; 0 picks any free port`,
    { cause: err },
  );
}

async function validate(argv: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine(argv, {});
  if (flag(parsed, 'help')) {
    io.stdout(VALIDATE_HELP);
    return 0;
  }
  if (parsed.positionals.length === 0) throw new UsageError('give at least one file or folder to validate');
  const { validatePaths } = await import('./validate.js');
  const { text, ok } = validatePaths(parsed.positionals, io.cwd);
  io.stdout(text);
  return ok ? 0 : 1;
}

async function logCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'repair') return (await import('./log.js')).repairMain(rest, io);
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout(LOG_HELP);
    return sub === undefined ? 2 : 0;
  }
  const parsed = parseCommandLine(rest, { json: { type: 'boolean' }, from: { type: 'string' }, follow: { type: 'boolean', short: 'f' } });
  if (flag(parsed, 'help')) {
    io.stdout(LOG_HELP);
    return 0;
  }
  const dir = parsed.positionals[0];
  if (dir === undefined || parsed.positionals.length > 1) throw new UsageError(`weft log ${sub} takes exactly one log directory`);
  const abs = path.resolve(io.cwd, dir);
  const { inspectCommand, tailCommand } = await import('./log.js');
  if (sub === 'inspect') {
    if (parsed.values.from !== undefined || flag(parsed, 'follow')) throw new UsageError('--from and --follow belong to weft log tail');
    return inspectCommand(abs, flag(parsed, 'json'), io.stdout);
  }
  if (sub === 'tail') {
    return tailCommand(
      abs,
      {
        from: intOption(parsed, 'from', 0) ?? 0,
        follow: flag(parsed, 'follow'),
        json: flag(parsed, 'json'),
        until: io.signal().then(() => undefined),
      },
      io.stdout,
    );
  }
  throw new UsageError(`unknown log command ${JSON.stringify(sub)}; expected inspect, tail or repair`);
}

async function bootstrap(argv: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine(argv, {
    ...CONFIG_OPTIONS,
    pod: { type: 'string' },
    uuid: { type: 'string' },
    kind: { type: 'string' },
    'xds-address': { type: 'string' },
    'tls-dir': { type: 'string' },
    'write-certs': { type: 'string' },
  });
  if (flag(parsed, 'help')) {
    io.stdout(BOOTSTRAP_HELP);
    return 0;
  }
  const pod = stringOption(parsed, 'pod');
  const uuid = stringOption(parsed, 'uuid');
  if ((pod === undefined) === (uuid === undefined)) throw new UsageError('give exactly one of --pod <namespace/name> or --uuid <uuid>');
  if (pod !== undefined && !/^[^/]+\/[^/]+$/.test(pod)) throw new UsageError(`--pod must be namespace/name (got ${JSON.stringify(pod)})`);
  const config = resolveConfig(parsed, io);
  // Plugins log at load; keep stdout for the bootstrap and stderr quiet unless something is wrong.
  const logger = io.logger ?? createLogger({ level: 'warn' });
  const xdsAddress = stringOption(parsed, 'xds-address');
  const writeCerts = stringOption(parsed, 'write-certs');
  const { bootstrapFor } = await import('./bootstrap.js');
  const result = await bootstrapFor(
    config,
    {
      ...(pod === undefined ? {} : { pod }),
      ...(uuid === undefined ? {} : { uuid }),
      kind: stringOption(parsed, 'kind') ?? 'envoy',
      ...(xdsAddress === undefined ? {} : { xdsAddress }),
      // Certificates written here are where this proxy finds them, unless --tls-dir says it sees them elsewhere.
      tlsDir: stringOption(parsed, 'tls-dir') ?? (writeCerts === undefined ? '/etc/weft/certs' : path.resolve(io.cwd, writeCerts)),
      ...(writeCerts === undefined ? {} : { writeCerts: path.resolve(io.cwd, writeCerts) }),
    },
    logger,
  );
  io.stdout(`${JSON.stringify(result.bootstrap, null, 2)}\n`);
  for (const file of result.written) io.stderr(`wrote ${file}\n`);
  return 0;
}

const COMMANDS: Record<string, { run: (argv: readonly string[], io: CliIO) => Promise<number>; help: string }> = {
  start: { run: start, help: START_HELP },
  validate: { run: validate, help: VALIDATE_HELP },
  log: { run: logCommand, help: LOG_HELP },
  bootstrap: { run: bootstrap, help: BOOTSTRAP_HELP },
  replay: { run: replayCommand, help: REPLAY_HELP },
  demo: { run: demoCommand, help: DEMO_HELP },
};

/** Runs the CLI; resolves with the exit code. Errors are printed, never thrown. */
export async function main(argv: readonly string[], ioOverrides: Partial<CliIO> = {}): Promise<number> {
  const io: CliIO = { ...processIO(), ...ioOverrides };
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(MAIN_HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout(`weft ${coreVersion()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.stderr(`weft: unknown command ${JSON.stringify(name)}\n\n${MAIN_HELP}`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`weft ${name}: ${err.message}\n\n${command.help}`);
      return 2;
    }
    if (err instanceof WeftError) {
      io.stderr(`weft ${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
