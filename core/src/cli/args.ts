import { parseArgs } from 'node:util';
import { WeftError } from '../errors.js';

/** The command line cannot be understood; the CLI prints the message and the command's help, exit 2. */
export class UsageError extends WeftError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
}

export interface Parsed {
  readonly values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  readonly positionals: string[];
}

/** node:util parseArgs, strict, with its errors turned into UsageError. `--help`/`-h` is always accepted. */
export function parseCommandLine(argv: readonly string[], options: Record<string, OptionSpec>): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

export function stringOption(parsed: Parsed, name: string): string | undefined {
  const v = parsed.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flag(parsed: Parsed, name: string): boolean {
  return parsed.values[name] === true;
}

export function intOption(parsed: Parsed, name: string, min = 0): number | undefined {
  const v = stringOption(parsed, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v) || Number(v) < min) {
    throw new UsageError(`--${name} must be an integer >= ${min} (got ${JSON.stringify(v)})`);
  }
  return Number(v);
}
