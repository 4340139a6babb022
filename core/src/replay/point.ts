import { ReplayError } from './errors.js';

/**
 * A point in the log as a user writes it: an offset ("1234"), an RFC 3339 time ("2026-11-02T10:00:00Z"),
 * or "head". Parsing is separate from resolving, so a bad spelling fails before the log is read.
 */
export type ReplayPoint =
  | { readonly type: 'offset'; readonly offset: number }
  | { readonly type: 'time'; readonly time: number; readonly text: string }
  | { readonly type: 'head' };

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function parsePoint(text: string, what = '--at'): ReplayPoint {
  const t = text.trim();
  if (t === 'head' || t === '') return { type: 'head' };
  if (/^\d+$/.test(t)) {
    const offset = Number(t);
    if (!Number.isSafeInteger(offset)) throw new ReplayError('REPLAY_BAD_POINT', `${what} ${t}: the offset is too large`);
    return { type: 'offset', offset };
  }
  if (RFC3339.test(t)) {
    const time = Date.parse(t);
    if (!Number.isNaN(time)) return { type: 'time', time, text: t };
  }
  throw new ReplayError(
    'REPLAY_BAD_POINT',
    `${what} ${JSON.stringify(text)} is neither a log offset (a whole number), an RFC 3339 time (2026-11-02T10:00:00Z) nor "head"`,
  );
}

/** "a..b" (either side may be empty: "..b" from the start of the log, "a.." to the head). */
export function parseRange(text: string, what = '--diff'): { readonly from: ReplayPoint; readonly to: ReplayPoint } {
  const i = text.indexOf('..');
  if (i < 0) throw new ReplayError('REPLAY_BAD_POINT', `${what} ${JSON.stringify(text)} must be two points written a..b (offsets or RFC 3339 times)`);
  const a = text.slice(0, i);
  const b = text.slice(i + 2);
  return { from: a === '' ? { type: 'offset', offset: 0 } : parsePoint(a, what), to: parsePoint(b, what) };
}

export function describePoint(p: ReplayPoint): string {
  switch (p.type) {
    case 'offset':
      return `offset ${p.offset}`;
    case 'time':
      return `time ${p.text}`;
    case 'head':
      return 'the head';
  }
}
