/**
 * Structured logs: one JSON object per line on stderr (so stdout stays free for command output).
 * Components take a Logger; tests pass a capturing one.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogRecord extends Record<string, unknown> {
  level: LogLevel;
  msg: string;
  time: string;
}

export function createLogger(
  options: { level?: LogLevel; write?: (record: LogRecord) => void; fields?: LogFields } = {},
): Logger {
  const threshold = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((record: LogRecord) => process.stderr.write(`${JSON.stringify(record)}\n`));
  const base = options.fields ?? {};
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (LEVELS[level] < threshold) return;
    write({ time: new Date().toISOString(), level, msg, ...base, ...fields });
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

/** A logger that keeps records in memory, for tests. */
export function captureLogger(level: LogLevel = 'debug'): Logger & { readonly records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = createLogger({ level, write: (r) => records.push(r) });
  return Object.assign(logger, { records });
}

export const silentLogger: Logger = createLogger({ write: () => undefined, level: 'error' });
