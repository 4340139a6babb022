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

/** Kubernetes' qualified-name pattern: the name part of a label key, and a non-empty label value. */
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const QUALIFIED_NAME_MAX = 63;
const DNS_SUBDOMAIN_MAX = 253;
/** Kubernetes' TotalAnnotationSizeLimitB: keys and values of one object's annotations together. */
export const ANNOTATIONS_MAX_BYTES = 256 * 1024;

/**
 * Why a label (or annotation) key is not a Kubernetes qualified name, `[prefix/]name`; null when it is one.
 * As apimachinery's IsQualifiedName: the prefix is a lower-case DNS-1123 subdomain, the name 1 to 63
 * characters of the qualified-name pattern.
 */
export function qualifiedNameProblem(key: string): string | null {
  const parts = key.split('/');
  if (parts.length > 2) return 'it has more than one "/"';
  const name = parts.length === 2 ? (parts[1] as string) : key;
  if (parts.length === 2) {
    const prefix = parts[0] as string;
    if (prefix === '') return 'its prefix is empty';
    if (prefix.length > DNS_SUBDOMAIN_MAX) return `its prefix is ${prefix.length} characters long`;
    if (!isDnsSubdomain(prefix)) return `its prefix ${JSON.stringify(prefix)} is not a lower-case DNS subdomain`;
  }
  if (name === '') return 'its name part is empty';
  if (name.length > QUALIFIED_NAME_MAX) return `its name part is ${name.length} characters long`;
  if (!QUALIFIED_NAME.test(name)) return `its name part ${patternProblem(name)}`;
  return null;
}

/** Why a label value is not valid (empty, or a qualified name of at most 63 characters); null when it is. */
export function labelValueProblem(value: string): string | null {
  if (value === '') return null;
  if (value.length > QUALIFIED_NAME_MAX) return `it is ${value.length} characters long`;
  if (!QUALIFIED_NAME.test(value)) return `it ${patternProblem(value)}`;
  return null;
}

/** Which half of the qualified-name pattern a text misses, to say more than "invalid". */
function patternProblem(text: string): string {
  return /^[-A-Za-z0-9_.]*$/.test(text)
    ? 'does not begin and end with a letter or digit'
    : 'has characters other than those';
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
