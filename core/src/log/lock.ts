/**
 * One writer per log directory: a lock file holding the writer's pid, created atomically with its content
 * (written to a private file, then hard-linked into place, which fails if the lock exists). A lock left by
 * a process that no longer runs (kill -9, power loss) is taken over.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { LogLockedError } from './errors.js';

export const LOCK_FILE = 'LOCK';

export interface LockInfo {
  readonly pid: number | null;
  readonly alive: boolean;
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

/** Who holds the lock of `dir`, or null when there is no lock file. */
export async function readLock(dir: string): Promise<LockInfo | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, LOCK_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const pid = /^\d+$/.test(text.trim()) ? Number(text.trim()) : null;
  return { pid, alive: pid !== null && isAlive(pid) };
}

export interface HeldLock {
  release(): Promise<void>;
}

export async function acquireLock(dir: string): Promise<HeldLock> {
  const lockPath = path.join(dir, LOCK_FILE);
  const tmp = path.join(dir, `${LOCK_FILE}.${process.pid}.${Math.random().toString(36).slice(2)}`);
  await fs.writeFile(tmp, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await fs.link(tmp, lockPath);
        return {
          release: async () => {
            const holder = await readLock(dir);
            if (holder?.pid === process.pid) await fs.rm(lockPath, { force: true });
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await readLock(dir);
      if (holder === null) continue;
      // A pid file is only ever created complete (link), so an unparsable one is not ours to judge.
      if (holder.pid === null) throw new LogLockedError(dir, null, ` (unreadable ${LOCK_FILE} file; remove it if no writer runs)`);
      if (holder.alive) throw new LogLockedError(dir, holder.pid);
      await fs.rm(lockPath, { force: true });
    }
    throw new LogLockedError(dir, null, ' (the lock kept changing while being taken)');
  } finally {
    await fs.rm(tmp, { force: true });
  }
}
