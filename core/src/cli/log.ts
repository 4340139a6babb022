import { FileEventLog } from '../log/file-log.js';
import { inspectLog, type LogInspection } from '../log/inspect.js';
import type { MeshEvent } from '../log/types.js';
import { silentLogger } from '../observe/logger.js';

/** `weft log inspect` and `weft log tail`: read-only views of a file log (safe while a writer runs). */

export function formatInspection(i: LogInspection): string {
  const lines = [`log ${i.dir}`];
  lines.push(`  events: ${i.totalEvents}   head (next offset): ${i.head}   segments: ${i.segments.length}`);
  if (i.writer === null) lines.push('  writer: none');
  else lines.push(`  writer: pid ${i.writer.pid ?? '?'} (${i.writer.alive ? 'running' : 'not running: stale lock'})`);
  for (const s of i.segments) {
    const range = s.lastOffset === null ? 'empty' : `offsets ${s.firstOffset}..${s.lastOffset}`;
    const damaged = s.validBytes < s.bytes ? ` (${s.bytes - s.validBytes} bytes past the last valid record)` : '';
    lines.push(`  ${s.name}  ${s.bytes} bytes  ${s.records} batches  ${s.events} events  ${range}${damaged}`);
  }
  if (i.problems.length === 0) lines.push('  problems: none');
  for (const p of i.problems) lines.push(`  problem (${p.severity}): ${p.file} at byte ${p.byteOffset}: ${p.reason}`);
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
