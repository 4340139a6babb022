import { WeftError } from '../errors.js';

/**
 * The log's bytes are damaged where they cannot be a torn tail (a segment that is not the last one, or a
 * record that changed after it was verified). Never retriable: the data must be restored or the segment
 * removed by hand; the message names both the file and the byte offset so the operator can do that.
 */
export class LogCorruptError extends WeftError {
  readonly file: string;
  readonly byteOffset: number;
  constructor(file: string, byteOffset: number, reason: string) {
    super(
      'LOG_CORRUPT',
      `event log segment ${file} is corrupt at byte ${byteOffset}: ${reason}. ` +
        'Only a torn tail of the last segment is repaired automatically; restore this segment from a backup ' +
        'or move it and every later segment out of the log directory (their events are lost).',
    );
    this.file = file;
    this.byteOffset = byteOffset;
  }
}

/** Another writer holds the log directory. */
export class LogLockedError extends WeftError {
  readonly dir: string;
  readonly pid: number | null;
  constructor(dir: string, pid: number | null, detail = '') {
    super(
      'LOG_LOCKED',
      `event log ${dir} is already open for writing by process ${pid ?? '(unknown)'}${detail}; ` +
        'only one writer per log directory is allowed. Stop that process, or open the log read-only ' +
        '(e.g. for `weft log inspect` or replay).',
      { retriable: true },
    );
    this.dir = dir;
    this.pid = pid;
  }
}

/** An event envelope written by a newer (or unknown) schema. */
export class EventSchemaVersionError extends WeftError {
  readonly version: number;
  constructor(version: number, where: string) {
    super(
      'EVENT_SCHEMA_UNKNOWN',
      `${where}: event envelope schema version ${version} is not supported (this Weft reads version 1); ` +
        'upgrade Weft to read this log.',
    );
    this.version = version;
  }
}

/** A stored record decoded to something that is not a valid event. */
export class EventDecodeError extends WeftError {
  constructor(where: string, reason: string, options: { cause?: unknown } = {}) {
    super('EVENT_DECODE_FAILED', `${where}: ${reason}`, options);
  }
}

/** An event handed to append() is not valid; nothing of its batch was written. */
export class InvalidEventError extends WeftError {
  readonly index: number;
  constructor(index: number, key: unknown, reason: string, options: { cause?: unknown } = {}) {
    super(
      'EVENT_INVALID',
      `event #${index} of the batch${typeof key === 'string' && key !== '' ? ` (key "${key}")` : ''}: ${reason}`,
      options,
    );
    this.index = index;
  }
}

/** The log was closed, opened read-only, or failed; the operation cannot proceed. */
export class LogUnavailableError extends WeftError {
  /** `retriable`: the log may come back by itself (a broker that is down or unreachable). */
  constructor(message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super('LOG_UNAVAILABLE', message, options);
  }
}

/**
 * Writing or syncing failed; nothing of the batch counts. The file log cuts the segment back to its last
 * durable record before it says so, and refuses appends only while that cut itself fails (each append
 * tries it again). Retriable: the cause (a full disk, a file size limit) may go away.
 */
export class LogWriteError extends WeftError {
  constructor(file: string, cause: unknown) {
    super(
      'LOG_WRITE_FAILED',
      `writing event log segment ${file} failed (${cause instanceof Error ? cause.message : String(cause)}); ` +
        'nothing of the batch was kept and the next append tries again; check the disk (free space, file size limit, permissions).',
      { retriable: true, cause },
    );
  }
}
