import { WeftError } from '../errors.js';
import { CORE_PACKAGE_DIR, type WeftConfig } from '../runtime/config.js';
import { flag, intOption, parseCommandLine, stringOption, UsageError } from './args.js';
import type { CliIO } from './main.js';

/**
 * `weft demo`: real proxyless gRPC workloads against the Weft the user started. The demo itself needs
 * @grpc/grpc-js-xds and the gRPC plugin, which the core must not depend on; it lives in the repository's
 * test workspace (@weft/test) and is loaded from there by package name at run time, as plugins are.
 */

export const DEMO_HELP = `Usage: weft demo [--manifests <dir>] [options]

Connects real proxyless gRPC workloads (@grpc/grpc-js-xds: a bookbuyer client and two bookstore servers,
v1 and v2) to the Weft you started in another terminal (npx weft start --manifests mesh), and shows live:
the workloads connecting (they appear in /debug/proxies), RPCs per backend under the 50/50 TrafficSplit,
the split changed to 90/10, then the TrafficTarget removed (the servers deny), then a summary
(proxies, RPCs, split before and after, time to converge). It adds its workloads and policy as one file,
weft-demo.yaml (namespace weft-demo), in the watched folder (a copy, never deploy/examples itself), and
deletes it when it ends.

The workloads' certificates come from the certificate issuer of the config weft start uses (same lookup:
--config, $WEFT_CONFIG, ./weft.yaml, deploy/weft.yaml); the running Weft must load @weft/plugin-grpc
(deploy/weft.yaml does). Exits 0 when the mesh followed every change, 1 otherwise.

Options:
  --config <file>        weft.yaml of the running Weft
  --data-dir <dir>       its data directory, if weft start was given one (the local CA's keys are there)
  --manifests <dir>      the folder it watches, if weft start was given one (WEFT_MANIFESTS)
  --debug <host:port>    its debug server (default: the config's debug address)
  --phase-seconds <n>    how long each phase sends RPCs (default 5)
`;

/** Where the demo is: a module of the repository's test workspace. */
export const DEMO_MODULE = '@weft/test/dist/demo/connect.js';

export class DemoNotInstalledError extends WeftError {
  constructor(detail: string) {
    super(
      'DEMO_NOT_INSTALLED',
      `the demo is not installed (${DEMO_MODULE}: ${detail}); it is part of the Weft repository (the test workspace): ` +
        'run weft demo from a clone after npm ci (which builds it)',
    );
  }
}

/** What the demo module exports; checked at load, since nothing ties its types to the core's. */
interface DemoModule {
  runDemo(options: {
    readonly config: WeftConfig;
    readonly debug: string;
    readonly phaseMs: number;
    readonly stdout: (text: string) => void;
    readonly interrupted?: Promise<unknown>;
  }): Promise<number>;
}

function loadDemo(cwd: string): DemoModule {
  let file: string;
  try {
    file = require.resolve(DEMO_MODULE, { paths: [cwd, CORE_PACKAGE_DIR] });
  } catch (err) {
    throw new DemoNotInstalledError((err as Error).message.split('\n', 1)[0]!);
  }
  // require, not import(): the module and its dependencies (grpc-js) are CommonJS like this package.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as Partial<DemoModule>;
  if (typeof mod.runDemo !== 'function') throw new DemoNotInstalledError(`${file} exports no runDemo function`);
  return mod as DemoModule;
}

export async function demoCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine(argv, {
    config: { type: 'string', short: 'c' },
    'data-dir': { type: 'string' },
    manifests: { type: 'string' },
    debug: { type: 'string' },
    'phase-seconds': { type: 'string' },
  });
  if (flag(parsed, 'help')) {
    io.stdout(DEMO_HELP);
    return 0;
  }
  if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`);
  const debugOption = stringOption(parsed, 'debug');
  if (debugOption !== undefined && !/^[^\s:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/.test(debugOption)) {
    throw new UsageError(`--debug must be host:port (got ${JSON.stringify(debugOption)})`);
  }
  const phaseSeconds = intOption(parsed, 'phase-seconds', 1) ?? 5;
  const manifests = stringOption(parsed, 'manifests');
  const { resolveConfig } = await import('./main.js');
  const config = resolveConfig(parsed, io, manifests === undefined ? {} : { manifests });
  if (debugOption === undefined && (!config.debug.enabled || config.debug.port === 0)) {
    throw new UsageError(
      `${config.label} ${config.debug.enabled ? 'lets the OS pick the debug port' : 'turns the debug server off'}; ` +
        "give the running Weft's debug address (its ready line) with --debug <host:port>",
    );
  }
  const host = config.debug.host === '0.0.0.0' || config.debug.host === '::' ? '127.0.0.1' : config.debug.host;
  const debug = debugOption ?? `${host.includes(':') ? `[${host}]` : host}:${config.debug.port}`;
  const demo = loadDemo(io.cwd);
  return demo.runDemo({
    config,
    debug,
    phaseMs: phaseSeconds * 1000,
    stdout: io.stdout,
    interrupted: io.signal(),
  });
}
