import * as path from 'node:path';
import { FileEventLog } from '../log/file-log.js';
import { inspectLog, type LogInspection, type LogProblem } from '../log/inspect.js';
import type { LockInfo } from '../log/lock.js';
import type { RepairResult } from '../log/repair.js';
import type { MeshEvent } from '../log/types.js';
import { createLogger, silentLogger } from '../observe/logger.js';
import { flag, intOption, parseCommandLine, stringOption, UsageError } from './args.js';
import type { CliIO } from './main.js';

/**
 * `weft log inspect` and `weft log tail`: read-only views of a file log (safe while a writer runs);
 * `weft log repair`: the explicit cut at damage no open cuts by itself.
 */

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

function formatWriter(w: LockInfo | null): string {
  if (w === null) return 'writer: none';
  const who = w.pid === null ? 'unreadable LOCK' : `pid ${w.pid}${w.startTime === null ? '' : ` (start ${w.startTime})`}${w.hostname === null ? '' : ` on ${w.hostname}`}`;
  return `writer: ${who}: ${w.alive ? w.detail : `${w.detail}; the next writer takes it over`}`;
}

export function describeDamage(p: LogProblem): string {
  const past = p.following === null ? '' : `; ${plural(p.following.records, 'valid record')} (${plural(p.following.events, 'event')}) follow from byte ${p.following.pos}`;
  return `${p.file} at byte ${p.byteOffset}: ${p.reason}${past}`;
}

export function formatInspection(i: LogInspection): string {
  const lines = [`log ${i.dir}`];
  lines.push(`  events: ${i.totalEvents}   head (next offset): ${i.head}   segments: ${i.segments.length}`);
  lines.push(`  ${formatWriter(i.writer)}`);
  for (const s of i.segments) {
    const range = s.lastOffset === null ? 'empty' : `offsets ${s.firstOffset}..${s.lastOffset}`;
    const damaged = s.validBytes < s.bytes ? ` (${s.bytes - s.validBytes} bytes past the last valid record)` : '';
    lines.push(`  ${s.name}  ${s.bytes} bytes  ${s.records} batches  ${s.events} events  ${range}${damaged}`);
  }
  if (i.problems.length === 0) lines.push('  problems: none');
  for (const p of i.problems) {
    lines.push(`  problem (${p.severity}): ${describeDamage(p)}`);
    if (p.severity === 'torn-tail') lines.push('    an incomplete last write: the next writable open (weft start) cuts it');
    else {
      lines.push(
        `    corrupt: weft start refuses this log. Restore the segment from a backup, or cut here (see --dry-run first):\n` +
          `    weft log repair ${i.dir} --segment ${path.basename(p.file)} --truncate-at ${p.byteOffset}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function inspectCommand(dir: string, json: boolean, out: (s: string) => void): Promise<number> {
  const inspection = await inspectLog(dir);
  out(json ? `${JSON.stringify(inspection, null, 2)}\n` : formatInspection(inspection));
  return inspection.problems.some((p) => p.severity === 'corrupt') ? 1 : 0;
}

export function formatEvent(e: MeshEvent, json: boolean): string {
  if (json) return `${JSON.stringify(e)}\n`;
  return `${e.offset}\t${new Date(e.time).toISOString()}\t${e.source}\t${e.op}\t${e.kind}\t${e.key}\n`;
}

export interface TailOptions {
  readonly from: number;
  readonly follow: boolean;
  readonly json: boolean;
  /** Resolves when a --follow tail should stop (SIGINT in the CLI). */
  readonly until?: Promise<void>;
}

export async function tailCommand(dir: string, options: TailOptions, out: (s: string) => void): Promise<number> {
  const log = await FileEventLog.open(dir, { readOnly: true, logger: silentLogger });
  try {
    if (!options.follow) {
      for await (const batch of log.read(options.from)) {
        for (const e of batch.events) out(formatEvent(e, options.json));
      }
      return 0;
    }
    const sub = log.follow(options.from, (batch) => {
      for (const e of batch.events) out(formatEvent(e, options.json));
    });
    // The log's poll timer does not hold the process open; following until a signal is this command's job.
    const keepAlive = setInterval(() => undefined, 60_000);
    try {
      await (options.until ?? new Promise<void>(() => undefined));
    } finally {
      clearInterval(keepAlive);
    }
    await sub.close();
    return 0;
  } finally {
    await log.close();
  }
}

export const REPAIR_HELP = `Usage: weft log repair <dir> --truncate-at <byte> [--segment <name>] [--dry-run] [--json]

Cuts a file log at damage that Weft never cuts by itself: corruption (a damaged record with valid records
after it, or damage in a segment that is not the last), which weft start, weft log tail and replay refuse.
(A torn tail, an incomplete last write, needs no repair: weft start cuts it.) weft log inspect, or the
error weft start prints, names the segment and the byte offset of the damage.

Everything from <byte> on is dropped from the log: the rest of that segment, with any valid records past
the damage, and every later segment. Nothing is deleted: what is dropped is moved into a folder
repair-<time>/ of the log directory, with REPAIR.json describing the cut. The repair is logged on stderr
(segment, byte offset, bytes, records and events dropped) and summed up on stdout.

Options:
  --truncate-at <byte>  where to cut (required): the byte offset of the damage, or an earlier record boundary
  --segment <name>      the segment to cut (default: the first damaged one)
  --dry-run             show what would be dropped; change nothing
  --json                print the result as JSON

Takes the writer's lock: stop weft start first (a running writer makes the repair fail). Exits 0 once
cut (or, with --dry-run, planned), 1 if the cut is refused (no damage, not a record boundary, locked).
`;

function formatRepair(r: RepairResult, dryRun: boolean): string {
  const would = (done: string, planned: string): string => (dryRun ? planned : done);
  const seg = path.basename(r.segment);
  const lines = [`log ${r.dir}`];
  lines.push(r.damage === null ? `  damage: none in ${seg}` : `  damage: ${seg} at byte ${r.damage.byteOffset}: ${r.damage.reason}`);
  if (!r.changes) {
    lines.push(`  nothing to cut: ${seg} ends at byte ${r.byteOffset} and no segment follows it`);
    return `${lines.join('\n')}\n`;
  }
  lines.push(
    r.removesSegment
      ? `  ${would('removed', 'would remove')} ${seg} (a cut at byte 0): ${plural(r.droppedBytes, 'byte')}, ${plural(r.droppedRecords, 'valid record')}, ${plural(r.droppedEvents, 'event')} dropped`
      : `  ${would('cut', 'would cut')} ${seg} at byte ${r.byteOffset}: ${plural(r.droppedBytes, 'byte')}, ${plural(r.droppedRecords, 'valid record')}, ${plural(r.droppedEvents, 'event')} dropped`,
  );
  for (const s of r.laterSegments) {
    lines.push(`  ${would('moved', 'would move')} later segment ${s.name} aside: ${plural(s.bytes, 'byte')}, ${plural(s.records, 'valid record')}, ${plural(s.events, 'event')} dropped`);
  }
  lines.push(`  ${would('kept in', 'would keep what is dropped in')} ${r.savedTo}`);
  lines.push(`  head (next offset) ${would('is now', 'would be')} ${r.headAfter}`);
  if (dryRun) lines.push('dry run: nothing was changed; run again without --dry-run to cut.');
  return `${lines.join('\n')}\n`;
}

/** `weft log repair <dir> --truncate-at N [--segment name] [--dry-run] [--json]`. */
export async function repairMain(argv: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine(argv, {
    'truncate-at': { type: 'string' },
    segment: { type: 'string' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (flag(parsed, 'help')) {
    io.stdout(REPAIR_HELP);
    return 0;
  }
  const dir = parsed.positionals[0];
  if (dir === undefined || parsed.positionals.length > 1) throw new UsageError('weft log repair takes exactly one log directory');
  const truncateAt = intOption(parsed, 'truncate-at', 0);
  if (truncateAt === undefined) {
    throw new UsageError('give --truncate-at <byte>: where to cut (weft log inspect names the damaged segment and byte); --dry-run shows what it drops');
  }
  const dryRun = flag(parsed, 'dry-run');
  const segment = stringOption(parsed, 'segment');
  const { repairLog } = await import('../log/repair.js');
  const result = await repairLog(path.resolve(io.cwd, dir), {
    truncateAt,
    dryRun,
    ...(segment === undefined ? {} : { segment }),
    logger: (io.logger ?? createLogger()).child({ component: 'log-repair' }),
  });
  // Printed once the cut is done and synced: a reader that goes away cannot interrupt it.
  io.stdout(flag(parsed, 'json') ? `${JSON.stringify({ ...result, dryRun }, null, 2)}\n` : formatRepair(result, dryRun));
  return 0;
}
