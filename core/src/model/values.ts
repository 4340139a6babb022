/**
 * Value syntaxes manifests use, checked the way the Kubernetes / OSM Go code checks them, so a manifest that
 * OSM accepted loads here too.
 */
import { isIP } from 'node:net';

const NS_PER_UNIT: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 micro sign, accepted by Go
  'μs': 1e3, // U+03BC Greek mu, accepted by Go
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Go `time.ParseDuration` syntax ("1s", "500ms", "1h30m", "1.5h"), non-negative only, in milliseconds.
 * Returns null when the text is not a duration. Sub-millisecond precision is kept as a fraction.
 */
export function parseDuration(text: string): number | null {
  if (text === '0') return 0;
  let s = text;
  if (s.startsWith('+')) s = s.slice(1);
  if (s === '') return null;
  let ns = 0;
  DURATION_PART.lastIndex = 0;
  let at = 0;
  while (at < s.length) {
    DURATION_PART.lastIndex = at;
    const m = DURATION_PART.exec(s);
    if (m === null) return null;
    const unit = NS_PER_UNIT[m[2] as string];
    if (unit === undefined) return null;
    ns += Number(m[1]) * unit;
    at = DURATION_PART.lastIndex;
  }
  // Round to whole nanoseconds so "0.1s" is exactly 100 ms rather than 100.00000000000001.
  return Math.round(ns) / 1e6;
}

export function isIpAddress(text: string): boolean {
  return isIP(text) !== 0;
}

/** CIDR as Go's net.ParseCIDR reads it: address/prefix, host bits allowed ("10.0.0.1/8" is fine). */
export function isCidr(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash < 0) return false;
  const addr = text.slice(0, slash);
  const prefix = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefix)) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  const bits = Number(prefix);
  return family === 4 ? bits <= 32 : bits <= 128;
}

/** RFC 1123 label (namespace names): lower-case alphanumerics and '-', at most 63 characters. */
export function isDnsLabel(text: string): boolean {
  return text.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(text);
}

/** RFC 1123 subdomain (most object names): dot-separated labels, at most 253 characters. */
export function isDnsSubdomain(text: string): boolean {
  return text.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(text);
}

/** Whether the pattern compiles as a JavaScript regular expression (RE2 differences are not checked). */
export function regexError(pattern: string): string | null {
  try {
    new RegExp(pattern);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
