/**
 * The harness's arithmetic, kept pure so it can be tested: percentiles, what one change's window of responses
 * says about the proxies it had to reach, warm and cold summaries of repeated changes, and server CPU with
 * the idle rate taken out.
 */
import type { ResponseRow } from './sim/worker.js';

export interface Distribution {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank percentiles (p99 of fewer than 100 samples is the max). */
export function distribution(values: readonly number[]): Distribution {
  const v = [...values].sort((a, b) => a - b);
  const q = (p: number): number => (v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))]!);
  return { count: v.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: v.length === 0 ? NaN : v[v.length - 1]! };
}

/** What the responses in one change's window say. */
export interface StepObservation {
  /** Proxies the change must reach (from the mesh). */
  readonly affected: number;
  /** ms from the change to the last ACK of each affected proxy that answered after it. */
  readonly latenciesMs: readonly number[];
  /** Append to the last ACK of any affected proxy, ms (NaN when none answered). */
  readonly finalMs: number;
  readonly lastAckMicros: number;
  readonly responses: number;
  readonly responsesToUnaffected: number;
  readonly bytes: number;
  readonly nacks: number;
}

/**
 * One change: `at` the server's time just before it applied it (epoch µs), `rows` the responses of its window
 * (until the affected proxies answered and the stream went quiet), `expected` the proxy indices it must reach.
 * A proxy's update completes with its last ACK after `at`.
 */
export function observeStep(at: number, rows: readonly ResponseRow[], expected: ReadonlySet<number>): StepObservation {
  const last = new Map<number, number>();
  let unaffected = 0;
  let bytes = 0;
  let nacks = 0;
  let lastAck = at;
  for (const r of rows) {
    bytes += r[2];
    nacks += r[4];
    if (!expected.has(r[0])) unaffected++;
    else if (r[3] >= at) {
      last.set(r[0], Math.max(last.get(r[0]) ?? 0, r[3]));
      lastAck = Math.max(lastAck, r[3]);
    }
  }
  const latenciesMs = [...last.values()].map((t) => (t - at) / 1000);
  return {
    affected: expected.size,
    latenciesMs,
    finalMs: latenciesMs.length === 0 ? NaN : Math.max(...latenciesMs),
    lastAckMicros: lastAck,
    responses: rows.length,
    responsesToUnaffected: unaffected,
    bytes,
    nacks,
  };
}

export interface Phase {
  /** Changes measured. */
  readonly changes: number;
  /** Sum over the changes of the proxies each must reach. */
  readonly affected: number;
  /** Of those, how many answered after the change. */
  readonly converged: number;
  /** Over every (change, affected proxy): ms from the change to the proxy's last ACK. */
  readonly latencyMs: Distribution;
  /** Per change: ms to the last affected proxy's ACK. */
  readonly perChangeMs: Distribution;
  readonly responses: number;
  readonly responsesToUnaffected: number;
  readonly bytes: number;
  readonly nacks: number;
}

export function summarize(steps: readonly StepObservation[]): Phase {
  let affected = 0;
  let responses = 0;
  let unaffected = 0;
  let bytes = 0;
  let nacks = 0;
  const lat: number[] = [];
  const finals: number[] = [];
  for (const s of steps) {
    affected += s.affected;
    responses += s.responses;
    unaffected += s.responsesToUnaffected;
    bytes += s.bytes;
    nacks += s.nacks;
    for (const l of s.latenciesMs) lat.push(l);
    if (Number.isFinite(s.finalMs)) finals.push(s.finalMs);
  }
  return { changes: steps.length, affected, converged: lat.length, latencyMs: distribution(lat), perChangeMs: distribution(finals), responses, responsesToUnaffected: unaffected, bytes, nacks };
}

/**
 * Cold = the first change (step 0); then `warmup` changes measured by nobody (they let a JIT settle); warm =
 * every later one.
 */
export function coldAndWarm(steps: readonly StepObservation[], warmup = 0): { cold: Phase | undefined; warm: Phase; warmup: Phase } {
  return {
    cold: steps.length === 0 ? undefined : summarize(steps.slice(0, 1)),
    warmup: summarize(steps.slice(1, 1 + warmup)),
    warm: summarize(steps.slice(1 + warmup)),
  };
}

/**
 * Server CPU seconds attributable to the changes of a window: CPU used over the window minus what the server
 * uses idle (its rate, measured over a fixed window before the scenario (`idleRateOf`), times the window's length), never
 * below 0, divided by the changes. The same for every system.
 */
export function cpuPerChange(cpuMicros: number, windowMicros: number, idleRate: number, changes: number): number {
  if (changes <= 0) return NaN;
  const idle = Number.isFinite(idleRate) ? idleRate * windowMicros : 0;
  return Math.max(0, cpuMicros - idle) / 1e6 / changes;
}

/** CPU seconds per second from two readings `ms` apart. */
export function idleRate(cpu0Micros: number, cpu1Micros: number, ms: number): number {
  return ms <= 0 ? NaN : (cpu1Micros - cpu0Micros) / 1000 / ms;
}

/** A reading of a server's CPU time (`cpuMicros`) at a time (`ms`). */
export interface CpuReading {
  readonly ms: number;
  readonly cpuMicros: number;
}

/**
 * The idle rate from readings through the idle window: the median of the rates between consecutive readings.
 * A one-off burst inside the window, such as a collection left over from the previous scenario, would
 * otherwise be taken for a rate and subtracted from every second of the next scenario; a server's steady idle
 * work (timers, keepalives) is in every sub-window alike.
 */
export function idleRateOf(readings: readonly CpuReading[]): number {
  const rates: number[] = [];
  for (let i = 1; i < readings.length; i++) {
    const a = readings[i - 1]!;
    const b = readings[i]!;
    rates.push(idleRate(a.cpuMicros, b.cpuMicros, b.ms - a.ms));
  }
  return rates.length === 0 ? NaN : median(rates);
}

/** The middle value, or the mean of the middle two for an even count. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
