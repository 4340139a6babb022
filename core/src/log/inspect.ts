/**
 * What `weft log inspect` shows: the segments of a file log and any damage, found without changing a byte
 * and without taking the writer's lock (a running writer is fine).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { LogUnavailableError, type RecordsPastDamage } from './errors.js';
import { listSegments } from './file-log.js';
import { readLock, type LockInfo } from './lock.js';
import { scanSegment } from './segment.js';

export interface SegmentReport {
  readonly name: string;
  /** Size of the file. */
  readonly bytes: number;
  /** Bytes holding verified records (less than `bytes` when the segment has damage or a torn tail). */
  readonly validBytes: number;
  readonly firstOffset: number;
  /** Offset of the last verified event; null for an empty segment. */
  readonly lastOffset: number | null;
  readonly records: number;
  readonly events: number;
}

export interface LogProblem {
  readonly file: string;
  readonly byteOffset: number;
  readonly reason: string;
  /**
   * "torn-tail": an incomplete last write (the end of the last segment, nothing valid after it), cut on the
   * next writable open; "corrupt": anything else, refused until an operator restores or repairs the log.
   */
  readonly severity: 'torn-tail' | 'corrupt';
  /** Valid records found past the damage in the same segment (what cutting there drops); null when none. */
  readonly following: RecordsPastDamage | null;
}

export interface LogInspection {
  readonly dir: string;
  readonly segments: readonly SegmentReport[];
  readonly totalEvents: number;
  /** The offset the next event would get, counting verified records only. */
  readonly head: number;
  readonly problems: readonly LogProblem[];
  /** The LOCK, if any: `alive` when a running writer holds it; otherwise stale, taken over by the next writer. */
  readonly writer: LockInfo | null;
}

export async function inspectLog(dir: string): Promise<LogInspection> {
  const abs = path.resolve(dir);
  try {
    if (!(await fs.stat(abs)).isDirectory()) throw new LogUnavailableError(`event log location ${abs} is not a directory`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LogUnavailableError(`no event log at ${abs}: the directory does not exist`);
    }
    throw err;
  }
  const names = await listSegments(abs);
  const segments: SegmentReport[] = [];
  const problems: LogProblem[] = [];
  let expected: number | null = null;
  let totalEvents = 0;
  for (let i = 0; i < names.length; i++) {
    const { name, firstOffset } = names[i]!;
    const file = path.join(abs, name);
    if (expected !== null && firstOffset !== expected) {
      problems.push({
        file,
        byteOffset: 0,
        reason: `segment starts at offset ${firstOffset} but the previous one ends at ${expected}`,
        severity: 'corrupt',
        following: null,
      });
    }
    const scan = await scanSegment(file, 0, firstOffset);
    const events = scan.endOffset - firstOffset;
    totalEvents += events;
    segments.push({
      name,
      bytes: scan.fileBytes,
      validBytes: scan.validBytes,
      firstOffset,
      lastOffset: events === 0 ? null : scan.endOffset - 1,
      records: scan.records,
      events,
    });
    if (scan.problem !== null) {
      const { pos, reason, fatal, following } = scan.problem;
      const tornTail = !fatal && following === null && i === names.length - 1;
      problems.push({ file, byteOffset: pos, reason, severity: tornTail ? 'torn-tail' : 'corrupt', following });
    }
    // Past a damaged segment the next one's start cannot be checked: its events are unknown.
    expected = scan.problem === null ? scan.endOffset : null;
  }
  const last = segments.at(-1);
  const head = last === undefined ? 0 : last.firstOffset + last.events;
  return { dir: abs, segments, totalEvents, head, problems, writer: await readLock(abs) };
}
