/**
 * `weft log repair`: the explicit way to cut a file log at damage that is not a torn tail (corruption with
 * valid records after it, a damaged segment that is not the last), which no open ever cuts by itself.
 *
 * The operator names the byte to cut at (`truncateAt`, a record boundary of the segment's verified records,
 * at most the damage), and the segment when it is not the first damaged one. Everything from there on is
 * dropped from the log: the rest of that segment and every later segment (a later segment would start at an
 * offset the cut segment no longer reaches). Nothing is deleted: the bytes cut and the segments removed are
 * moved into a `repair-<time>/` folder of the log directory with a REPAIR.json saying what was done, and
 * the repair is logged (segment, byte offset, bytes, records and events dropped). A dry run only plans.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { summarizeBatch } from './codec.js';
import { LogRepairError, LogUnavailableError } from './errors.js';
import { listSegments } from './file-log.js';
import { acquireLock } from './lock.js';
import { scanSegment, validRecordsFrom } from './segment.js';
import type { Logger } from '../observe/logger.js';

export interface RepairOptions {
  /** Byte position to cut the segment at. */
  readonly truncateAt: number;
  /** Segment file name (or path) to cut; default the first damaged segment. */
  readonly segment?: string;
  /** Plan and report only; nothing is changed and no lock is taken. */
  readonly dryRun?: boolean;
  readonly logger?: Logger;
  /** Clock for the name of the folder the cut bytes go to. */
  readonly now?: () => Date;
}

export interface DroppedSegment {
  readonly name: string;
  readonly bytes: number;
  /** Valid records (length and CRC-32C) in it, and their events. */
  readonly records: number;
  readonly events: number;
}

export interface RepairPlan {
  readonly dir: string;
  /** The segment cut (a path). */
  readonly segment: string;
  readonly byteOffset: number;
  /** The damage found in that segment: where, why, and the valid records past it; null for a healthy segment. */
  readonly damage: { readonly byteOffset: number; readonly reason: string } | null;
  /** Bytes of the segment from the cut to its end. */
  readonly droppedBytes: number;
  /** Valid records and events of the segment from the cut on (before the damage and past it). */
  readonly droppedRecords: number;
  readonly droppedEvents: number;
  /** The whole segment goes (a cut at byte 0 of a segment that is not the first: it would start past the head). */
  readonly removesSegment: boolean;
  /** Later segments, moved aside whole. */
  readonly laterSegments: readonly DroppedSegment[];
  /** Where what is dropped is kept (a folder of the log directory). */
  readonly savedTo: string;
  /** The offset the next event gets once repaired. */
  readonly headAfter: number;
  /** Whether anything is dropped at all. */
  readonly changes: boolean;
}

export interface RepairResult extends RepairPlan {
  readonly applied: boolean;
}

const stamp = (d: Date): string => d.toISOString().replace(/[:.]/g, '-');

/** What `repairLog` would do; reads only. */
export async function planRepair(dir: string, options: RepairOptions): Promise<RepairPlan> {
  const abs = path.resolve(dir);
  const stat = await fs.stat(abs).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new LogUnavailableError(`no event log at ${abs}: the directory does not exist`);
    throw err;
  });
  if (!stat.isDirectory()) throw new LogUnavailableError(`event log location ${abs} is not a directory`);
  const { truncateAt } = options;
  if (!Number.isSafeInteger(truncateAt) || truncateAt < 0) throw new LogRepairError(`--truncate-at must be a byte position >= 0 (got ${truncateAt})`);
  const names = await listSegments(abs);
  if (names.length === 0) throw new LogRepairError(`${abs} holds no segment files: nothing to repair`);

  // Each segment's scan, in order, until the one to cut.
  let index = -1;
  let scan: Awaited<ReturnType<typeof scanSegment>> | null = null;
  let starts: { pos: number; firstOffset: number }[] = [];
  const wanted = options.segment === undefined ? undefined : path.basename(options.segment);
  if (wanted !== undefined && !names.some((n) => n.name === wanted)) {
    throw new LogRepairError(`${abs} has no segment ${JSON.stringify(wanted)}; its segments: ${names.map((n) => n.name).join(', ')}`);
  }
  let expected: number | null = null;
  for (let i = 0; i < names.length; i++) {
    const { name, firstOffset } = names[i]!;
    const recordStarts: { pos: number; firstOffset: number }[] = [];
    const s = await scanSegment(path.join(abs, name), 0, firstOffset, undefined, (pos, payload) => {
      recordStarts.push({ pos, firstOffset: summarizeBatch(payload).firstOffset });
    });
    const gap = expected !== null && firstOffset !== expected;
    const damaged = s.problem !== null || gap;
    if (wanted === name || (wanted === undefined && damaged)) {
      index = i;
      scan = s;
      starts = recordStarts;
      break;
    }
    expected = s.problem === null ? s.endOffset : null;
  }
  if (index < 0 || scan === null) {
    throw new LogRepairError(`${abs} has no damage (see weft log inspect): nothing to cut; name a segment with --segment to cut a healthy one`);
  }
  const { name, firstOffset } = names[index]!;
  const file = path.join(abs, name);
  const boundaries = [...starts.map((r) => r.pos), scan.validBytes];
  if (!boundaries.includes(truncateAt)) {
    const before = boundaries.filter((b) => b <= truncateAt).slice(-3);
    throw new LogRepairError(
      `byte ${truncateAt} of ${file} is not where a verified record starts or ends` +
        (scan.problem === null ? '' : ` (the damage is at byte ${scan.problem.pos}: cutting there keeps every record before it)`) +
        (before.length > 0 ? `; record boundaries at or before it: ${before.join(', ')}` : '') +
        `; the last verified record ends at byte ${scan.validBytes}`,
    );
  }
  const fh = await fs.open(file, 'r');
  let droppedRecords = 0;
  let droppedEvents = 0;
  try {
    const kept = starts.filter((r) => r.pos < truncateAt).length;
    droppedRecords = starts.length - kept;
    droppedEvents = scan.endOffset - (starts[kept]?.firstOffset ?? scan.endOffset);
    if (scan.problem !== null) {
      // Past the damage: whatever valid records there are (from the damaged one itself, if only its envelope is bad).
      const past = await validRecordsFrom(fh, scan.problem.pos, scan.fileBytes);
      droppedRecords += past?.records ?? 0;
      droppedEvents += past?.events ?? 0;
    }
  } finally {
    await fh.close();
  }
  const laterSegments: DroppedSegment[] = [];
  for (const later of names.slice(index + 1)) {
    const h = await fs.open(path.join(abs, later.name), 'r');
    try {
      const bytes = (await h.stat()).size;
      const valid = await validRecordsFrom(h, 0, bytes);
      laterSegments.push({ name: later.name, bytes, records: valid?.records ?? 0, events: valid?.events ?? 0 });
    } finally {
      await h.close();
    }
  }
  const droppedBytes = scan.fileBytes - truncateAt;
  const headAfter = truncateAt === scan.validBytes ? scan.endOffset : starts.find((r) => r.pos === truncateAt)!.firstOffset;
  return {
    dir: abs,
    segment: file,
    byteOffset: truncateAt,
    damage: scan.problem === null ? null : { byteOffset: scan.problem.pos, reason: scan.problem.reason },
    droppedBytes,
    droppedRecords,
    droppedEvents,
    removesSegment: truncateAt === 0 && index > 0,
    laterSegments,
    savedTo: path.join(abs, `repair-${stamp((options.now ?? (() => new Date()))())}`),
    headAfter: truncateAt === 0 && index > 0 ? firstOffset : headAfter,
    changes: droppedBytes > 0 || laterSegments.length > 0 || (truncateAt === 0 && index > 0),
  };
}

/**
 * Cuts the log as planned (see the module comment), holding the writer's lock, so a running Weft is never
 * cut under: its lock refuses the repair. Later segments go first, last to first, and the cut segment last,
 * so a repair stopped half-way leaves a log that is a prefix of the original.
 */
export async function repairLog(dir: string, options: RepairOptions): Promise<RepairResult> {
  if (options.dryRun === true) return { ...(await planRepair(dir, options)), applied: false };
  const abs = path.resolve(dir);
  const lock = await acquireLock(abs, options.logger);
  try {
    // Planned under the lock: what is cut is what the log holds now.
    const plan = await planRepair(abs, options);
    if (!plan.changes) return { ...plan, applied: false };
    await fs.mkdir(plan.savedTo);
    const segName = path.basename(plan.segment);
    for (const later of [...plan.laterSegments].reverse()) await fs.rename(path.join(abs, later.name), path.join(plan.savedTo, later.name));
    if (plan.removesSegment) {
      await fs.rename(plan.segment, path.join(plan.savedTo, segName));
    } else if (plan.droppedBytes > 0) {
      const src = await fs.open(plan.segment, 'r+');
      try {
        const cut = Buffer.allocUnsafe(plan.droppedBytes);
        const { bytesRead } = await src.read(cut, 0, cut.length, plan.byteOffset);
        const copy = path.join(plan.savedTo, `${segName}.from-byte-${plan.byteOffset}`);
        await fs.writeFile(copy, cut.subarray(0, bytesRead));
        await syncFile(copy);
        await src.truncate(plan.byteOffset);
        await src.sync();
      } finally {
        await src.close();
      }
    }
    const { changes: _changes, ...record } = plan;
    await fs.writeFile(path.join(plan.savedTo, 'REPAIR.json'), `${JSON.stringify({ repairedAt: new Date().toISOString(), pid: process.pid, ...record }, null, 2)}\n`);
    await syncFile(path.join(plan.savedTo, 'REPAIR.json'));
    await syncFile(plan.savedTo);
    await syncFile(abs);
    options.logger?.warn('event log repaired: cut at the damage; what was dropped is kept in the repair folder', {
      file: plan.segment,
      byteOffset: plan.byteOffset,
      damage: plan.damage,
      droppedBytes: plan.droppedBytes,
      droppedRecords: plan.droppedRecords + plan.laterSegments.reduce((n, s) => n + s.records, 0),
      droppedEvents: plan.droppedEvents + plan.laterSegments.reduce((n, s) => n + s.events, 0),
      segmentRemoved: plan.removesSegment,
      laterSegmentsMoved: plan.laterSegments.map((s) => s.name),
      savedTo: plan.savedTo,
      headAfter: plan.headAfter,
    });
    return { ...plan, applied: true };
  } finally {
    await lock.release();
  }
}

async function syncFile(p: string): Promise<void> {
  const h = await fs.open(p, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}
