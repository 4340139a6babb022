/**
 * A torn tail is only an incomplete last write. Damage with valid records after it is corruption: every
 * open refuses it (naming segment, byte and what follows), nothing is cut, and `repairLog` is the explicit,
 * logged way to cut there.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { captureLogger } from '../observe/logger.js';
import { LogCorruptError, LogLockedError, LogRepairError } from './errors.js';
import { FileEventLog } from './file-log.js';
import { inspectLog } from './inspect.js';
import { planRepair, repairLog } from './repair.js';
import { segmentName } from './segment.js';
import type { EventInput, LogBatch } from './types.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-corrupt-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => path.join(root, `log-${n++}`);

function batch(i: number, size: number): EventInput[] {
  return Array.from({ length: size }, (_, j) => ({ source: 't', op: 'upsert' as const, kind: 'Service', key: `n/s${i}-${j}`, body: { i, j } }));
}

async function collect(log: FileEventLog): Promise<LogBatch[]> {
  const out: LogBatch[] = [];
  for await (const b of log.read()) out.push(b);
  return out;
}

function boundaries(file: string): number[] {
  const data = fs.readFileSync(file);
  const b = [0];
  while (b.at(-1)! < data.length) b.push(b.at(-1)! + 8 + data.readUInt32LE(b.at(-1)!));
  return b;
}

/** The shape: one segment, 9 records, 1 + 8 x 6..7 events. */
async function nineRecords(dir: string, segmentBytes?: number): Promise<{ file: string; bounds: number[]; batches: LogBatch[] }> {
  const log = await FileEventLog.open(dir, segmentBytes === undefined ? {} : { segmentBytes });
  for (let i = 0; i < 9; i++) await log.append(batch(i, i === 0 ? 1 : 6 + (i % 2)));
  const batches = await collect(log);
  await log.close();
  const file = path.join(dir, segmentName(0));
  return { file, bounds: boundaries(file), batches };
}

const flip = (file: string, at: number): Buffer => {
  const data = fs.readFileSync(file);
  data[at]! ^= 0x10;
  fs.writeFileSync(file, data);
  return data;
};

test('a damaged early record of the last segment is corruption: refused writable and read-only, nothing cut', async () => {
  const dir = freshDir();
  const { file, bounds, batches } = await nineRecords(dir);
  const followingEvents = batches.slice(1).reduce((k, b) => k + b.events.length, 0);
  const damaged = flip(file, bounds[0]! + 20);
  for (const readOnly of [false, true]) {
    const logger = captureLogger();
    await assert.rejects(FileEventLog.open(dir, { readOnly, logger }), (err: unknown) => {
      assert.ok(err instanceof LogCorruptError);
      assert.equal(err.file, file);
      assert.equal(err.byteOffset, 0);
      assert.deepEqual(err.following, { pos: bounds[1], records: 8, events: followingEvents });
      assert.match(err.message, /corrupt at byte 0: CRC mismatch; 8 valid records \(\d+ events\) follow it from byte \d+, so this is not a torn tail/);
      assert.match(err.message, /weft log repair .* --segment 00000000000000000000\.seg --truncate-at 0/);
      return true;
    });
    assert.equal(logger.records.filter((r) => r.level === 'warn').length, 0, 'no "cut the tail" warning');
  }
  assert.deepEqual(fs.readFileSync(file), damaged, 'nothing was cut');
  const report = await inspectLog(dir);
  assert.deepEqual(
    report.problems.map((p) => ({ ...p })),
    [{ file, byteOffset: 0, reason: 'CRC mismatch', severity: 'corrupt', following: { pos: bounds[1], records: 8, events: followingEvents } }],
  );
});

test('damage in the middle, with a length field changed, is found past; zeros or garbage after the last record are a torn tail', async () => {
  const dir = freshDir();
  const { file, bounds, batches } = await nineRecords(dir);
  const original = fs.readFileSync(file);
  // A length that now runs past the end of the file: the records after it are still found.
  const data = Buffer.from(original);
  data.writeUInt32LE(0x00ffffff, bounds[4]!);
  fs.writeFileSync(file, data);
  await assert.rejects(FileEventLog.open(dir, { logger: captureLogger() }), (err: unknown) => {
    assert.ok(err instanceof LogCorruptError);
    assert.equal(err.byteOffset, bounds[4]);
    assert.match(err.message, /record length 16777215 runs past the end/);
    assert.equal(err.following?.pos, bounds[5]);
    assert.equal(err.following?.records, 4);
    return true;
  });
  // Two damaged records: what follows each is counted.
  data.writeUInt32LE(0, bounds[6]!);
  fs.writeFileSync(file, data);
  await assert.rejects(FileEventLog.open(dir, { readOnly: true, logger: captureLogger() }), (err: unknown) => {
    assert.ok(err instanceof LogCorruptError);
    assert.deepEqual([err.byteOffset, err.following?.pos, err.following?.records], [bounds[4], bounds[5], 3]);
    return true;
  });
  // What a crash can leave at the end (zeros of a preallocated block, half a record): cut, with a warning.
  for (const tail of [Buffer.alloc(4096), original.subarray(bounds[2]!, bounds[3]! - 3), Buffer.from('garbage that is not a record')]) {
    fs.writeFileSync(file, Buffer.concat([original, tail]));
    const logger = captureLogger();
    const log = await FileEventLog.open(dir, { logger });
    assert.equal(log.head(), batches.flatMap((b) => b.events).length);
    await log.close();
    assert.equal(fs.statSync(file).size, original.length);
    assert.equal(logger.records.filter((r) => r.level === 'warn' && r['byteOffset'] === original.length).length, 1);
  }
});

test('a read-only follower that meets damage with valid records after it fails rather than skip them', async () => {
  const dir = freshDir();
  const { file, bounds } = await nineRecords(dir);
  const reader = await FileEventLog.open(dir, { readOnly: true, pollIntervalMs: 10 });
  try {
    // The writer "appends" a record, then damage, then a valid record (as a bad disk would show it).
    const data = fs.readFileSync(file);
    const rec = data.subarray(bounds[8]!, bounds[9]!);
    const broken = Buffer.from(rec);
    broken[12]! ^= 1;
    fs.appendFileSync(file, Buffer.concat([broken, rec]));
    await assert.rejects(reader.refresh(), (err: unknown) => err instanceof LogCorruptError && err.byteOffset === bounds[9] && err.following?.records === 1);
  } finally {
    await reader.close();
  }
});

test('repairLog: cuts at the damage only when asked, keeps what it drops, logs it; the log opens again', async () => {
  const dir = freshDir();
  const { file, bounds, batches } = await nineRecords(dir);
  const at = bounds[3]!;
  const damaged = flip(file, at + 30);
  const droppedEvents = batches.slice(4).reduce((k, b) => k + b.events.length, 0);

  // Not a record boundary; a healthy segment without --segment: refused.
  await assert.rejects(repairLog(dir, { truncateAt: at + 1 }), (err: unknown) => err instanceof LogRepairError && /not where a verified record starts/.test(err.message));

  // A dry run plans and changes nothing.
  const plan = await repairLog(dir, { truncateAt: at, dryRun: true, now: () => new Date(0) });
  assert.equal(plan.applied, false);
  assert.deepEqual(
    { byteOffset: plan.byteOffset, damage: plan.damage, droppedBytes: plan.droppedBytes, droppedRecords: plan.droppedRecords, droppedEvents: plan.droppedEvents, headAfter: plan.headAfter },
    { byteOffset: at, damage: { byteOffset: at, reason: 'CRC mismatch' }, droppedBytes: damaged.length - at, droppedRecords: 5, droppedEvents, headAfter: 1 + 7 + 6 },
  );
  assert.deepEqual(fs.readFileSync(file), damaged);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['00000000000000000000.seg']);

  // A running writer's lock refuses the repair.
  const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  fs.writeFileSync(path.join(dir, 'LOCK'), `${other.pid}\n`);
  try {
    await assert.rejects(repairLog(dir, { truncateAt: at, logger: captureLogger() }), (err: unknown) => err instanceof LogLockedError && err.pid === other.pid);
  } finally {
    other.kill('SIGKILL');
  }
  assert.deepEqual(fs.readFileSync(file), damaged);
  fs.rmSync(path.join(dir, 'LOCK'));

  const logger = captureLogger();
  const done = await repairLog(dir, { truncateAt: at, logger, now: () => new Date(Date.UTC(2026, 0, 2, 3, 4, 5)) });
  assert.equal(done.applied, true);
  assert.equal(done.savedTo, path.join(dir, 'repair-2026-01-02T03-04-05-000Z'));
  assert.equal(fs.statSync(file).size, at);
  assert.deepEqual(fs.readFileSync(path.join(done.savedTo, `${segmentName(0)}.from-byte-${at}`)), damaged.subarray(at), 'the bytes cut are kept');
  const record = JSON.parse(fs.readFileSync(path.join(done.savedTo, 'REPAIR.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(record['byteOffset'], at);
  assert.equal(record['droppedEvents'], droppedEvents);
  const [warn] = logger.records.filter((r) => r.level === 'warn');
  assert.ok(warn !== undefined);
  assert.match(warn.msg, /event log repaired/);
  assert.deepEqual([warn['file'], warn['byteOffset'], warn['droppedRecords'], warn['droppedEvents']], [file, at, 5, droppedEvents]);

  assert.deepEqual((await inspectLog(dir)).problems, []);
  const log = await FileEventLog.open(dir, { logger: captureLogger() });
  assert.deepEqual(await collect(log), batches.slice(0, 3));
  assert.deepEqual(await log.append(batch(99, 1)), [14]);
  await log.close();
  // Nothing left to cut.
  await assert.rejects(repairLog(dir, { truncateAt: 0 }), /has no damage/);
});

test('repairLog: damage in an earlier segment moves every later segment aside; a missing segment is cut at byte 0', async () => {
  const dir = freshDir();
  const log = await FileEventLog.open(dir, { segmentBytes: 1024 });
  for (let i = 0; i < 30; i++) await log.append(batch(i, 3));
  await log.close();
  const segs = fs.readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();
  assert.ok(segs.length >= 4, `${segs.length} segments`);
  const second = path.join(dir, segs[1]!);
  const bounds = boundaries(second);
  flip(second, bounds[1]! + 12);
  await assert.rejects(FileEventLog.open(dir, { logger: captureLogger() }), (err: unknown) => err instanceof LogCorruptError && err.file === second && err.byteOffset === bounds[1]);
  const done = await repairLog(dir, { truncateAt: bounds[1]!, logger: captureLogger() });
  assert.equal(done.segment, second);
  assert.deepEqual(done.laterSegments.map((s) => s.name), segs.slice(2));
  assert.ok(done.laterSegments.every((s) => s.records > 0 && s.events === s.records * 3));
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.seg')).sort(), segs.slice(0, 2));
  assert.deepEqual(fs.readdirSync(done.savedTo).sort(), [...segs.slice(2), `${segs[1]!}.from-byte-${bounds[1]}`, 'REPAIR.json'].sort());
  const first = Number(segs[1]!.slice(0, 20));
  assert.equal(done.headAfter, first + 3);
  const reopened = await FileEventLog.open(dir, { logger: captureLogger() });
  assert.equal(reopened.head(), first + 3);
  await reopened.close();

  // A segment that does not start where the previous one ends (one went missing): removed by a cut at byte 0.
  const more = await FileEventLog.open(dir, { segmentBytes: 1024 });
  for (let i = 0; i < 30; i++) await more.append(batch(100 + i, 3));
  await more.close();
  const now = fs.readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();
  fs.rmSync(path.join(dir, now[2]!));
  await assert.rejects(FileEventLog.open(dir, { readOnly: true }), /a segment is missing/);
  const plan = await planRepair(dir, { truncateAt: 0 });
  assert.equal(plan.segment, path.join(dir, now[3]!));
  assert.equal(plan.removesSegment, true);
  await repairLog(dir, { truncateAt: 0, logger: captureLogger() });
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.seg')).sort(), now.slice(0, 2));
  assert.deepEqual((await inspectLog(dir)).problems, []);
});
