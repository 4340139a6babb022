/**
 * One writer per log directory: a LOCK file naming the writer, created atomically with its content
 * (written to a private file, then hard-linked into place, which fails if a LOCK exists).
 *
 * A pid alone cannot say whether its writer still runs: pids are reused, and after a container restart
 * Weft, as PID 1 again, finds `1` in the LOCK it left. So the LOCK also records the process's start time
 * (Linux: field 22 of /proc/<pid>/stat, clock ticks since boot) and the boot id
 * (/proc/sys/kernel/random/boot_id), and a LOCK is held only while a process with that pid, that start time
 * and that boot runs. A stale LOCK (kill -9, power loss, a restart that reused the pid) is taken over, and
 * the takeover is logged with what the LOCK said.
 *
 * Where /proc cannot tell a start time (not Linux), the pid alone decides, as it does for a LOCK written by
 * an older Weft (a bare pid): a running pid other than this process's holds the log, and the error says
 * to remove the LOCK if that process is not a Weft writing this log. A LOCK naming this process's own pid
 * that this process does not hold is stale whatever its format: no other running process can have that pid.
 *
 * The LOCK guards writers that see one another's processes (one machine, one pid namespace); two
 * containers must not share one log directory for writing (use the Kafka log for several replicas).
 */
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from '../observe/logger.js';
import { LogLockedError } from './errors.js';

export const LOCK_FILE = 'LOCK';

/** What a LOCK file says, and what that means now. */
export interface LockInfo {
  readonly pid: number | null;
  /** Start time of the writer in clock ticks since boot (/proc/<pid>/stat field 22); null when not recorded. */
  readonly startTime: string | null;
  readonly bootId: string | null;
  /** Host name of the writer, for people (it does not decide anything). */
  readonly hostname: string | null;
  /** `pid+start`: pid, start time and boot; `pid`: a bare pid (an older Weft, or no /proc); `unreadable`. */
  readonly format: 'pid+start' | 'pid' | 'unreadable';
  /** A running writer holds the log: another writer is refused. False: stale, taken over by the next writer. */
  readonly alive: boolean;
  /** Why, in words (e.g. "pid 1 is this process, started after the LOCK was written"). */
  readonly detail: string;
}

/** Directories this process holds the LOCK of (resolved paths): the one case a LOCK naming us is not stale. */
const heldHere = new Set<string>();

let ownIdentity: { startTime: string | null; bootId: string | null } | undefined;

/** Start time of a process in clock ticks since boot, or null when /proc cannot tell (no such pid, not Linux). */
export function processStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  return startTimeFromStat(stat);
}

/** Field 22 (starttime) of a /proc/<pid>/stat line, or null when the line does not have one. */
export function startTimeFromStat(stat: string): string | null {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count fields after the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const fields = stat.slice(close + 2).split(' ');
  // Field 3 (state) is fields[0], so field 22 (starttime) is fields[19].
  const start = fields[19];
  return start !== undefined && /^\d+$/.test(start) ? start : null;
}

export function bootId(): string | null {
  try {
    const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return id === '' ? null : id;
  } catch {
    return null;
  }
}

function own(): { startTime: string | null; bootId: string | null } {
  ownIdentity ??= { startTime: processStartTime(process.pid), bootId: bootId() };
  return ownIdentity;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The content of a LOCK this process writes. */
function lockContent(): string {
  const { startTime, bootId: boot } = own();
  return `${JSON.stringify({ pid: process.pid, startTime, bootId: boot, hostname: os.hostname() })}\n`;
}

interface Parsed {
  readonly pid: number | null;
  readonly startTime: string | null;
  readonly bootId: string | null;
  readonly hostname: string | null;
  readonly format: LockInfo['format'];
}

function parseLock(text: string): Parsed {
  const t = text.trim();
  if (/^\d+$/.test(t)) return { pid: Number(t), startTime: null, bootId: null, hostname: null, format: 'pid' };
  try {
    const v = JSON.parse(t) as Record<string, unknown>;
    if (typeof v === 'object' && v !== null && Number.isSafeInteger(v['pid']) && (v['pid'] as number) > 0) {
      const str = (x: unknown): string | null => (typeof x === 'string' && x !== '' ? x : null);
      const startTime = str(v['startTime']);
      return {
        pid: v['pid'] as number,
        startTime,
        bootId: str(v['bootId']),
        hostname: str(v['hostname']),
        format: startTime === null ? 'pid' : 'pid+start',
      };
    }
  } catch {
    // Not JSON: unreadable.
  }
  return { pid: null, startTime: null, bootId: null, hostname: null, format: 'unreadable' };
}

/** Whether the writer a LOCK names still runs. */
function judge(dir: string, lock: Parsed): LockInfo {
  const info = (alive: boolean, detail: string): LockInfo => ({ ...lock, alive, detail });
  const { pid, startTime } = lock;
  if (pid === null) return info(true, `unreadable ${LOCK_FILE} file: remove it if no Weft writes this log`);
  const me = own();
  if (pid === process.pid) {
    if (heldHere.has(dir)) return info(true, 'held by this process');
    if (startTime !== null && startTime === me.startTime && lock.bootId === me.bootId) {
      return info(false, `stale: left by this process (pid ${pid}), which no longer holds it`);
    }
    return info(false, `stale: pid ${pid} is this process now (a restart reused the pid)`);
  }
  if (!isAlive(pid)) return info(false, `stale: process ${pid} is not running`);
  if (lock.bootId !== null && me.bootId !== null && lock.bootId !== me.bootId) {
    return info(false, `stale: written before a reboot (boot ${lock.bootId}, now ${me.bootId})`);
  }
  if (startTime === null) {
    return info(true, lock.format === 'pid' && lock.hostname === null ? 'running (a LOCK with a bare pid, from an older Weft: judged by the pid alone)' : 'running');
  }
  const now = processStartTime(pid);
  if (now === null) return info(true, 'running (its start time cannot be read here, so the pid alone decides)');
  if (now !== startTime) return info(false, `stale: pid ${pid} is another process now (started at tick ${now}, the writer at ${startTime})`);
  return info(true, 'running');
}

/** Who holds the lock of `dir`, or null when there is no lock file. */
export async function readLock(dir: string): Promise<LockInfo | null> {
  const abs = await canonical(dir);
  let text: string;
  try {
    text = await fs.readFile(path.join(abs, LOCK_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return judge(abs, parseLock(text));
}

/** One name per directory (symbolic links resolved), so this process knows a directory it holds by any path. */
async function canonical(dir: string): Promise<string> {
  const abs = path.resolve(dir);
  return fs.realpath(abs).catch(() => abs);
}

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * Takes the writer's lock of `dir`: refused (LogLockedError) while a running writer holds it; a stale one
 * is taken over, with a warning naming what it said.
 */
export async function acquireLock(dir: string, logger?: Logger): Promise<HeldLock> {
  const abs = await canonical(dir);
  const lockPath = path.join(abs, LOCK_FILE);
  const content = lockContent();
  const token = `${process.pid}.${Math.random().toString(36).slice(2)}`;
  const tmp = path.join(abs, `${LOCK_FILE}.${token}`);
  if (heldHere.has(abs)) throw new LogLockedError(abs, process.pid, ' (this process: the log is already open for writing here)');
  await fs.writeFile(tmp, content);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await fs.link(tmp, lockPath);
        heldHere.add(abs);
        return {
          release: async () => {
            heldHere.delete(abs);
            const text = await fs.readFile(lockPath, 'utf8').catch(() => null);
            if (text === content) await fs.rm(lockPath, { force: true });
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let text: string;
      try {
        text = await fs.readFile(lockPath, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const holder = judge(abs, parseLock(text));
      if (holder.alive) {
        if (holder.pid === null) throw new LogLockedError(abs, null, ` (${holder.detail})`);
        throw new LogLockedError(abs, holder.pid, ` (${holder.detail}${holder.format === 'pid' && holder.pid !== process.pid ? `; if process ${holder.pid} is not a Weft writing this log, remove ${lockPath}` : ''})`);
      }
      if (await removeIfUnchanged(lockPath, text, path.join(abs, `${LOCK_FILE}.stale.${token}`))) {
        logger?.warn('took over a stale event log lock', {
          lock: lockPath,
          pid: holder.pid,
          startTime: holder.startTime,
          bootId: holder.bootId,
          hostname: holder.hostname,
          reason: holder.detail,
        });
      }
    }
    throw new LogLockedError(abs, null, ' (the lock kept changing while being taken)');
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/**
 * Removes the LOCK if it still says `text`: moved aside first (atomic), so two processes taking over the
 * same stale LOCK cannot remove the one the faster of them just created; a LOCK that changed meanwhile is
 * put back.
 */
async function removeIfUnchanged(lockPath: string, text: string, aside: string): Promise<boolean> {
  try {
    await fs.rename(lockPath, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  try {
    if ((await fs.readFile(aside, 'utf8')) === text) return true;
    // Someone else's fresh LOCK: back into place, unless yet another writer got in first (then it stays theirs).
    await fs.link(aside, lockPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    return false;
  } finally {
    await fs.rm(aside, { force: true });
  }
}
