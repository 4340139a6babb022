/**
 * The writer's LOCK: a pid alone does not say whether its writer runs (pids are reused; Weft as PID 1 after
 * a container restart finds `1` in the LOCK it left), so the LOCK records the pid's start time and the boot.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { captureLogger } from '../observe/logger.js';
import { LogLockedError } from './errors.js';
import { FileEventLog } from './file-log.js';
import { inspectLog } from './inspect.js';
import { bootId, LOCK_FILE, processStartTime, readLock, startTimeFromStat } from './lock.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-lock-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(root, { recursive: true, force: true });
});
let n = 0;
function freshDir(): string {
  const dir = path.join(root, `log-${n++}`);
  fs.mkdirSync(dir);
  return dir;
}
const linux = processStartTime(process.pid) !== null;
const writeLock = (dir: string, content: unknown): void =>
  fs.writeFileSync(path.join(dir, LOCK_FILE), typeof content === 'string' ? content : `${JSON.stringify(content)}\n`);

/** A live process that is not Weft (and not this process). */
function sleeper(): number {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(child);
  return child.pid!;
}

const takeovers = (logger: ReturnType<typeof captureLogger>): Record<string, unknown>[] =>
  logger.records.filter((r) => r.level === 'warn' && r.msg === 'took over a stale event log lock');

test('lock: field 22 of /proc/<pid>/stat, whatever the command name holds', () => {
  const rest = 'S 1 1 1 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 4242 1000 100';
  assert.equal(startTimeFromStat(`123 (weft) ${rest}`), '4242');
  assert.equal(startTimeFromStat(`123 (a (b) c) ) ${rest}`), '4242');
  assert.equal(startTimeFromStat('garbage'), null);
  if (linux) {
    assert.match(processStartTime(process.pid)!, /^\d+$/);
    assert.match(bootId()!, /^[0-9a-f-]{36}$/);
  }
});

test('lock: the LOCK records pid, start time and boot; a second writer in this process is refused', async () => {
  const dir = freshDir();
  const log = await FileEventLog.open(dir, { logger: captureLogger() });
  try {
    const lock = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as Record<string, unknown>;
    assert.equal(lock['pid'], process.pid);
    assert.equal(lock['startTime'], processStartTime(process.pid));
    assert.equal(lock['bootId'], bootId());
    assert.equal(lock['hostname'], os.hostname());
    await assert.rejects(FileEventLog.open(dir), (err: unknown) => {
      assert.ok(err instanceof LogLockedError);
      assert.equal(err.pid, process.pid);
      assert.match(err.message, /already open for writing here/);
      return true;
    });
    // By another path to the same directory too.
    const link = path.join(root, `link-${n++}`);
    fs.symlinkSync(dir, link);
    await assert.rejects(FileEventLog.open(link), LogLockedError);
    const info = await readLock(dir);
    assert.equal(info?.alive, true);
    assert.equal(info?.detail, 'held by this process');
  } finally {
    await log.close();
  }
  assert.ok(!fs.existsSync(path.join(dir, LOCK_FILE)), 'close releases the lock');
});

test('lock: this process\'s own pid with another start time (a restart that reused the pid) is stale: taken over, logged', { skip: !linux }, async () => {
  const dir = freshDir();
  const left = { pid: process.pid, startTime: '1', bootId: bootId(), hostname: 'before-restart' };
  writeLock(dir, left);
  const before = await inspectLog(dir);
  assert.equal(before.writer?.alive, false);
  assert.match(before.writer!.detail, /this process now/);
  const logger = captureLogger();
  const log = await FileEventLog.open(dir, { logger });
  try {
    const [warn] = takeovers(logger);
    assert.ok(warn !== undefined, 'the takeover is logged');
    assert.equal(warn['pid'], process.pid);
    assert.equal(warn['startTime'], '1');
    assert.equal(warn['hostname'], 'before-restart');
    assert.match(String(warn['reason']), /a restart reused the pid/);
    assert.equal((JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as { startTime: string }).startTime, processStartTime(process.pid));
  } finally {
    await log.close();
  }
});

test('lock: this process\'s own pid, start time and boot in a LOCK it does not hold (left behind) is stale', { skip: !linux }, async () => {
  const dir = freshDir();
  writeLock(dir, { pid: process.pid, startTime: processStartTime(process.pid), bootId: bootId(), hostname: os.hostname() });
  const logger = captureLogger();
  const log = await FileEventLog.open(dir, { logger });
  await log.close();
  assert.match(String(takeovers(logger)[0]?.['reason']), /left by this process/);
});

test('lock: an old-format LOCK (a bare pid) naming this process is stale; naming another live process, refused', async () => {
  const dir = freshDir();
  writeLock(dir, `${process.pid}\n`);
  const logger = captureLogger();
  const log = await FileEventLog.open(dir, { logger });
  await log.close();
  assert.equal(takeovers(logger).length, 1);

  const other = sleeper();
  writeLock(dir, `${other}\n`);
  await assert.rejects(FileEventLog.open(dir, { logger: captureLogger() }), (err: unknown) => {
    assert.ok(err instanceof LogLockedError);
    assert.equal(err.pid, other);
    assert.match(err.message, new RegExp(`older Weft.*if process ${other} is not a Weft writing this log, remove .*LOCK`));
    return true;
  });
  const report = await inspectLog(dir);
  assert.equal(report.writer?.pid, other);
  assert.equal(report.writer?.alive, true);
  assert.equal(report.writer?.format, 'pid');
});

test('lock: another live process with the start time the LOCK records holds the log; with another start time or boot, it is stale', { skip: !linux }, async () => {
  const dir = freshDir();
  const other = sleeper();
  const startTime = processStartTime(other);
  assert.ok(startTime !== null);
  writeLock(dir, { pid: other, startTime, bootId: bootId(), hostname: os.hostname() });
  await assert.rejects(FileEventLog.open(dir, { logger: captureLogger() }), (err: unknown) => {
    assert.ok(err instanceof LogLockedError);
    assert.equal(err.pid, other);
    assert.match(err.message, new RegExp(`open for writing by process ${other} \\(running\\)`));
    return true;
  });
  const held = await inspectLog(dir);
  assert.deepEqual([held.writer?.pid, held.writer?.alive, held.writer?.startTime], [other, true, startTime]);
  assert.ok(fs.existsSync(path.join(dir, LOCK_FILE)), 'a refused open leaves the LOCK');

  // The same pid, reused by another process (another start time): stale.
  writeLock(dir, { pid: other, startTime: String(Number(startTime) - 1), bootId: bootId() });
  assert.match((await inspectLog(dir)).writer!.detail, /another process now/);
  let logger = captureLogger();
  let log = await FileEventLog.open(dir, { logger });
  await log.close();
  assert.match(String(takeovers(logger)[0]?.['reason']), new RegExp(`pid ${other} is another process now`));

  // Written before a reboot: stale, whatever runs under that pid now.
  writeLock(dir, { pid: other, startTime, bootId: '00000000-0000-0000-0000-000000000000' });
  logger = captureLogger();
  log = await FileEventLog.open(dir, { logger });
  await log.close();
  assert.match(String(takeovers(logger)[0]?.['reason']), /before a reboot/);
});

test('lock: a LOCK of a process that is gone is stale; an unreadable LOCK is refused', async () => {
  const dir = freshDir();
  const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
  writeLock(dir, { pid: dead, startTime: '5', bootId: bootId() });
  const logger = captureLogger();
  const log = await FileEventLog.open(dir, { logger });
  await log.close();
  assert.match(String(takeovers(logger)[0]?.['reason']), new RegExp(`process ${dead} is not running`));

  writeLock(dir, 'not a lock\n');
  await assert.rejects(FileEventLog.open(dir, { logger: captureLogger() }), /unreadable LOCK file: remove it if no Weft writes this log/);
  assert.equal((await inspectLog(dir)).writer?.format, 'unreadable');
});
