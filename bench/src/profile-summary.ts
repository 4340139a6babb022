/**
 * Reads a V8 .cpuprofile (from `npm run bench -- --cpu-prof DIR`) and prints where the busy time went: self
 * time by function and by where the code lives (a package under node_modules, a Weft package, Node itself),
 * idle, GC and the profiler's own start and stop apart, so two profiles can be compared from a terminal.
 *
 *   node bench/dist/profile-summary.js FILE.cpuprofile [--top 30]
 */
import * as fs from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  /** Wall time the profile covers, ms. */
  readonly totalMs: number;
  readonly idleMs: number;
  readonly gcMs: number;
  /** Time in the inspector session that started and stopped the profile (not the server's work). */
  readonly profilerMs: number;
  /** Self time by function ("name file:line"), ms, largest first. */
  readonly functions: readonly (readonly [string, number])[];
  /** Self time by where the code lives, ms, largest first. */
  readonly places: readonly (readonly [string, number])[];
}

/** Where a script lives: the npm package it is part of, a Weft package, node itself, or V8. */
export function placeOf(url: string): string {
  if (url === '') return '(native)';
  if (url.startsWith('node:')) return 'node';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const weft = /\/(core|plugins\/[^/]+|protos|bench|test)\/dist\/(.*)$/.exec(url);
  if (weft !== null) return `${weft[1]}/${weft[2]!.split('/').slice(0, -1).join('/') || '.'}`;
  return url;
}

export function summarize(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n] as const));
  // Samples under the inspector's post() are the profiler serialising itself when it stops.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inProfiler = new Map<number, boolean>();
  const profilerOwn = (id: number): boolean => {
    const known = inProfiler.get(id);
    if (known !== undefined) return known;
    const f = byId.get(id)?.callFrame;
    const up = parent.get(id);
    const own = f !== undefined && f.url === 'node:inspector' ? true : up === undefined ? false : profilerOwn(up);
    inProfiler.set(id, own);
    return own;
  };
  let profiler = 0;
  const fns = new Map<string, number>();
  const places = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    if (node === undefined) continue;
    const f = node.callFrame;
    if (f.functionName === '(idle)') {
      idle += ms;
      continue;
    }
    if (profilerOwn(node.id)) {
      profiler += ms;
      continue;
    }
    if (f.functionName === '(garbage collector)') gc += ms;
    const file = f.url.split('/').pop() ?? '';
    const key = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + ms);
    const place = placeOf(f.url);
    places.set(place, (places.get(place) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>): (readonly [string, number])[] => [...m].sort((a, b) => b[1] - a[1]);
  return { totalMs: (profile.endTime - profile.startTime) / 1000, idleMs: idle, gcMs: gc, profilerMs: profiler, functions: sorted(fns), places: sorted(places) };
}

function main(): void {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 30;
  if (file === undefined || !Number.isInteger(top) || top < 1) {
    process.stderr.write('usage: node bench/dist/profile-summary.js FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  let profile: CpuProfile;
  try {
    profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
    if (!Array.isArray(profile.nodes) || !Array.isArray(profile.samples)) throw new Error('no nodes or samples: not a V8 CPU profile');
  } catch (err) {
    process.stderr.write(`${file}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const s = summarize(profile);
  const busy = s.totalMs - s.idleMs - s.profilerMs;
  const pct = (ms: number): string => `${((100 * ms) / busy).toFixed(1).padStart(5)}%`;
  const out: string[] = [`${file}: ${s.totalMs.toFixed(0)} ms, busy ${busy.toFixed(0)} ms (GC ${pct(s.gcMs).trim()} of busy; the profiler's own ${s.profilerMs.toFixed(0)} ms left out)`, '', 'by place (self time, % of busy):'];
  for (const [k, ms] of s.places.slice(0, top)) out.push(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${k}`);
  out.push('', 'by function (self time, % of busy):');
  for (const [k, ms] of s.functions.slice(0, top)) out.push(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${k}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

if (require.main === module) main();
