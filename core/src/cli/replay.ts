import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliIO } from './main.js';
import { createLogger } from '../observe/logger.js';
import { flag, parseCommandLine, stringOption, UsageError } from './args.js';

/**
 * `weft replay`: the command line. Parsing and help live here and load nothing heavy; the replay itself
 * (log, catalog, engine, plugins) is imported when the command runs.
 */

export const REPLAY_HELP = `Usage:
  weft replay --proxy <uuid | namespace/serviceaccount> [--at <offset | RFC3339 time | head>]
  weft replay --proxy <proxy> --diff <a>..<b>
  weft replay --proxy <proxy> --explain <type>/<resource-name> [--at <point>]
  weft replay --step [--proxy <proxy>] [--from <point>] [--to <point>]

Replays the event log into the catalog and the derivation engine, as the running control plane does, and
answers what config a proxy had at a point of the log, what changed it, and why. Read-only: safe while
Weft runs. Key material is never shown: secrets appear as fingerprints (certificates are not on the log,
their issuance is), and their version reads "redacted".

  (default)   the proxy's config at the point as Envoy's admin /config_dump prints it (ConfigDump in
              proto3 JSON: clusters, endpoints, listeners, routes, secrets), deterministic
  --diff      resources added, removed and changed (with the fields that differ) between two points
  --explain   the events (offset, time, source, kind/key) that the resource's derivation read, e.g.
              --explain CDS/bookstore/bookstore|14001 (types: LDS RDS CDS EDS SDS, or listener, route,
              cluster, endpoint, secret)
  --step      walks the log batch by batch (a batch applies atomically, as it did live) and prints, for
              each, how many proxies changed and which resources: to find the event that broke a proxy

Options:
  --log <location>       event log: a directory, file:<dir>, or a backend plugin's scheme (kafka:...);
                         default: the log of the configuration
  --config <file>        weft.yaml (same lookup as weft start): its plugins give the proxy adapters and
                         backends, its trust domain the identities, its issuer the mesh roots
  --data-dir <dir>       data directory override
  --kind <kind>          proxy kind (default: envoy, or the only adapter loaded)
  --trust-bundle <file>  root certificates (PEM) for the root secrets; default the configured issuer's
  --format <json|yaml>   output format (default json; --step defaults to text lines)
  --at <point>           offset, RFC 3339 time or "head" (default head)
  --from, --to <point>   range of --step (default the whole log)
`;

type Mode = 'config' | 'diff' | 'explain' | 'step';

export async function replayCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine(argv, {
    config: { type: 'string', short: 'c' },
    'data-dir': { type: 'string' },
    log: { type: 'string' },
    proxy: { type: 'string', short: 'p' },
    at: { type: 'string' },
    diff: { type: 'string' },
    explain: { type: 'string' },
    step: { type: 'boolean' },
    from: { type: 'string' },
    to: { type: 'string' },
    kind: { type: 'string' },
    format: { type: 'string', short: 'o' },
    'trust-bundle': { type: 'string' },
  });
  if (flag(parsed, 'help')) {
    io.stdout(REPLAY_HELP);
    return 0;
  }
  if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`);
  const diff = stringOption(parsed, 'diff');
  const explain = stringOption(parsed, 'explain');
  const step = flag(parsed, 'step');
  const chosen = [diff !== undefined && '--diff', explain !== undefined && '--explain', step && '--step'].filter((x): x is string => x !== false);
  if (chosen.length > 1) throw new UsageError(`${chosen.join(' and ')} cannot be combined; pick one`);
  const mode: Mode = diff !== undefined ? 'diff' : explain !== undefined ? 'explain' : step ? 'step' : 'config';
  const proxy = stringOption(parsed, 'proxy');
  if (proxy === undefined && mode !== 'step') throw new UsageError('--proxy <uuid | namespace/serviceaccount> is required (only --step works without it)');
  const at = stringOption(parsed, 'at');
  if (at !== undefined && (mode === 'diff' || mode === 'step')) throw new UsageError(`--at does not apply to ${mode === 'diff' ? '--diff (give a..b)' : '--step (use --from/--to)'}`);
  if ((parsed.values.from !== undefined || parsed.values.to !== undefined) && mode !== 'step') throw new UsageError('--from and --to belong to --step');
  const formatText = stringOption(parsed, 'format');
  if (formatText !== undefined && !['json', 'yaml', ...(mode === 'step' ? ['text'] : [])].includes(formatText)) {
    throw new UsageError(`--format must be json or yaml${mode === 'step' ? ' or text' : ''} (got ${JSON.stringify(formatText)})`);
  }

  const r = await import('../replay/index.js');
  // Bad points fail before anything is loaded or read.
  const atPoint = at === undefined ? undefined : r.parsePoint(at, '--at');
  const range = diff === undefined ? undefined : r.parseRange(diff, '--diff');
  const from = stringOption(parsed, 'from');
  const to = stringOption(parsed, 'to');
  const fromPoint = from === undefined ? undefined : r.parsePoint(from, '--from');
  const toPoint = to === undefined ? undefined : r.parsePoint(to, '--to');
  const trustBundleFile = stringOption(parsed, 'trust-bundle');
  let trustBundle: string[] | undefined;
  if (trustBundleFile !== undefined) {
    const file = path.resolve(io.cwd, trustBundleFile);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`--trust-bundle ${trustBundleFile}: cannot read it (${(err as Error).message})`);
    }
    trustBundle = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)?.map((p) => `${p}\n`) ?? [];
    if (trustBundle.length === 0) throw new UsageError(`--trust-bundle ${trustBundleFile} holds no PEM certificate`);
  }

  const { resolveConfig } = await import('./main.js');
  const { openReplay } = await import('../replay/open.js');
  const config = resolveConfig(parsed, io);
  const logOption = stringOption(parsed, 'log');
  const kind = stringOption(parsed, 'kind');
  const session = await openReplay(config, {
    ...(logOption === undefined ? {} : { log: absoluteLocation(logOption, io.cwd) }),
    ...(kind === undefined ? {} : { kind }),
    ...(trustBundle === undefined ? {} : { trustBundle }),
    // Plugins log at load; stdout carries the answer, stderr only what went wrong.
    logger: io.logger ?? createLogger({ level: 'warn' }),
  });
  const replay = session.replay;
  const { describeProblem } = await import('../replay/open.js');
  for (const p of session.problems) {
    io.stderr(`weft replay: warning: the log is damaged past offset ${replay.timeline.lastOffset} (${describeProblem(p)}); the answer covers the log up to there\n`);
  }
  const format = (formatText ?? (mode === 'step' ? 'text' : 'json')) as 'json' | 'yaml' | 'text';
  const out = (value: unknown, where: string): void => io.stdout(r.render(value, format === 'yaml' ? 'yaml' : 'json', where));
  switch (mode) {
    case 'config':
      out(replay.envoyConfig(proxy!, atPoint ?? { type: 'head' }, kind), 'the config dump');
      return 0;
    case 'diff':
      out(replay.diff(proxy!, range!.from, range!.to, kind), 'the diff');
      return 0;
    case 'explain':
      out(replay.explain(proxy!, atPoint ?? { type: 'head' }, explain!, kind), 'the explanation');
      return 0;
    case 'step': {
      const it = replay.step({
        ...(proxy === undefined ? {} : { proxy }),
        ...(kind === undefined ? {} : { kind }),
        ...(fromPoint === undefined ? {} : { from: fromPoint }),
        ...(toPoint === undefined ? {} : { to: toPoint }),
      });
      const steps: unknown[] = [];
      for (;;) {
        const next = it.next();
        if (next.done === true) {
          const s = next.value;
          if (format === 'text') io.stdout(`${s.steps} batches (offsets ${s.from}..${s.to}), ${s.proxies} proxies followed at the end\n`);
          else out({ steps, summary: s }, 'the step report');
          return 0;
        }
        if (format === 'text') io.stdout(r.assertNoKeyMaterial(r.formatStep(next.value), 'the step report'));
        else steps.push(next.value);
      }
    }
  }
}

/** A relative directory (bare or file:) is relative to where the command runs. */
function absoluteLocation(location: string, cwd: string): string {
  if (location.startsWith('file://') || (/^[a-z][a-z0-9+.-]*:/i.test(location) && !location.startsWith('file:'))) return location;
  const dir = location.startsWith('file:') ? location.slice('file:'.length) : location;
  return `file:${path.resolve(cwd, dir)}`;
}
