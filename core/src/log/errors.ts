import * as path from 'node:path';
import { WeftError } from '../errors.js';

/** Valid records found past damage (see validRecordsFrom in segment.ts). */
export interface RecordsPastDamage {
  readonly pos: number;
  readonly records: number;
  readonly events: number;
}

/**
 * The log's bytes are damaged where they cannot be a torn tail (an incomplete last write): a segment that
 * is not the last one, damage with valid records after it, a record that changed after it was verified.
 * Never cut automatically: the message names the file, the byte offset and what follows the damage, and
 * the explicit way out (`weft log repair --truncate-at`, which logs what it drops).
 */
export class LogCorruptError extends WeftError {
  readonly file: string;
  readonly byteOffset: number;
  /** Valid records past the damage in the same segment, when any were found. */
  readonly following: RecordsPastDamage | null;
  constructor(file: string, byteOffset: number, reason: string, following: RecordsPastDamage | null = null) {
    const past =
      following === null
        ? ''
        : `; ${plural(following.records, 'valid record')} (${plural(following.events, 'event')}) follow it from byte ${following.pos}, ` +
          'so this is not a torn tail (an incomplete last write) and nothing is cut automatically';
    super(
      'LOG_CORRUPT',
      `event log segment ${file} is corrupt at byte ${byteOffset}: ${reason}${past}. ` +
        'Restore the segment from a backup, or cut the log at the damage with ' +
        `\`weft log repair ${path.dirname(file)} --segment ${path.basename(file)} --truncate-at ${byteOffset}\` ` +
        '(add --dry-run to see first what it drops: the rest of the segment and every later segment, moved aside).',
    );
    this.file = file;
    this.byteOffset = byteOffset;
    this.following = following;
  }
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
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

/** `weft log repair` cannot do what it was asked (no damage to cut, a byte that is not a record boundary, ...). */
export class LogRepairError extends WeftError {
  constructor(message: string) {
    super('LOG_REPAIR_REFUSED', message);
  }
}
