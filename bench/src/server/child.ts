/**
 * A system under test in its own process, so that its CPU and memory are its own. The harness drives it
 * over the IPC channel: start, apply a scenario (this process appends the events and reports when, taken
 * just before each append, in epoch microseconds), and stats (CPU, RSS).
 *
 *   node child.js --system weft [--full-recompute]   Weft: event log -> catalog -> engine -> ADS server
 *   node child.js --system floor                     bare gRPC server replaying Weft's dumped bytes
 */
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import { CertExternals, silentLogger, type DerivationEngine, type Subscription } from '@weft/core';
import { normalizeConfig, XdsServer, type Engine } from '@weft/core/testing';
import { ENVOY_TYPE_URLS } from '@weft/plugin-envoy';
import { readDump } from '../dump.js';
import { buildScenarios, generateMesh, type MeshOptions, type Scenario, type ScenarioName } from '../mesh.js';
import { nowMicros } from '../sim/worker.js';
import { buildWeftState, fakeServiceCert, setCertificates, type WeftState } from '../weft-state.js';
import { FloorServer } from './floor.js';
import { FullRecomputeEngine } from './full-recompute.js';

export type ChildRequest =
  | { readonly type: 'start'; readonly id: number; readonly mesh: MeshOptions; readonly scenarios: readonly ScenarioName[]; readonly repeats?: number; readonly dumpFile?: string }
  /** Without `step`: every step of the scenario, `intervalMs` apart (the burst). With it: that step only. */
  | { readonly type: 'apply'; readonly id: number; readonly scenario: ScenarioName; readonly step?: number }
  /**
   * `gc`: collect garbage first (for memory figures; never between CPU samples of a scenario). `at` (epoch µs):
   * also answer the CPU time sampled at the first sample at or after that moment (`cpuAtMicros`).
   */
  | { readonly type: 'stats'; readonly id: number; readonly gc?: boolean; readonly at?: number }
  /** Starts the CPU profiler, or stops it and writes the profile to `file` (`--cpu-prof`). */
  | { readonly type: 'profile'; readonly id: number; readonly file?: string }
  | { readonly type: 'stop'; readonly id: number };

export interface CpuStats {
  /** process.cpuUsage(): user + system, microseconds. */
  readonly cpuMicros: number;
  /** CPU time at the sample asked for with `at`. */
  readonly cpuAtMicros?: number;
  readonly rss: number;
  readonly heapUsed: number;
}

export type ChildReply =
  | { readonly type: 'started'; readonly id: number; readonly port: number; readonly stats: CpuStats }
  | { readonly type: 'applied'; readonly id: number; readonly appendAt: readonly number[]; readonly stats: CpuStats }
  | { readonly type: 'stats'; readonly id: number; readonly stats: CpuStats }
  | { readonly type: 'stopped'; readonly id: number }
  | { readonly type: 'profiled'; readonly id: number }
  | { readonly type: 'error'; readonly id: number; readonly message: string };

export function cpuStats(): CpuStats {
  const c = process.cpuUsage();
  const m = process.memoryUsage();
  return { cpuMicros: c.user + c.system, rss: m.rss, heapUsed: m.heapUsed };
}

/** The V8 CPU profiler over one phase of a run (the storm, a scenario): started, then stopped into a file. */
class PhaseProfiler {
  private session: inspector.Session | undefined;

  async toggle(file: string | undefined): Promise<void> {
    if (file === undefined) {
      this.session ??= new inspector.Session();
      this.session.connect();
      await this.post('Profiler.enable');
      await this.post('Profiler.start');
      return;
    }
    const { profile } = (await this.post('Profiler.stop')) as { profile: object };
    this.session?.disconnect();
    this.session = undefined;
    fs.writeFileSync(file, JSON.stringify(profile));
  }

  private post(method: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.session === undefined) return reject(new Error(`profiler: ${method} without a started profile`));
      this.session.post(method, (err, result) => (err === null ? resolve(result) : reject(err)));
    });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * CPU time sampled every 10 ms, so the harness can read the CPU spent up to the moment the last proxy ACKed
 * rather than up to whenever it noticed the system had gone quiet.
 */
class CpuSampler {
  private readonly times: number[] = [];
  private readonly cpu: number[] = [];
  private readonly timer = setInterval(() => this.sample(), 10);
  constructor() {
    this.timer.unref();
    this.sample();
  }
  private sample(): void {
    const c = process.cpuUsage();
    this.times.push(nowMicros());
    this.cpu.push(c.user + c.system);
    // Ten minutes of samples are plenty for one scenario.
    if (this.times.length > 60_000) {
      this.times.splice(0, 30_000);
      this.cpu.splice(0, 30_000);
    }
  }
  async at(t: number): Promise<number> {
    const deadline = Date.now() + 2000;
    while (this.times[this.times.length - 1]! < t && Date.now() < deadline) await sleep(10);
    let lo = 0;
    let hi = this.times.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.times[mid]! >= t) hi = mid;
      else lo = mid + 1;
    }
    return this.cpu[lo]!;
  }
}

interface System {
  readonly port: number;
  /** Applies the steps `steps` of the scenario (all when undefined); returns each step's time (epoch µs). */
  apply(scenario: Scenario, index: number, only: number | undefined): Promise<number[]>;
  close(): Promise<void>;
}

async function startWeftSystem(mesh: ReturnType<typeof generateMesh>, full: boolean): Promise<System> {
  const st: WeftState = await buildWeftState(mesh);
  let engine: DerivationEngine = st.engine;
  if (full) {
    const fe = new FullRecomputeEngine(st.catalog);
    const seeded: Pick<Engine, 'setExternal'> = { setExternal: (name, value) => (fe.seedExternal(name, value), new Set<string>()) };
    setCertificates(seeded, mesh);
    engine = fe;
  }
  // The ADS settings a user gets from weft.yaml's defaults, as \`weft start\` passes them (the server's own
  // defaults are the tests' and may differ: its flush slice is 64 proxies, weft.yaml's 256).
  const defaults = normalizeConfig({}, { file: null, label: 'defaults', configDir: process.cwd() }).xds;
  const xds = new XdsServer({
    engine,
    adapters: new Map([[st.adapter.kind, st.adapter]]),
    tls: { mode: 'insecure' },
    maxProxies: mesh.proxies.length + 1000,
    coalesceMs: defaults.coalesceMs,
    maxConcurrentPushes: defaults.maxConcurrentPushes,
    idleConnectionTimeoutMs: defaults.idleConnectionTimeoutMs,
    bufferPoolSize: defaults.bufferPoolBytes,
    logger: silentLogger,
  });
  // Ready before any proxy connects, like the floor and go-control-plane (which load pre-encoded resources):
  // every proxy's resources are derived and encoded now, so the RSS baseline and the connect storm measure
  // the same thing for every system (what connecting proxies cost, not translation).
  // Held as the ADS server holds them: each proxy's views and the shared sets they name (a root per proxy and
  // type held here as well would be invalidated with every change, and weigh on the RSS, for nobody).
  for (const p of mesh.proxies) {
    const views = st.adapter.views(p);
    engine.retain(views.id);
    const sets = engine.get(views).value;
    for (const t of ENVOY_TYPE_URLS) {
      const spec = sets.get(t)!;
      engine.retain(spec.id);
      engine.get(spec);
    }
  }
  const port = await xds.listen('127.0.0.1', 0);
  // What the runtime does for each batch: fold, invalidate what it touched, tell the proxies holding it.
  const sub: Subscription = st.log.follow(st.log.head(), (batch) => {
    const changes = st.catalog.apply(batch);
    const ids = engine.invalidate(changes.keys);
    if (ids.size > 0) xds.notify(ids, { offsets: changes.offsets, appendedAt: batch.events[batch.events.length - 1]?.time ?? Date.now() });
  });
  return {
    port,
    async apply(scenario, _index, only) {
      const at: number[] = [];
      for (const [i, step] of scenario.steps.entries()) {
        if (only !== undefined && i !== only) continue;
        if (only === undefined && i > 0 && scenario.intervalMs > 0) await sleep(scenario.intervalMs);
        at.push(nowMicros());
        if (step.kind === 'events') {
          await st.log.append(step.events);
        } else {
          // Rotation is not a log event: the certificate manager hands the engine new material.
          const ids = engine.setExternal(CertExternals.serviceCert(step.namespace, step.serviceAccount), fakeServiceCert(step.namespace, step.serviceAccount, step.generation));
          xds.notify(ids, { offsets: [], appendedAt: Date.now() });
        }
      }
      return at;
    },
    async close() {
      await sub.close();
      await xds.close();
    },
  };
}

async function startFloor(dumpFile: string): Promise<System> {
  const dump = readDump(dumpFile);
  const floor = new FloorServer(dump);
  const port = await floor.listen('127.0.0.1');
  return {
    port,
    async apply(scenario, index, only) {
      const steps = dump.scenarios[index];
      if (steps === undefined || steps.name !== scenario.name) throw new Error(`the dump has no scenario "${scenario.name}" at position ${index}`);
      const at: number[] = [];
      for (const [i, step] of steps.steps.entries()) {
        if (only !== undefined && i !== only) continue;
        if (only === undefined && i > 0 && steps.intervalMs > 0) await sleep(steps.intervalMs);
        at.push(nowMicros());
        floor.applyStep(step);
      }
      return at;
    },
    async close() {
      floor.close();
    },
  };
}

function main(): void {
  const argv = process.argv.slice(2);
  const sys = argv[argv.indexOf('--system') + 1];
  const full = argv.includes('--full-recompute');
  if (argv.indexOf('--system') < 0 || (sys !== 'weft' && sys !== 'floor')) {
    process.stderr.write('usage: child.js --system weft|floor [--full-recompute]\n');
    process.exit(2);
  }
  let system: System | undefined;
  let scenarios: Scenario[] = [];
  const sampler = new CpuSampler();
  const profiler = new PhaseProfiler();
  const reply = (r: ChildReply): void => {
    process.send?.(r);
  };
  const handle = async (m: ChildRequest): Promise<void> => {
    switch (m.type) {
      case 'start': {
        const mesh = generateMesh(m.mesh);
        scenarios = buildScenarios(mesh, m.scenarios, m.repeats === undefined ? {} : { repeats: m.repeats });
        if (sys === 'floor') {
          if (m.dumpFile === undefined) throw new Error('the floor needs dumpFile');
          system = await startFloor(m.dumpFile);
        } else system = await startWeftSystem(mesh, full);
        reply({ type: 'started', id: m.id, port: system.port, stats: cpuStats() });
        return;
      }
      case 'apply': {
        const index = scenarios.findIndex((s) => s.name === m.scenario);
        if (system === undefined || index < 0) throw new Error(`cannot apply "${m.scenario}": not started or not a configured scenario`);
        const sc = scenarios[index]!;
        if (m.step !== undefined && (m.step < 0 || m.step >= sc.steps.length)) throw new Error(`scenario "${m.scenario}" has no step ${m.step}`);
        const appendAt = await system.apply(sc, index, m.step);
        reply({ type: 'applied', id: m.id, appendAt, stats: cpuStats() });
        return;
      }
      case 'stats': {
        if (m.gc === true && global.gc !== undefined) global.gc();
        const stats = cpuStats();
        reply({ type: 'stats', id: m.id, stats: m.at === undefined ? stats : { ...stats, cpuAtMicros: await sampler.at(m.at) } });
        return;
      }
      case 'profile':
        await profiler.toggle(m.file);
        reply({ type: 'profiled', id: m.id });
        return;
      case 'stop':
        await system?.close();
        reply({ type: 'stopped', id: m.id });
        setTimeout(() => process.exit(0), 20);
        return;
    }
  };
  process.on('message', (m: ChildRequest) => {
    handle(m).catch((err: unknown) => reply({ type: 'error', id: m.id, message: (err as Error).stack ?? String(err) }));
  });
  process.on('disconnect', () => process.exit(0));
}

if (require.main === module) main();
