/**
 * Results as people read them: a Markdown table per run, the targets checked against the numbers, and an SVG
 * chart (written by hand, no charting dependency) of p99 convergence against N for the systems.
 */
import type { RunResult, ScenarioResult, SystemName, SystemResult } from './run.js';

const f = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const mib = (b: number): string => (Number.isFinite(b) ? (b / 2 ** 20).toFixed(0) : '—');
const kib = (b: number): string => (Number.isFinite(b) ? (b / 1024).toFixed(1) : '—');

function scenarioRow(s: SystemResult, r: ScenarioResult | undefined): string {
  if (r === undefined) return `| ${s.system} | ${s.error ?? 'not run'} |||||||||||||||`;
  const outside = r.responsesOutsideTarget === undefined ? '' : ` (${r.responsesOutsideTarget} outside target)`;
  const c = r.cold;
  const cold = c === undefined ? '— | — | —' : `${c.converged}/${c.affected} | ${f(c.latencyMs.p50)} / ${f(c.latencyMs.p99)} | ${f(c.cpuSecondsPerChange * 1000, 2)}`;
  const warmup = r.warmupSteps ?? 0;
  const changes = r.drive === 'burst' ? `${r.steps} (burst)` : `1 + ${warmup > 0 ? `${warmup} + ` : ''}${Math.max(0, r.steps - 1 - warmup)}`;
  return (
    `| ${s.system} | ${changes} | ${cold} | ${r.converged}/${r.affected} | ${f(r.latencyMs.p50)} | ${f(r.latencyMs.p90)} | ${f(r.latencyMs.p99)} | ${f(r.latencyMs.max)} | ` +
    `${f(r.perChangeMs.p99)} | ${r.responses} | ${r.responsesToUnaffected}${outside} | ${kib(r.bytes)} | ${r.nacks} | ${f(r.cpuSecondsPerChange * 1000, 2)} | ${f(r.cpuSecondsPerChangeRaw * 1000, 2)} | ${f(r.idleCpu * 100, 1)} |` +
    (r.error === undefined ? '' : ` error: ${r.error}`)
  );
}

export function markdownReport(run: RunResult): string {
  const lines: string[] = [];
  const o = run.options;
  lines.push(
    `### ${run.mesh.proxies} proxies, ${o.mode}, ${run.date}`,
    '',
    `Mesh: ${run.mesh.services} services × ${run.mesh.podsPerService} pods, each service calls ${o.calls} others; ${run.mesh.resources} distinct resources. ` +
      `Single-change scenarios: 1 cold + ${o.warmup > 0 ? `${o.warmup} warm-up (not measured) + ` : ''}${o.repeats} warm changes, each waited for (affected ACKs, then ${o.gapMs} ms quiet); idle CPU over ${o.idleMs} ms before each scenario (median of ~500 ms sub-windows), subtracted. Latency, responses and CPU columns after "cold" are the warm changes (burst: all its steps). ` +
      `Machine: ${run.machine.cpus} cores, ${run.machine.memoryGiB} GiB, Node ${run.machine.node}; load average at the end ${run.machine.loadAverage.join(' ')}.`,
    '',
    '**Connect storm**',
    '',
    '| system | ready (s) | RSS ready (MiB) | configured | time (s) | responses | bytes (MiB) | NACKs | server CPU (s) | server RSS (MiB) | RSS per proxy (KiB) | idle CPU % | streams ended by the server |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const s of run.systems) {
    const st = s.storm;
    lines.push(
      `| ${s.system} | ${f(st.readySeconds, 2)} | ${mib(st.readyRssBytes)} | ${st.configured}/${st.proxies} | ${f(st.seconds, 2)} | ${st.responses} | ${mib(st.bytes)} | ${st.nacks} | ${f(st.serverCpuSeconds, 2)} | ${mib(st.serverRssBytes)} | ${kib(st.rssPerProxyBytes)} | ${f(s.idleCpu * 100, 1)} | ${st.closedStreams} |` +
        (s.error === undefined ? '' : ` error: ${s.error}`),
    );
  }
  for (const name of o.scenarios) {
    const any = run.systems.flatMap((s) => s.scenarios).find((r) => r.scenario === name);
    lines.push('', `**${name}**${any === undefined ? '' : `: ${any.description}`}${any?.note === undefined ? '' : ` (${any.note})`}`, '');
    lines.push(
      '| system | changes (cold + warm-up + warm) | cold converged | cold p50 / p99 ms | cold CPU ms | converged | p50 ms | p90 ms | p99 ms | max ms | per-change p99 ms | responses | to unaffected | KiB sent | NACKs | CPU ms/change | CPU ms/change, idle not subtracted | idle CPU % |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const s of run.systems) lines.push(scenarioRow(s, s.scenarios.find((r) => r.scenario === name)));
  }
  lines.push('', ...targets(run).map((t) => `- ${t}`), '');
  return `${lines.join('\n')}\n`;
}

/** A system's results; a system that failed part way still counts for what it measured. */
function get(run: RunResult, sys: SystemName): SystemResult | undefined {
  return run.systems.find((s) => s.system === sys);
}

/**
 * Where the floor stands against go-control-plane on a figure Weft must beat it on. The floor is a bare
 * @grpc/grpc-js server writing pre-encoded bytes: when even it is slower than go-control-plane in a run, no
 * server on this runtime and transport would have met the target in that run, and the line says so (one run
 * settles only ratios far from 1: compare runs before calling a target out of reach); when it is faster, the
 * gap between them is what Weft's own work (translation, sessions, actors) may cost.
 */
export function floorNote(floorValue: number | undefined, gcpValue: number, unit: string, digits = 1): string {
  if (floorValue === undefined || !Number.isFinite(floorValue)) return '';
  const ratio = `${f(floorValue, digits)} ${unit}, ${f(floorValue / gcpValue, 2)}x`;
  return floorValue <= gcpValue ? ` (the floor: ${ratio}; within reach)` : ` (the floor: ${ratio}; the floor misses it too: out of reach for a grpc-js server in this run)`;
}

/** Issue 16's targets, checked against this run (warm figures; the burst's for the burst), with the ratios. */
export function targets(run: RunResult): string[] {
  const out: string[] = [];
  const weft = get(run, 'weft');
  const floor = get(run, 'floor');
  const full = get(run, 'full');
  const gcp = get(run, 'gcp');
  const sc = (s: SystemResult | undefined, name: string): ScenarioResult | undefined => s?.scenarios.find((r) => r.scenario === name && r.converged > 0);
  const at = `at ${run.mesh.proxies} proxies, ${run.options.mode}`;
  const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  for (const name of ['endpoint', 'policy', 'burst']) {
    const w = sc(weft, name);
    if (w === undefined) continue;
    const g = sc(gcp, name);
    const fl = sc(floor, name);
    if (g !== undefined) {
      out.push(
        `${name} ${at}: Weft p99 <= go-control-plane's: ${f(w.latencyMs.p99)} vs ${f(g.latencyMs.p99)} ms (${f(w.latencyMs.p99 / g.latencyMs.p99, 2)}x): ` +
          verdict(w.latencyMs.p99 <= g.latencyMs.p99) +
          floorNote(fl?.latencyMs.p99, g.latencyMs.p99, 'ms'),
      );
      out.push(
        `${name} ${at}: Weft CPU per change <= go-control-plane's: ${f(w.cpuSecondsPerChange * 1000, 2)} vs ${f(g.cpuSecondsPerChange * 1000, 2)} ms (${f(w.cpuSecondsPerChange / g.cpuSecondsPerChange, 2)}x): ` +
          verdict(w.cpuSecondsPerChange <= g.cpuSecondsPerChange) +
          floorNote(fl === undefined ? undefined : fl.cpuSecondsPerChange * 1000, g.cpuSecondsPerChange * 1000, 'ms', 2),
      );
    }
    if (fl !== undefined) out.push(`${name} ${at}: Weft p99 <= 2x the floor's: ${f(w.latencyMs.p99)} vs ${f(fl.latencyMs.p99)} ms (${f(w.latencyMs.p99 / fl.latencyMs.p99, 2)}x): ${verdict(w.latencyMs.p99 <= 2 * fl.latencyMs.p99)}`);
    out.push(`${name} ${at}: 0 pushes to unaffected proxies: ${w.responsesToUnaffected}: ${verdict(w.responsesToUnaffected === 0)}`);
  }
  const fe = sc(full, 'endpoint');
  const we = sc(weft, 'endpoint');
  if (fe !== undefined && we !== undefined) {
    const r = fe.cpuSecondsPerChange / we.cpuSecondsPerChange;
    out.push(`full recompute >= 50x Weft's CPU per endpoint change ${at}: ${f(fe.cpuSecondsPerChange * 1000, 2)} vs ${f(we.cpuSecondsPerChange * 1000, 2)} ms (${f(r)}x): ${verdict(r >= 50)}`);
  }
  if (weft !== undefined && gcp !== undefined && weft.storm.configured > 0 && gcp.storm.configured > 0) {
    const a = weft.storm.rssPerProxyBytes;
    const b = gcp.storm.rssPerProxyBytes;
    out.push(`RSS per proxy <= go-control-plane's ${at} (the target names 10k): ${kib(a)} vs ${kib(b)} KiB (${f(a / b, 2)}x): ${verdict(a <= b)}`);
    out.push(
      `connect storm no slower than go-control-plane's ${at} (the target names 10k): ${f(weft.storm.seconds, 2)} vs ${f(gcp.storm.seconds, 2)} s (${f(weft.storm.seconds / gcp.storm.seconds, 2)}x): ` +
        verdict(weft.storm.seconds <= gcp.storm.seconds) +
        floorNote(floor !== undefined && floor.storm.configured === floor.storm.proxies ? floor.storm.seconds : undefined, gcp.storm.seconds, 's', 2),
    );
  }
  for (const s of run.systems) {
    const nacks = s.storm.nacks + s.scenarios.reduce((a, r) => a + r.nacks, 0);
    if (nacks > 0) out.push(`${s.system}: ${nacks} NACKs (must be 0)`);
    const pol = s.scenarios.find((r) => r.scenario === 'policy');
    if (pol?.responsesOutsideTarget !== undefined && pol.responsesOutsideTarget > 0) out.push(`${s.system}: ${pol.responsesOutsideTarget} responses to proxies outside the 1% policy target (must be 0)`);
  }
  return out;
}

export interface ChartSeries {
  readonly label: string;
  /** [N, p99 ms] */
  readonly points: readonly (readonly [number, number])[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A line chart, log-scaled on y: p99 convergence (ms) against N. */
export function svgChart(title: string, series: readonly ChartSeries[]): string {
  const W = 640;
  const H = 400;
  const m = { l: 70, r: 20, t: 40, b: 90 };
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((y) => y > 0 && Number.isFinite(y));
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...ys, 1))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...ys, 10))));
  const px = (n: number): number => (xs.length <= 1 ? m.l + (W - m.l - m.r) / 2 : m.l + ((W - m.l - m.r) * xs.indexOf(n)) / (xs.length - 1));
  const py = (v: number): number => m.t + (H - m.t - m.b) * (1 - (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  for (let d = lo; d <= hi; d *= 10) {
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py(d).toFixed(1)}" y2="${py(d).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 6}" y="${(py(d) + 4).toFixed(1)}" text-anchor="end">${d >= 1 ? d : d.toPrecision(1)} ms</text>`);
  }
  for (const n of xs) {
    out.push(`<line x1="${px(n).toFixed(1)}" x2="${px(n).toFixed(1)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${px(n).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle">${n.toLocaleString('en-US')}</text>`);
  }
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - m.b + 34}" text-anchor="middle">connected proxies (N)</text>`);
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="black"/><line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="black"/>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = s.points.filter((p) => p[1] > 0 && Number.isFinite(p[1])).map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`);
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    for (const p of pts) {
      const [x, y] = p.split(',');
      out.push(`<circle cx="${x}" cy="${y}" r="3.5" fill="${color}"/>`);
    }
    const lx = m.l + (i % 2) * 280;
    const ly = H - 30 + Math.floor(i / 2) * 16;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="12" height="3" fill="${color}"/><text x="${lx + 18}" y="${ly - 4}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
