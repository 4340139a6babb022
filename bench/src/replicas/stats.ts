/** Pure helpers of the replicas benchmark: percentiles and reading `weft start`'s log lines. */

export interface Summary {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * The q-quantile (0..1) of `values` by the nearest-rank method: the smallest sample with at least q of the
 * samples at or below it, so every figure reported is one that was measured. NaN for no samples.
 */
export function quantile(values: readonly number[], q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be within 0..1, got ${q}`);
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

export function summarize(values: readonly number[]): Summary {
  return { n: values.length, p50: quantile(values, 0.5), p99: quantile(values, 0.99), max: quantile(values, 1) };
}

/** One line of a `weft start` process's JSON log that the benchmark uses. */
export type WeftLine =
  | { readonly kind: 'ready'; readonly xds: string; readonly debug: string }
  /** A batch the catalog applied: its last offset, and when (epoch ms, the logger's clock). */
  | { readonly kind: 'applied'; readonly offset: number; readonly at: number; readonly events: number }
  | { readonly kind: 'other'; readonly level: string; readonly msg: string };

/** Parses one stderr line of `weft start` (one JSON object per line); null for anything else. */
export function parseWeftLine(line: string): WeftLine | null {
  const text = line.trim();
  if (!text.startsWith('{')) return null;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not a log record (a stack trace's line, a partial write): the caller keeps the raw text anyway.
    return null;
  }
  if (o === null || typeof o !== 'object') return null;
  const msg = typeof o['msg'] === 'string' ? o['msg'] : '';
  if (msg === 'ready' && typeof o['xds'] === 'string' && typeof o['debug'] === 'string') return { kind: 'ready', xds: o['xds'], debug: o['debug'] };
  if (msg === 'change applied' && typeof o['offset'] === 'number' && typeof o['time'] === 'string') {
    const at = Date.parse(o['time']);
    if (Number.isNaN(at)) return null;
    return { kind: 'applied', offset: o['offset'], at, events: typeof o['events'] === 'number' ? o['events'] : 0 };
  }
  return { kind: 'other', level: typeof o['level'] === 'string' ? o['level'] : '', msg };
}

/** Formats ms for the tables: whole ms from 10 up, one decimal below. */
export function ms(v: number): string {
  if (Number.isNaN(v)) return '-';
  return v >= 10 ? v.toFixed(0) : v.toFixed(1);
}
