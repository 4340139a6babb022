/**
 * The push-latency harness. For each system (weft, floor, full, gcp) in turn: start it in its own process,
 * connect N simulated proxies spread over worker processes (the connect storm), then apply each scenario
 * and measure, per proxy, the time from the append of the event to the ACK that completed its update.
 *
 *   npm run bench -- --proxies 1000 [--mode sotw|delta] [--systems weft,floor,full,gcp] [--scenarios ...]
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { buildDump, dumpMismatches, writeDump, type Dump } from './dump.js';
import { coldAndWarm, cpuPerChange, distribution, idleRateOf, observeStep, type CpuReading, type Distribution, type Phase, type StepObservation } from './measure.js';
import { buildScenarios, generateMesh, parseScenarios, SCENARIOS, type GeneratedMesh, type Scenario, type ScenarioName } from './mesh.js';
import { markdownReport } from './report.js';
import type { ChildReply, ChildRequest } from './server/child.js';
import { nowMicros, type ConnectMessage, type Mode, type ResponseRow, type WorkerReport } from './sim/worker.js';
import { TYPE_LABEL } from './sim/xds.js';

export const SYSTEMS = ['weft', 'floor', 'full', 'gcp'] as const;
export type SystemName = (typeof SYSTEMS)[number];

/**
 * Unmeasured changes between the cold change and the warm ones (`--warmup`). A Node server's optimizing
 * compiler is still compiling for some 20-25 s of changes after start (about 200 at 1k proxies, a change
 * every ~120 ms); go-control-plane is compiled ahead of time. The warm figures are a running server's.
 */
export const WARMUP = 200;

export const SYSTEM_LABEL: Readonly<Record<SystemName, string>> = {
  weft: 'Weft (incremental)',
  floor: 'floor (bare grpc-js, pre-encoded)',
  full: 'Weft, full recompute (OSM model)',
  gcp: 'go-control-plane v0.14.0',
};

export interface RunOptions {
  readonly proxies: number;
  readonly mode: Mode;
  readonly systems: readonly SystemName[];
  readonly scenarios: readonly ScenarioName[];
  readonly services: number;
  readonly endpoints: number;
  readonly calls: number;
  readonly seed: number;
  readonly perWorker: number;
  /** Warm changes after the cold one in each single-change scenario (endpoint, policy, service-added, rotation). */
  readonly repeats: number;
  /**
   * Changes between the cold one and the warm ones that nothing measures but that are graded like the others
   * (pushes to unaffected proxies, NACKs): a Node server's optimizing compiler is still busy for many seconds
   * after start, and the warm figures are meant to be a running server's.
   */
  readonly warmup: number;
  /** After a change's affected proxies all answered: how long nothing must arrive before the next change. */
  readonly gapMs: number;
  /** Where the Node servers' CPU profiles go, one per phase (`<system>-<N>-<mode>-<phase>.cpuprofile`); unset: none. */
  readonly cpuProfDir?: string;
  /**
   * Extra Node options for the Node servers (Weft, the floor, full recompute), e.g. `--perf-basic-prof` so
   * `perf record -p PID` names JIT frames. Not part of any recorded figure: runs for the tables use none.
   */
  readonly nodeArgs?: readonly string[];
  /** The fixed window over which each server's idle CPU rate is measured before each scenario. */
  readonly idleMs: number;
  /** A scenario ends once every proxy it changes has answered and nothing arrived for this long. */
  readonly quietMs: number;
  readonly timeoutMs: number;
  /** Where results go; undefined writes nothing. */
  readonly outDir: string | undefined;
  readonly gcpBin: string;
  readonly progress: boolean;
}

export { distribution, type Distribution };

export interface StormResult {
  readonly proxies: number;
  readonly configured: number;
  /** From the first stream opened to the last proxy fully configured. */
  readonly seconds: number;
  readonly responses: number;
  readonly bytes: number;
  readonly nacks: number;
  readonly serverCpuSeconds: number;
  /** From the start request until the server had every resource loaded (or derived) and listened. */
  readonly readySeconds: number;
  readonly serverRssBytes: number;
  /** RSS when ready, before any proxy connected: the baseline, taken at the same point for every system. */
  readonly readyRssBytes: number;
  /** (RSS with every proxy connected - RSS when ready) / proxies. */
  readonly rssPerProxyBytes: number;
  /** Streams the server ended during the storm (each proxy then opened a new one, as Envoy does). */
  readonly closedStreams: number;
}

export interface ScenarioResult {
  readonly scenario: ScenarioName;
  readonly description: string;
  readonly drive: 'repeat' | 'burst';
  readonly applies: boolean;
  readonly note?: string;
  /** Steps applied (for repeat: the cold change, the warm-up changes and the warm ones that ran). */
  readonly steps: number;
  /** Repeat: changes after the cold one left out of every figure but the unaffected and NACK counts. */
  readonly warmupSteps?: number;
  /** Idle server CPU, seconds per second, over the fixed window just before the scenario. */
  readonly idleCpu: number;
  /** Repeat: the first change of the scenario (for the first scenario, the first change after start). */
  readonly cold?: Phase & { readonly cpuSecondsPerChange: number };
  /**
   * The rest: for repeat, the warm changes (each waited for); for the burst, all of its steps. The fields
   * below describe this phase.
   */
  /** Sum over changes of the proxies each must reach (from the mesh). */
  readonly affected: number;
  readonly converged: number;
  /** ms from the change to the ACK completing each affected proxy's update (every change, every proxy). */
  readonly latencyMs: Distribution;
  /** Per change, ms to its last affected proxy's ACK (burst: one figure, first append to last ACK). */
  readonly perChangeMs: Distribution;
  readonly finalConvergenceMs: number;
  readonly responses: number;
  readonly responsesByType: Readonly<Record<string, number>>;
  /** Responses to proxies a change does not reach (should be 0). */
  readonly responsesToUnaffected: number;
  /** Policy scenario: responses to proxies outside the 1% it targets (must be 0). */
  readonly responsesOutsideTarget?: number;
  readonly bytes: number;
  readonly nacks: number;
  /** Server CPU seconds per change, idle rate x window subtracted (10 ms sampling grain at the window's end). */
  readonly cpuSecondsPerChange: number;
  /** The same without subtracting idle CPU. */
  readonly cpuSecondsPerChangeRaw: number;
  readonly error?: string;
}

export interface SystemResult {
  readonly system: SystemName;
  readonly label: string;
  readonly storm: StormResult;
  /** Idle server CPU, seconds per second, measured over one second after the storm (for information). */
  readonly idleCpu: number;
  readonly scenarios: readonly ScenarioResult[];
  readonly error?: string;
}

export interface RunResult {
  readonly date: string;
  readonly machine: { readonly cpus: number; readonly memoryGiB: number; readonly node: string; readonly platform: string; readonly loadAverage: readonly number[] };
  readonly options: Omit<RunOptions, 'outDir' | 'gcpBin' | 'progress'>;
  readonly mesh: { readonly services: number; readonly podsPerService: number; readonly proxies: number; readonly resources: number };
  readonly systems: readonly SystemResult[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[]): RunOptions {
  const opts: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}"`);
    const eq = a.indexOf('=');
    if (eq > 0) opts[a.slice(2, eq)] = a.slice(eq + 1);
    else if (a === '--no-write' || a === '--no-progress') opts[a.slice(2)] = 'true';
    else {
      const v = argv[i + 1];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      opts[a.slice(2)] = v;
      i++;
    }
  }
  const known = ['proxies', 'mode', 'systems', 'scenarios', 'services', 'endpoints', 'calls', 'seed', 'per-worker', 'repeats', 'warmup', 'gap-ms', 'idle-ms', 'quiet-ms', 'timeout-s', 'out', 'no-write', 'gcp-bin', 'no-progress', 'cpu-prof', 'node-args'];
  for (const k of Object.keys(opts)) if (!known.includes(k)) throw new UsageError(`unknown option --${k}; options: ${known.map((x) => `--${x}`).join(' ')}`);
  const int = (k: string, d: number, min: number): number => {
    const v = opts[k] === undefined ? d : Number(opts[k]);
    if (!Number.isInteger(v) || v < min) throw new UsageError(`--${k} must be an integer >= ${min}, got "${opts[k]}"`);
    return v;
  };
  const mode = opts.mode ?? 'sotw';
  if (mode !== 'sotw' && mode !== 'delta') throw new UsageError(`--mode must be sotw or delta, got "${mode}"`);
  const systems = (opts.systems ?? SYSTEMS.join(',')).split(',').filter((s) => s !== '');
  for (const s of systems) if (!(SYSTEMS as readonly string[]).includes(s)) throw new UsageError(`unknown system "${s}"; choose from ${SYSTEMS.join(', ')}`);
  let scenarios: ScenarioName[];
  try {
    scenarios = parseScenarios(opts.scenarios ?? SCENARIOS.join(','));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const benchDir = path.resolve(__dirname, '..');
  return {
    proxies: int('proxies', 1000, 1),
    mode,
    systems: systems as SystemName[],
    scenarios,
    services: int('services', 1000, 2),
    endpoints: int('endpoints', 3, 1),
    calls: int('calls', 5, 0),
    seed: int('seed', 1, 0),
    perWorker: int('per-worker', 2500, 1),
    repeats: int('repeats', 100, 0),
    warmup: int('warmup', WARMUP, 0),
    gapMs: int('gap-ms', 100, 0),
    idleMs: int('idle-ms', 1000, 100),
    quietMs: int('quiet-ms', 1000, 50),
    timeoutMs: int('timeout-s', 60, 1) * 1000,
    outDir: opts['no-write'] === 'true' ? undefined : path.resolve(opts.out ?? path.join(benchDir, 'results')),
    gcpBin: path.resolve(opts['gcp-bin'] ?? path.join(benchDir, 'gcp', 'bin', 'gcp-server')),
    progress: opts['no-progress'] !== 'true',
    cpuProfDir: opts['cpu-prof'] === undefined ? undefined : path.resolve(opts['cpu-prof']),
    nodeArgs: (opts['node-args'] ?? '').split(' ').filter((a) => a !== ''),
  };
}


/** A system's control channel: Node IPC for the TypeScript servers, JSON lines on stdio for the Go one. */
class ServerHandle {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (r: ChildReply) => void; reject: (e: Error) => void }>();
  private exited: Error | undefined;

  constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
    private readonly sendLine: (m: ChildRequest) => void,
  ) {
    proc.on('exit', (code, signal) => {
      this.exited = new Error(`${name} server exited (code ${code}, signal ${signal})`);
      for (const w of this.waiting.values()) w.reject(this.exited);
      this.waiting.clear();
    });
  }

  static node(name: string, args: readonly string[], nodeArgs: readonly string[] = []): ServerHandle {
    const proc = fork(path.join(__dirname, 'server', 'child.js'), [...args], { execArgv: ['--expose-gc', '--max-old-space-size=8192', ...nodeArgs], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const h = new ServerHandle(name, proc, (m) => proc.send(m));
    proc.on('message', (r: ChildReply) => h.onReply(r));
    return h;
  }

  static lines(name: string, bin: string, args: readonly string[]): ServerHandle {
    const proc = spawn(bin, [...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    const h = new ServerHandle(name, proc, (m) => proc.stdin!.write(`${JSON.stringify(m)}\n`));
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line.trim() === '') return;
      h.onReply(JSON.parse(line) as ChildReply);
    });
    return h;
  }

  private onReply(r: ChildReply): void {
    const w = this.waiting.get(r.id);
    if (w === undefined) return;
    this.waiting.delete(r.id);
    if (r.type === 'error') w.reject(new Error(`${this.name} server: ${r.message}`));
    else w.resolve(r);
  }

  call<T extends ChildReply['type']>(m: DistributiveOmit<ChildRequest, 'id'>, expect: T): Promise<Extract<ChildReply, { type: T }>> {
    if (this.exited !== undefined) return Promise.reject(this.exited);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, {
        resolve: (r) => (r.type === expect ? resolve(r as Extract<ChildReply, { type: T }>) : reject(new Error(`${this.name} server answered ${r.type} to ${m.type}`))),
        reject,
      });
      this.sendLine({ ...m, id } as ChildRequest);
    });
  }

  async stop(): Promise<void> {
    if (this.exited !== undefined) return;
    const done = new Promise<void>((r) => this.proc.once('exit', () => r()));
    await Promise.race([this.call({ type: 'stop' }, 'stopped').catch(() => undefined), sleep(5000)]);
    await Promise.race([done, sleep(3000)]);
    if (this.exited === undefined) this.proc.kill('SIGKILL');
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What the workers report, gathered for the current window. */
class Collector {
  rows: ResponseRow[] = [];
  lastArrival = 0;
  readonly configured = new Map<number, number>();
  readonly closed: { proxy: number; code: number; details: string }[] = [];
  connectedWorkers = 0;

  on(m: WorkerReport): void {
    switch (m.type) {
      case 'responses':
        for (const r of m.rows) this.rows.push(r);
        this.lastArrival = Date.now();
        break;
      case 'configured':
        for (const [p, at] of m.rows) if (!this.configured.has(p)) this.configured.set(p, at);
        this.lastArrival = Date.now();
        break;
      case 'closed':
        this.closed.push({ proxy: m.proxy, code: m.code, details: m.details });
        break;
      case 'connected':
        this.connectedWorkers++;
        break;
    }
  }

  reset(): ResponseRow[] {
    const r = this.rows;
    this.rows = [];
    return r;
  }
}

class Progress {
  private last = 0;
  constructor(private readonly enabled: boolean) {}
  line(text: string, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 500) return;
    this.last = now;
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
    else process.stderr.write(`${text}\n`);
  }
  done(text: string): void {
    if (!this.enabled) return;
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}\n`);
    else process.stderr.write(`${text}\n`);
  }
}

function sumBy<T>(xs: readonly T[], f: (x: T) => number): number {
  let s = 0;
  for (const x of xs) s += f(x);
  return s;
}

interface Prepared {
  readonly mesh: GeneratedMesh;
  readonly scenarios: readonly Scenario[];
  readonly dump: Dump;
  readonly dumpFile: string;
}

async function runSystem(system: SystemName, o: RunOptions, prep: Prepared, progress: Progress): Promise<SystemResult> {
  const { mesh, scenarios, dump } = prep;
  const N = mesh.proxies.length;
  const label = `[${system} ${N} ${o.mode}]`;
  let server: ServerHandle;
  if (system === 'gcp') {
    if (!fs.existsSync(o.gcpBin)) throw new Error(`${o.gcpBin} does not exist; build it with bench/gcp/build.sh (needs Go and the Go module proxy)`);
    server = ServerHandle.lines('gcp', o.gcpBin, ['--dump', prep.dumpFile]);
  } else {
    server = ServerHandle.node(system, system === 'full' ? ['--system', 'weft', '--full-recompute'] : ['--system', system], o.nodeArgs);
  }
  const workers: ChildProcess[] = [];
  const collector = new Collector();
  try {
    progress.line(`${label} starting the server (loading or deriving every proxy's resources)`, true);
    const startAt = Date.now();
    const started = await server.call(
      { type: 'start', mesh: { services: o.services, endpointsPerService: o.endpoints, proxies: o.proxies, calls: o.calls, seed: o.seed }, scenarios: o.scenarios, repeats: o.warmup + o.repeats, dumpFile: prep.dumpFile },
      'started',
    );
    const readySeconds = (Date.now() - startAt) / 1000;
    // The RSS baseline: every system has its resources ready and no proxy is connected yet.
    const before = (await server.call({ type: 'stats', gc: true }, 'stats')).stats;

    // Connect storm.
    const profile = phaseProfiler(server, system, o, N);
    await profile.start();
    const count = Math.max(1, Math.ceil(N / o.perWorker));
    for (let w = 0; w < count; w++) {
      const child = fork(path.join(__dirname, 'sim', 'worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', (m: WorkerReport) => collector.on(m));
      workers.push(child);
    }
    const t0 = nowMicros();
    workers.forEach((child, w) => {
      const proxies = mesh.proxies.map((p, i) => [i, p.nodeId] as const).filter(([i]) => i % count === w);
      const msg: ConnectMessage = { type: 'connect', target: `127.0.0.1:${started.port}`, mode: o.mode, proxies, perTick: 20, tickMs: 5 };
      child.send(msg);
    });
    const deadline = Date.now() + o.timeoutMs + N * 5;
    while (collector.configured.size < N && Date.now() < deadline) {
      progress.line(`${label} connect storm: ${collector.configured.size}/${N} configured, ${collector.rows.length} responses, ${((nowMicros() - t0) / 1e6).toFixed(1)} s`);
      await sleep(50);
    }
    // Late responses of the storm (re-subscriptions) belong to it, not to the first scenario.
    await waitQuiet(collector, o.quietMs, Date.now() + o.timeoutMs);
    await profile.stop('connect');
    const stormRows = collector.reset();
    const lastConfigured = Math.max(t0, ...collector.configured.values());
    const after = (await server.call({ type: 'stats', gc: true }, 'stats')).stats;
    const storm: StormResult = {
      proxies: N,
      configured: collector.configured.size,
      seconds: (lastConfigured - t0) / 1e6,
      responses: stormRows.length,
      bytes: sumBy(stormRows, (r) => r[2]),
      nacks: sumBy(stormRows, (r) => r[4]),
      serverCpuSeconds: (after.cpuMicros - before.cpuMicros) / 1e6,
      readySeconds,
      serverRssBytes: after.rss,
      readyRssBytes: before.rss,
      rssPerProxyBytes: (after.rss - before.rss) / N,
      closedStreams: collector.closed.length,
    };
    progress.done(
      `${label} connect storm: ${storm.configured}/${N} configured in ${storm.seconds.toFixed(2)} s, RSS ${(after.rss / 2 ** 20).toFixed(0)} MiB` +
        (collector.closed.length > 0 ? `, ${collector.closed.length} streams ended by the server and opened again (first: ${collector.closed[0]!.details})` : ''),
    );
    if (storm.configured < N) {
      return { system, label: SYSTEM_LABEL[system], storm, idleCpu: NaN, scenarios: [], error: `only ${storm.configured} of ${N} proxies were configured` };
    }

    // Idle CPU rate after the storm (reported); each scenario measures its own just before it runs.
    const idleCpu = await measureIdle(server, o.idleMs);
    collector.reset();

    const results: ScenarioResult[] = [];
    for (const [index, sc] of scenarios.entries()) {
      const dsc = dump.scenarios[index]!;
      // A scenario starts from an idle server, even when the previous one timed out with work still queued.
      await settle(server, Date.now() + o.timeoutMs, (busy) => progress.line(`${label} waiting for the server to go idle (${(busy * 100).toFixed(0)}% CPU)`));
      const idle = await measureIdle(server, o.idleMs);
      collector.reset();
      const run = sc.drive === 'burst' ? runBurst : runRepeat;
      await profile.start();
      const r = await run({ server, collector, mesh, sc, steps: dsc.steps.length, o, idle, progress: (t) => progress.line(`${label} ${sc.name}: ${t}`) });
      await profile.stop(sc.name);
      results.push(r);
      const cold = r.cold === undefined ? '' : `cold p99 ${r.cold.latencyMs.p99.toFixed(1)} ms, `;
      progress.done(
        `${label} ${sc.name}: ${cold}${sc.drive === 'burst' ? '' : 'warm '}p50 ${r.latencyMs.p50.toFixed(1)} p99 ${r.latencyMs.p99.toFixed(1)} ms over ${r.converged}/${r.affected} (proxy, change) pairs, ` +
          `${r.responses} responses (${r.responsesToUnaffected} to unaffected), CPU ${(r.cpuSecondsPerChange * 1000).toFixed(2)} ms/change (idle ${(idle * 100).toFixed(1)}% subtracted)` +
          (r.error === undefined ? '' : `; ${r.error}`),
      );
      if (r.error !== undefined) return { system, label: SYSTEM_LABEL[system], storm, idleCpu, scenarios: results, error: `${sc.name}: ${r.error}` };
    }
    return { system, label: SYSTEM_LABEL[system], storm, idleCpu, scenarios: results };
  } finally {
    for (const w of workers) {
      if (w.connected) w.send({ type: 'close' });
    }
    await sleep(200);
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await server.stop();
  }
}

/** Profiles one phase of a Node server at a time when `--cpu-prof` is given; does nothing otherwise. */
function phaseProfiler(server: ServerHandle, system: SystemName, o: RunOptions, n: number): { start(): Promise<void>; stop(phase: string): Promise<void> } {
  const dir = o.cpuProfDir;
  if (dir === undefined || system === 'gcp') return { start: async () => undefined, stop: async () => undefined };
  fs.mkdirSync(dir, { recursive: true });
  return {
    start: async () => void (await server.call({ type: 'profile' }, 'profiled')),
    stop: async (phase) => void (await server.call({ type: 'profile', file: path.join(dir, `${system}-${n}-${o.mode}-${phase}.cpuprofile`) }, 'profiled')),
  };
}

/**
 * The server's idle CPU rate (seconds per second) over a fixed window, for every system alike: read every
 * ~500 ms, the median of the sub-windows' rates (`idleRateOf`).
 */
async function measureIdle(server: ServerHandle, ms: number): Promise<number> {
  const parts = Math.max(1, Math.round(ms / IDLE_SUB_WINDOW_MS));
  const read = async (): Promise<CpuReading> => ({ cpuMicros: (await server.call({ type: 'stats' }, 'stats')).stats.cpuMicros, ms: Date.now() });
  const readings = [await read()];
  for (let i = 0; i < parts; i++) {
    await sleep(ms / parts);
    readings.push(await read());
  }
  return idleRateOf(readings);
}

const IDLE_SUB_WINDOW_MS = 500;

interface ScenarioRun {
  readonly server: ServerHandle;
  readonly collector: Collector;
  readonly mesh: GeneratedMesh;
  readonly sc: Scenario;
  readonly steps: number;
  readonly o: RunOptions;
  readonly idle: number;
  readonly progress: (text: string) => void;
}

/** Asks the server to apply (a step of) a scenario; undefined if it did not finish within the timeout. */
async function applyBounded(r: ScenarioRun, step: number | undefined): Promise<Extract<ChildReply, { type: 'applied' }> | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const applied = await Promise.race([
    r.server.call({ type: 'apply', scenario: r.sc.name, ...(step === undefined ? {} : { step }) }, 'applied'),
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), r.o.timeoutMs))),
  ]);
  clearTimeout(timer);
  return applied;
}

function typesOf(rows: readonly ResponseRow[], into: Record<string, number>): void {
  for (const r of rows) {
    const t = TYPE_LABEL[r[1]] ?? '?';
    into[t] = (into[t] ?? 0) + 1;
  }
}

function outsideTarget(sc: Scenario, mesh: GeneratedMesh, rows: readonly ResponseRow[]): number {
  if (sc.expectedNodes === undefined) return 0;
  let n = 0;
  for (const r of rows) if (!sc.expectedNodes.has(mesh.proxies[r[0]]!.nodeId)) n++;
  return n;
}

/**
 * A single-change scenario: step 0 (cold) and every warm step in turn, each applied alone, then waited for
 * until every proxy the mesh says it reaches has answered after it and nothing arrived for `gapMs`.
 */
async function runRepeat(r: ScenarioRun): Promise<ScenarioResult> {
  const { collector, mesh, sc, o } = r;
  const obs: StepObservation[] = [];
  const byType: Record<string, number> = {};
  let outside = 0;
  let error: string | undefined;
  let coldCpu = NaN;
  let warm0: { cpu: number; at: number } | undefined;
  let lastAck = 0;
  const firstWarm = 1 + o.warmup;
  for (let k = 0; k < r.steps; k++) {
    const expected = new Set([...r.sc.expected[k]!].map((n) => nodeIndex(mesh, n)));
    // CPU readings only where a window starts (the cold change, the first warm one): no extra control
    // traffic between warm changes.
    const s0 = k === 0 || k === firstWarm ? (await r.server.call({ type: 'stats' }, 'stats')).stats : undefined;
    const t0 = nowMicros();
    if (k === firstWarm) warm0 = { cpu: s0!.cpuMicros, at: t0 };
    collector.reset();
    const applied = await applyBounded(r, k);
    if (applied === undefined) {
      error = `the server did not apply step ${k} within ${o.timeoutMs / 1000} s; this and later scenarios were abandoned`;
      break;
    }
    const at = applied.appendAt[0]!;
    const returned = Date.now();
    const end = returned + o.timeoutMs;
    for (;;) {
      const seen = new Set<number>();
      for (const row of collector.rows) if (row[3] >= at && expected.has(row[0])) seen.add(row[0]);
      const quiet = Date.now() - Math.max(collector.lastArrival, returned) >= o.gapMs;
      if ((seen.size >= expected.size && quiet) || Date.now() > end) break;
      if (k % 10 === 0) r.progress(`change ${k + 1}/${r.steps}: ${seen.size}/${expected.size} answered`);
      await sleep(seen.size >= expected.size ? 5 : 2);
    }
    const rows = collector.reset();
    const ob = observeStep(at, rows, expected);
    obs.push(ob);
    typesOf(rows, byType);
    outside += outsideTarget(sc, mesh, rows);
    lastAck = ob.lastAckMicros;
    if (k === 0) {
      const c1 = (await r.server.call({ type: 'stats', at: lastAck }, 'stats')).stats;
      coldCpu = cpuPerChange((c1.cpuAtMicros ?? c1.cpuMicros) - s0!.cpuMicros, lastAck - t0, r.idle, 1);
    }
    if (ob.latenciesMs.length < expected.size) {
      error = `change ${k}: only ${ob.latenciesMs.length} of ${expected.size} affected proxies answered within ${o.timeoutMs / 1000} s; this and later scenarios were abandoned`;
      break;
    }
  }
  let warmCpu = NaN;
  let warmCpuRaw = NaN;
  const warmSteps = obs.length - firstWarm;
  if (warm0 !== undefined && warmSteps > 0) {
    const c1 = (await r.server.call({ type: 'stats', at: lastAck }, 'stats')).stats;
    const used = (c1.cpuAtMicros ?? c1.cpuMicros) - warm0.cpu;
    warmCpu = cpuPerChange(used, lastAck - warm0.at, r.idle, warmSteps);
    warmCpuRaw = cpuPerChange(used, lastAck - warm0.at, 0, warmSteps);
  }
  const { cold, warm, warmup } = coldAndWarm(obs, o.warmup);
  return {
    scenario: sc.name,
    description: sc.description,
    drive: 'repeat',
    applies: true,
    ...(sc.name === 'rotation' ? { note: 'certificate material set on the engine (not a log event); floor and go-control-plane replay the SDS change Weft produced' } : {}),
    steps: obs.length,
    warmupSteps: warmup.changes,
    idleCpu: r.idle,
    ...(cold === undefined ? {} : { cold: { ...cold, cpuSecondsPerChange: coldCpu } }),
    affected: warm.affected,
    converged: warm.converged,
    latencyMs: warm.latencyMs,
    perChangeMs: warm.perChangeMs,
    finalConvergenceMs: warm.perChangeMs.max,
    responses: warm.responses,
    responsesByType: byType,
    responsesToUnaffected: warm.responsesToUnaffected + warmup.responsesToUnaffected + (cold?.responsesToUnaffected ?? 0),
    ...(sc.expectedNodes === undefined ? {} : { responsesOutsideTarget: outside }),
    bytes: warm.bytes,
    nacks: warm.nacks + warmup.nacks + (cold?.nacks ?? 0),
    cpuSecondsPerChange: warmCpu,
    cpuSecondsPerChangeRaw: warmCpuRaw,
    ...(error === undefined ? {} : { error }),
  };
}

/** The burst: the server applies every step itself, `intervalMs` apart; each proxy is graded from the last step that reaches it. */
async function runBurst(r: ScenarioRun): Promise<ScenarioResult> {
  const { collector, mesh, sc, o } = r;
  const lastStep = new Map<number, number>();
  sc.expected.forEach((set, k) => set.forEach((n) => lastStep.set(nodeIndex(mesh, n), k)));
  const cpu0 = (await r.server.call({ type: 'stats' }, 'stats')).stats;
  const t0 = nowMicros();
  const w0 = Date.now();
  collector.reset();
  const applied = await applyBounded(r, undefined);
  const base = {
    scenario: sc.name,
    description: sc.description,
    drive: 'burst' as const,
    applies: true,
    steps: r.steps,
    idleCpu: r.idle,
  };
  if (applied === undefined) {
    const empty = distribution([]);
    return {
      ...base,
      affected: lastStep.size,
      converged: 0,
      latencyMs: empty,
      perChangeMs: empty,
      finalConvergenceMs: NaN,
      responses: 0,
      responsesByType: {},
      responsesToUnaffected: 0,
      bytes: 0,
      nacks: 0,
      cpuSecondsPerChange: NaN,
      cpuSecondsPerChangeRaw: NaN,
      error: `the server did not finish applying the ${r.steps} step(s) within ${o.timeoutMs / 1000} s; this and later scenarios were abandoned`,
    };
  }
  const end = Date.now() + o.timeoutMs;
  for (;;) {
    const seen = new Set<number>();
    for (const row of collector.rows) {
      const k = lastStep.get(row[0]);
      if (k !== undefined && row[3] >= applied.appendAt[k]!) seen.add(row[0]);
    }
    const quiet = Date.now() - Math.max(collector.lastArrival, w0) >= o.quietMs;
    if ((seen.size >= lastStep.size && quiet) || Date.now() > end) break;
    r.progress(`${seen.size}/${lastStep.size} affected proxies answered, ${collector.rows.length} responses`);
    await sleep(50);
  }
  const rows = collector.reset();
  // Each proxy's window starts at the last step that reaches it; a response to a proxy no step reaches is unaffected.
  const lat: number[] = [];
  const ack = new Map<number, number>();
  let unaffected = 0;
  for (const row of rows) {
    const k = lastStep.get(row[0]);
    if (k === undefined) unaffected++;
    else if (row[3] >= applied.appendAt[k]!) ack.set(row[0], Math.max(ack.get(row[0]) ?? 0, row[3]));
  }
  for (const [p, t] of ack) lat.push((t - applied.appendAt[lastStep.get(p)!]!) / 1000);
  const first = applied.appendAt[0] ?? t0;
  const lastAck = ack.size === 0 ? first : Math.max(...ack.values());
  const c1 = (await r.server.call({ type: 'stats', at: lastAck }, 'stats')).stats;
  const used = (c1.cpuAtMicros ?? c1.cpuMicros) - cpu0.cpuMicros;
  const byType: Record<string, number> = {};
  typesOf(rows, byType);
  const final = (lastAck - first) / 1000;
  return {
    ...base,
    affected: lastStep.size,
    converged: lat.length,
    latencyMs: distribution(lat),
    perChangeMs: distribution([final]),
    finalConvergenceMs: final,
    responses: rows.length,
    responsesByType: byType,
    responsesToUnaffected: unaffected,
    ...(sc.expectedNodes === undefined ? {} : { responsesOutsideTarget: outsideTarget(sc, mesh, rows) }),
    bytes: sumBy(rows, (x) => x[2]),
    nacks: sumBy(rows, (x) => x[4]),
    cpuSecondsPerChange: cpuPerChange(used, lastAck - t0, r.idle, r.steps),
    cpuSecondsPerChangeRaw: cpuPerChange(used, lastAck - t0, 0, r.steps),
  };
}

/** Waits until the server uses under 10% of a core over half a second. */
async function settle(server: ServerHandle, deadline: number, report: (busy: number) => void): Promise<void> {
  for (;;) {
    const a = (await server.call({ type: 'stats' }, 'stats')).stats.cpuMicros;
    const t = Date.now();
    await sleep(500);
    const busy = ((await server.call({ type: 'stats' }, 'stats')).stats.cpuMicros - a) / 1000 / (Date.now() - t);
    if (busy < 0.1 || Date.now() > deadline) return;
    report(busy);
  }
}

async function waitQuiet(c: Collector, quietMs: number, deadline: number): Promise<void> {
  while (Date.now() - c.lastArrival < quietMs && Date.now() < deadline) await sleep(50);
}

const nodeIndexCache = new WeakMap<GeneratedMesh, Map<string, number>>();
function nodeIndex(mesh: GeneratedMesh, node: string): number {
  let m = nodeIndexCache.get(mesh);
  if (m === undefined) {
    m = new Map(mesh.proxies.map((p, i) => [p.nodeId, i]));
    nodeIndexCache.set(mesh, m);
  }
  const i = m.get(node);
  if (i === undefined) throw new Error(`the dump names node "${node}", which is not a generated proxy`);
  return i;
}

export async function runBenchmark(o: RunOptions): Promise<RunResult> {
  const progress = new Progress(o.progress);
  const mesh = generateMesh({ services: o.services, endpointsPerService: o.endpoints, proxies: o.proxies, calls: o.calls, seed: o.seed });
  const scenarios = buildScenarios(mesh, o.scenarios, { repeats: o.warmup + o.repeats });
  progress.line(`generated ${o.services} services, ${mesh.podsPerService} pods each, ${mesh.proxies.length} proxies; dumping Weft's resources`, true);
  const dump = await buildDump(mesh, scenarios);
  // "Affected" comes from the mesh; Weft's dump (the bytes the floor and go-control-plane replay) must agree.
  const mismatches = dumpMismatches(dump, scenarios);
  if (mismatches.length > 0) {
    throw new Error(`Weft's dumped output and the mesh's expectation disagree on which proxies change:\n  ${mismatches.slice(0, 20).join('\n  ')}${mismatches.length > 20 ? `\n  ... ${mismatches.length - 20} more` : ''}`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-bench-'));
  const dumpFile = path.join(dir, 'dump.json');
  writeDump(dump, dumpFile);
  const prep: Prepared = { mesh, scenarios, dump, dumpFile };
  const systems: SystemResult[] = [];
  try {
    for (const s of o.systems) {
      try {
        systems.push(await runSystem(s, o, prep, progress));
      } catch (err) {
        progress.done(`[${s}] failed: ${(err as Error).message}`);
        systems.push({ system: s, label: SYSTEM_LABEL[s], storm: emptyStorm(mesh.proxies.length), idleCpu: NaN, scenarios: [], error: (err as Error).message });
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const { outDir: _o, gcpBin: _g, progress: _p, ...options } = o;
  return {
    date: new Date().toISOString().slice(0, 10),
    machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}`, loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100) },
    options,
    mesh: { services: o.services, podsPerService: mesh.podsPerService, proxies: mesh.proxies.length, resources: dump.resources.length },
    systems,
  };
}

function emptyStorm(n: number): StormResult {
  return { proxies: n, configured: 0, seconds: NaN, responses: 0, bytes: 0, nacks: 0, serverCpuSeconds: NaN, readySeconds: NaN, serverRssBytes: NaN, readyRssBytes: NaN, rssPerProxyBytes: NaN, closedStreams: 0 };
}

/** Stores the run: one file per scenario (plus "connect"), each accumulating runs keyed by N and mode. */
export function writeResults(run: RunResult, outDir: string): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  const names = ['connect', ...run.options.scenarios];
  for (const name of names) {
    const file = path.join(outDir, `${run.date}-${name}.json`);
    const existing: { runs: unknown[] } = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { runs: unknown[] }) : { runs: [] };
    const entry = {
      proxies: run.mesh.proxies,
      mode: run.options.mode,
      machine: run.machine,
      mesh: run.mesh,
      systems: run.systems.map((s) => ({
        system: s.system,
        label: s.label,
        ...(s.error === undefined ? {} : { error: s.error }),
        ...(name === 'connect' ? { storm: s.storm, idleCpu: s.idleCpu } : { result: s.scenarios.find((x) => x.scenario === name) ?? null }),
      })),
    };
    const runs = existing.runs.filter((r) => {
      const x = r as { proxies: number; mode: string; systems: { system: string }[] };
      if (x.proxies !== entry.proxies || x.mode !== entry.mode) return true;
      // The same N and mode: keep the systems this run did not measure.
      x.systems = x.systems.filter((s) => !run.options.systems.includes(s.system as SystemName));
      return x.systems.length > 0;
    });
    runs.push(entry);
    fs.writeFileSync(file, `${JSON.stringify({ scenario: name, runs }, null, 1)}\n`);
    written.push(file);
  }
  const subset = run.options.systems.length === SYSTEMS.length ? '' : `-${run.options.systems.join('-')}`;
  const md = path.join(outDir, `${run.date}-${run.mesh.proxies}-${run.options.mode}${subset}.md`);
  fs.writeFileSync(md, markdownReport(run));
  written.push(md);
  return written;
}

/** `--help`: every option, its default and what it is for. */
export const HELP = `usage: npm run bench -- [options]

Runs Weft, the floor (a bare grpc-js server sending what Weft sends), full recompute and go-control-plane
one after another against the same simulated proxies, and writes a markdown report with each issue-16
target marked met or not (to stdout) and the figures as JSON and markdown (to --out).

  --proxies N         simulated proxies (default 1000)
  --mode M            sotw or delta (default sotw)
  --systems LIST      of ${SYSTEMS.join(',')} (default all)
  --scenarios LIST    of ${SCENARIOS.join(',')} (default all)
  --services N        services in the generated mesh (default 1000); --endpoints N pods each (default 3);
                      --calls N services each calls (default 5); --seed N (default 1)
  --repeats N         warm changes measured after the cold one in each single-change scenario (default 100)
  --warmup N          changes between the cold one and the warm ones that no figure counts but the
                      unaffected and NACK counts (default ${WARMUP}: a Node server's JIT is still compiling;
                      with --systems full, whose every change rebuilds everything, pass a few)
  --gap-ms N          quiet after a change's last ACK before the next change (default 100)
  --idle-ms N         window over which idle CPU is measured before each scenario (default 1000)
  --quiet-ms N        quiet that ends the connect storm and the burst (default 1000)
  --timeout-s N       how long any phase may take (default 60)
  --per-worker N      simulated proxies per worker thread (default 2500)
  --out DIR           where results go (default bench/results); --no-write writes nothing
  --gcp-bin PATH      the go-control-plane server (default bench/gcp/bin/gcp-server; bench/gcp/build.sh builds it)
  --cpu-prof DIR      V8 CPU profile of each phase of the Node servers, into DIR
  --node-args "ARGS"  extra Node options for the Node servers (e.g. --perf-basic-prof); not for recorded runs
  --no-progress       no progress lines on stderr
`;

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  let o: RunOptions;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\nusage: npm run bench -- --proxies 1000 [--mode sotw|delta] [--systems ${SYSTEMS.join(',')}] [--scenarios ${SCENARIOS.join(',')}] (--help: every option)\n`);
      process.exit(2);
    }
    throw err;
  }
  const run = await runBenchmark(o);
  process.stdout.write(markdownReport(run));
  if (o.outDir !== undefined) for (const f of writeResults(run, o.outDir)) process.stderr.write(`wrote ${f}\n`);
  if (run.systems.some((s) => s.error !== undefined)) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
