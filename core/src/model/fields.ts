/**
 * Small readers for untyped manifest values. Each reads one value at a path, reports what is wrong to the
 * document's Issues (so a document yields all its problems at once) and returns undefined when the value
 * is missing or unusable. Like Kubernetes, an explicit null is the same as an absent field.
 */
import {
  ANNOTATIONS_MAX_BYTES,
  isCidr,
  isIpAddress,
  labelValueProblem,
  parseDuration,
  qualifiedNameProblem,
  regexError,
} from './values.js';

export type Obj = Readonly<Record<string, unknown>>;

export interface Issue {
  readonly path: string;
  readonly rule: string;
}

export class Issues {
  readonly list: Issue[] = [];
  add(path: string, rule: string): void {
    this.list.push({ path, rule });
  }
  get count(): number {
    return this.list.length;
  }
}

export function child(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

export function item(path: string, index: number): string {
  return `${path}[${index}]`;
}

/** An entry of a map with free-form keys (labels, selectors): `metadata.labels["app"]`, never ambiguous. */
export function entry(path: string, key: string): string {
  return `${path}[${JSON.stringify(key)}]`;
}

/** How a wrong value is shown after "got". */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return 'a list';
  return 'an object';
}

function absent(value: unknown): value is null | undefined {
  return value === undefined || value === null;
}

export function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface Opt {
  readonly required?: boolean;
}

export function readObj(is: Issues, value: unknown, path: string, opt: Opt = {}): Obj | undefined {
  if (absent(value)) {
    if (opt.required === true) is.add(path, 'is required');
    return undefined;
  }
  if (!isObj(value)) {
    is.add(path, `must be an object, got ${describe(value)}`);
    return undefined;
  }
  return value;
}

export function readList(
  is: Issues,
  value: unknown,
  path: string,
  opt: Opt & { readonly nonEmpty?: boolean } = {},
): readonly unknown[] | undefined {
  if (absent(value)) {
    if (opt.required === true || opt.nonEmpty === true) is.add(path, 'is required');
    return undefined;
  }
  if (!Array.isArray(value)) {
    is.add(path, `must be a list, got ${describe(value)}`);
    return undefined;
  }
  if (opt.nonEmpty === true && value.length === 0) {
    is.add(path, 'must list at least one entry');
    return undefined;
  }
  return value;
}

/** A string; with `required`, also non-empty. */
export function readStr(is: Issues, value: unknown, path: string, opt: Opt = {}): string | undefined {
  if (absent(value) || (opt.required === true && value === '')) {
    if (opt.required === true) is.add(path, 'is required');
    return undefined;
  }
  if (typeof value !== 'string') {
    is.add(path, `must be a string, got ${describe(value)}`);
    return undefined;
  }
  return value;
}

export function readBool(is: Issues, value: unknown, path: string): boolean | undefined {
  if (absent(value)) return undefined;
  if (typeof value !== 'boolean') {
    is.add(path, `must be true or false, got ${describe(value)}`);
    return undefined;
  }
  return value;
}

export function readInt(
  is: Issues,
  value: unknown,
  path: string,
  opt: Opt & { readonly min?: number; readonly max?: number } = {},
): number | undefined {
  if (absent(value)) {
    if (opt.required === true) is.add(path, 'is required');
    return undefined;
  }
  const min = opt.min ?? 0;
  const max = opt.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const what =
      min === 0 && max === Number.MAX_SAFE_INTEGER
        ? 'a non-negative integer'
        : max === Number.MAX_SAFE_INTEGER
          ? `an integer of at least ${min}`
          : `an integer between ${min} and ${max}`;
    is.add(path, `must be ${what}, got ${describe(value)}`);
    return undefined;
  }
  return value;
}

/** 32-bit unsigned, as the OSM Go types declare their counters. */
export function readUint32(is: Issues, value: unknown, path: string, opt: Opt = {}): number | undefined {
  return readInt(is, value, path, { ...opt, min: 0, max: 4294967295 });
}

export function readPort(is: Issues, value: unknown, path: string, opt: Opt = {}): number | undefined {
  if (absent(value)) {
    if (opt.required === true) is.add(path, 'is required');
    return undefined;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    is.add(path, `must be a port number between 1 and 65535, got ${describe(value)}`);
    return undefined;
  }
  return value;
}

export function readDuration(is: Issues, value: unknown, path: string, opt: Opt = {}): number | undefined {
  const text = readStr(is, value, path, opt);
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === null) {
    is.add(path, `must be a duration such as "500ms", "1s" or "1h30m", got ${describe(text)}`);
    return undefined;
  }
  return ms;
}

export function readOneOf<T extends string>(
  is: Issues,
  value: unknown,
  path: string,
  options: readonly T[],
  opt: Opt & { readonly normalize?: (s: string) => string } = {},
): T | undefined {
  const text = readStr(is, value, path, opt);
  if (text === undefined) return undefined;
  const norm = opt.normalize === undefined ? text : opt.normalize(text);
  if (!(options as readonly string[]).includes(norm)) {
    is.add(path, `must be one of ${options.join(', ')}, got ${describe(text)}`);
    return undefined;
  }
  return norm as T;
}

export function readIp(is: Issues, value: unknown, path: string, opt: Opt = {}): string | undefined {
  const text = readStr(is, value, path, opt);
  if (text === undefined) return undefined;
  if (!isIpAddress(text)) {
    is.add(path, `must be an IP address, got ${describe(text)}`);
    return undefined;
  }
  return text;
}

export function readCidr(is: Issues, value: unknown, path: string, opt: Opt = {}): string | undefined {
  const text = readStr(is, value, path, opt);
  if (text === undefined) return undefined;
  if (!isCidr(text)) {
    is.add(path, `must be a CIDR range such as "10.0.0.0/8", got ${describe(text)}`);
    return undefined;
  }
  return text;
}

export function readRegex(is: Issues, value: unknown, path: string, opt: Opt = {}): string | undefined {
  const text = readStr(is, value, path, opt);
  if (text === undefined) return undefined;
  const problem = regexError(text);
  if (problem !== null) {
    // V8 says "Invalid regular expression: /(/: Unterminated group"; the last part is the useful bit.
    const reason = problem.slice(problem.lastIndexOf(': ') + 2);
    is.add(path, `must be a valid regular expression (${reason}), got ${describe(text)}`);
    return undefined;
  }
  return text;
}

const KEY_RULE =
  'the key must be a qualified name: an optional prefix (a lower-case DNS subdomain of at most 253 characters) and "/", ' +
  "then a name of 1 to 63 characters (letters, digits, '-', '_', '.'; beginning and ending with a letter or digit), " +
  'as in "app" or "example.com/app"';
const VALUE_RULE =
  "the value must be empty or 1 to 63 characters (letters, digits, '-', '_', '.'; beginning and ending with a letter or digit)";

/**
 * Labels, or a label selector (a Service's spec.selector), under Kubernetes' rules: qualified-name keys and
 * values of at most 63 characters. The API server refuses anything else, so a manifest that would not
 * apply to a cluster does not load here either. Issues come in key order; an entry may break several rules.
 */
export function readLabelMap(is: Issues, value: unknown, path: string): Record<string, string> | undefined {
  return readStrMap(is, value, path, (key, v, at) => {
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem !== null) is.add(at, `${KEY_RULE}, got ${describe(key)} (${keyProblem})`);
    const valueProblem = v === undefined ? null : labelValueProblem(v);
    if (valueProblem !== null) is.add(at, `${VALUE_RULE}, got ${describe(v)} (${valueProblem})`);
  });
}

/**
 * Annotations as Kubernetes validates them: keys are qualified names with case ignored (the API server
 * lower-cases them before checking), values are free text, and all of it is at most 256 KiB.
 */
export function readAnnotationMap(is: Issues, value: unknown, path: string): Record<string, string> | undefined {
  let bytes = 0;
  const map = readStrMap(is, value, path, (key, v, at) => {
    const keyProblem = qualifiedNameProblem(key.toLowerCase());
    if (keyProblem !== null) is.add(at, `${KEY_RULE}, got ${describe(key)} (${keyProblem})`);
    bytes += Buffer.byteLength(key) + (v === undefined ? 0 : Buffer.byteLength(v));
  });
  if (bytes > ANNOTATIONS_MAX_BYTES) {
    is.add(path, `must be at most ${ANNOTATIONS_MAX_BYTES} bytes in all (keys and values), got ${bytes}`);
  }
  return map;
}

/**
 * A string -> string map, returned with sorted keys; `check` sees every entry in that order, with v
 * undefined when the value is not a string (already reported).
 */
export function readStrMap(
  is: Issues,
  value: unknown,
  path: string,
  check: (key: string, v: string | undefined, at: string) => void = () => undefined,
): Record<string, string> | undefined {
  const obj = readObj(is, value, path);
  if (obj === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    const at = entry(path, key);
    if (typeof v !== 'string') {
      is.add(at, `must be a string, got ${describe(v)} (quote it in YAML)`);
      check(key, undefined, at);
      continue;
    }
    check(key, v, at);
    out[key] = v;
  }
  return out;
}

/** Each element of a list, with its path; nothing when the list is absent or wrong. */
export function eachOf(list: readonly unknown[] | undefined, path: string): [unknown, string, number][] {
  return (list ?? []).map((v, i) => [v, item(path, i), i]);
}
