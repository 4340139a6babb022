/**
 * Draws p99 convergence against N, one line per system, from the recorded results of a scenario:
 *   node bench/dist/chart.js [--results bench/results] [--date YYYY-MM-DD] [--scenario endpoint] [--mode sotw]
 * Writes <results>/<date>-<scenario>-<mode>-p99.svg.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { svgChart, type ChartSeries } from './report.js';
import { SYSTEM_LABEL, SYSTEMS, type ScenarioResult, type SystemName } from './run.js';

interface Recorded {
  readonly runs: readonly {
    readonly proxies: number;
    readonly mode: string;
    readonly systems: readonly { readonly system: SystemName; readonly result?: ScenarioResult | null }[];
  }[];
}

export function chartSeries(rec: Recorded, mode: string): ChartSeries[] {
  return SYSTEMS.map((sys) => ({
    label: SYSTEM_LABEL[sys],
    points: rec.runs
      .filter((r) => r.mode === mode)
      .flatMap((r) => {
        const s = r.systems.find((x) => x.system === sys)?.result;
        return s === undefined || s === null || s.converged === 0 ? [] : [[r.proxies, s.latencyMs.p99] as const];
      })
      .sort((a, b) => a[0] - b[0]),
  })).filter((s) => s.points.length > 0);
}

function main(): void {
  const args = process.argv.slice(2);
  const opt = (name: string, d: string): string => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : d;
  };
  const dir = path.resolve(opt('results', path.join(__dirname, '..', 'results')));
  const scenario = opt('scenario', 'endpoint');
  const mode = opt('mode', 'sotw');
  const dates = fs.readdirSync(dir).filter((f) => f.endsWith(`-${scenario}.json`)).sort();
  const date = opt('date', dates.length === 0 ? '' : dates[dates.length - 1]!.slice(0, 10));
  const file = path.join(dir, `${date}-${scenario}.json`);
  if (!fs.existsSync(file)) {
    process.stderr.write(`no recorded results in ${file}; run the benchmark first (npm run bench -- --proxies 1000)\n`);
    process.exit(1);
  }
  const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as Recorded;
  const out = path.join(dir, `${date}-${scenario}-${mode}-p99.svg`);
  fs.writeFileSync(out, svgChart(`p99 convergence, ${scenario} scenario (${mode}), ${date}`, chartSeries(rec, mode)));
  process.stderr.write(`wrote ${out}\n`);
}

if (require.main === module) main();
