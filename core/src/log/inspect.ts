/**
 * What `weft log inspect` shows: the segments of a file log and any damage, found without changing a byte
 * and without taking the writer's lock (a running writer is fine).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { LogUnavailableError } from './errors.js';
import { listSegments } from './file-log.js';
import { readLock } from './lock.js';
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
  /** "torn-tail": the end of the last segment, cut on the next writable open; "corrupt": needs an operator. */
  readonly severity: 'torn-tail' | 'corrupt';
}

export interface LogInspection {
  readonly dir: string;
  readonly segments: readonly SegmentReport[];
  readonly totalEvents: number;
  /** The offset the next event would get, counting verified records only. */
  readonly head: number;
  readonly problems: readonly LogProblem[];
  /** The writer holding the log, if any (a dead pid means a stale lock, taken over by the next writer). */
  readonly writer: { readonly pid: number | null; readonly alive: boolean } | null;
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
      const tornTail = !scan.problem.fatal && i === names.length - 1;
      problems.push({
        file,
        byteOffset: scan.problem.pos,
        reason: scan.problem.reason,
        severity: tornTail ? 'torn-tail' : 'corrupt',
      });
    }
    // Past a damaged segment the next one's start cannot be checked: its events are unknown.
    expected = scan.problem === null ? scan.endOffset : null;
  }
  const last = segments.at(-1);
  const head = last === undefined ? 0 : last.firstOffset + last.events;
  return { dir: abs, segments, totalEvents, head, problems, writer: await readLock(abs) };
}
