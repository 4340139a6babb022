/**
 * Weft's translation cost per change, without the network: the push benchmark's mesh and scenarios, applied
 * to the log, folded into the catalog, invalidated, and every affected proxy's resource sets brought up to
 * date through the engine, as a push would. What it leaves out (the session, gRPC, the proxies) is what
 * `npm run bench` measures; this isolates the part Weft does and go-control-plane does not, with far less
 * noise than a run with thousands of streams.
 *
 *   npm run bench:translate -w bench -- [--proxies 1000] [--scenarios endpoint,policy,burst] [--changes 400] [--rounds 5]
 *
 * Per scenario: CPU ms per change (median of the rounds after the first, which warms the code up; a round
 * that changes nothing, as the burst replayed onto its own end state, is not counted; process CPU, so
 * garbage collection is included),
 * the affected roots per change, and heap allocated per change (heap growth between collections).
 */
import { performance } from 'node:perf_hooks';
import { ENVOY_TYPE_URLS } from '@weft/plugin-envoy';
import type { DerivationSpec } from '@weft/core';
import { median } from './measure.js';
import { buildScenarios, generateMesh, parseScenarios, type ScenarioName } from './mesh.js';
import { arg, cpuMs, stringArg } from './util.js';
import { appendAndRead, buildWeftState } from './weft-state.js';

interface Options {
  readonly proxies: number;
  readonly scenarios: readonly ScenarioName[];
  readonly changes: number;
  readonly rounds: number;
}

export interface TranslateResult {
  readonly scenario: ScenarioName;
  /** CPU ms per change in the first round (code still warming up). */
  readonly firstMs: number;
  /** CPU ms per change, one figure per later round that changed something (the first when it is alone). */
  readonly cpuMs: readonly number[];
  readonly rootsPerChange: number;
  /** Bytes allocated per change on the JS heap (heap growth, collections excluded). */
  readonly allocatedBytes: number;
}

const OPTIONS = ['proxies', 'scenarios', 'changes', 'rounds'];

function parse(argv: readonly string[]): Options {
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!;
    if (!k.startsWith('--') || argv[i + 1] === undefined) throw new Error(`expected --option value pairs, got "${argv.slice(i).join(' ')}"`);
    if (!OPTIONS.includes(k.slice(2))) throw new Error(`unknown option ${k}; options: ${OPTIONS.map((o) => `--${o}`).join(' ')}`);
  }
  const scenarios = parseScenarios(stringArg('scenarios') ?? 'endpoint,policy,burst').filter((s) => s !== 'rotation');
  return { proxies: arg('proxies', 1000), scenarios, changes: arg('changes', 400), rounds: arg('rounds', 5) };
}

export async function translateBench(o: Options, report: (line: string) => void = () => undefined): Promise<TranslateResult[]> {
  const mesh = generateMesh({ proxies: o.proxies });
  const st = await buildWeftState(mesh);
  const roots = new Map<string, DerivationSpec<unknown>>();
  for (const p of mesh.proxies) {
    for (const t of ENVOY_TYPE_URLS) {
      const spec = st.adapter.resources(p, t);
      st.engine.retain(spec.id);
      st.engine.get(spec);
      roots.set(spec.id, spec);
    }
  }
  report(`${mesh.proxies.length} proxies derived; ${roots.size} roots`);
  const out: TranslateResult[] = [];
  for (const name of o.scenarios) {
    const [sc] = buildScenarios(mesh, [name], { repeats: o.changes });
    if (sc === undefined) continue;
    const steps = sc.steps.flatMap((s) => (s.kind === 'events' ? [s.events] : []));
    const perRound: number[] = [];
    let firstRoots = 0;
    let allocated = 0;
    let measured = 0;
    for (let round = 0; round < o.rounds; round++) {
      let cpu = 0;
      let touched = 0;
      for (const events of steps) {
        const batch = await appendAndRead(st.log, events);
        const heap0 = process.memoryUsage().heapUsed;
        const c0 = process.cpuUsage();
        const ids = st.engine.invalidate(st.catalog.apply(batch).keys);
        for (const id of ids) {
          const spec = roots.get(id);
          if (spec === undefined) continue;
          st.engine.get(spec);
          touched++;
        }
        cpu += cpuMs(c0);
        const grown = process.memoryUsage().heapUsed - heap0;
        // A collection inside the change makes the heap shrink: that sample says nothing about allocation.
        if (grown > 0) {
          allocated += grown;
          measured++;
        }
      }
      if (round === 0) firstRoots = touched;
      // A scenario that ends where it started (the burst) changes nothing when replayed: such a round is no sample.
      else if (touched < firstRoots / 2) break;
      perRound.push(cpu / steps.length);
    }
    const warm = perRound.length > 1 ? perRound.slice(1) : perRound;
    const r: TranslateResult = { scenario: name, firstMs: perRound[0]!, cpuMs: warm, rootsPerChange: firstRoots / steps.length, allocatedBytes: measured === 0 ? NaN : allocated / measured };
    out.push(r);
    report(
      `${name}: CPU ${median(warm).toFixed(3)} ms/change (median of ${warm.length} round(s) of ${steps.length} changes: ${warm.map((x) => x.toFixed(3)).join(' ')}; first round ${r.firstMs.toFixed(3)}), ` +
        `${r.rootsPerChange.toFixed(1)} roots/change, ${(r.allocatedBytes / 1024).toFixed(0)} KiB allocated/change`,
    );
  }
  return out;
}

async function main(): Promise<void> {
  let o: Options;
  try {
    o = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const t0 = performance.now();
  await translateBench(o, (line) => process.stdout.write(`${line}\n`));
  process.stdout.write(`(${((performance.now() - t0) / 1000).toFixed(1)} s, Node ${process.version})\n`);
}

if (require.main === module) void main();
