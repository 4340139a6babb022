import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { weftProtos } from '@weft/protos';
import { captureLogger } from '../observe/logger.js';
import { createFileLogBackend, fileLogDir } from './backends.js';
import { crc32c } from './crc32c.js';
import { canonicalJson } from './codec.js';
import { EventSchemaVersionError, LogCorruptError, LogLockedError, LogUnavailableError } from './errors.js';
import { FileEventLog } from './file-log.js';
import { inspectLog } from './inspect.js';
import { LOCK_FILE } from './lock.js';
import { frameRecord, segmentName } from './segment.js';
import { eventLogConformance, expectEvent } from './testdata/conformance.js';
import { inputs } from './testdata/events.js';
import type { EventInput, LogBatch } from './types.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-filelog-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => path.join(root, `log-${n++}`);

async function collect(iter: AsyncIterable<LogBatch>): Promise<LogBatch[]> {
  const out: LogBatch[] = [];
  for await (const b of iter) out.push(b);
  return out;
}
const offsetsOf = (batches: LogBatch[]): number[] => batches.flatMap((b) => b.events.map((e) => e.offset));
const segFiles = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();

eventLogConformance('FileEventLog', () => FileEventLog.open(freshDir(), { logger: captureLogger() }));

test('FileEventLog: reopening continues the offsets and keeps the data', async () => {
  const dir = freshDir();
  const a = inputs('a', 4);
  let log = await FileEventLog.open(dir);
  await log.append(a);
  await log.close();
  log = await FileEventLog.open(dir);
  assert.equal(log.head(), 4);
  assert.deepEqual(await log.append(inputs('b', 2)), [4, 5]);
  await log.close();
  log = await FileEventLog.open(dir, { readOnly: true });
  const batches = await collect(log.read());
  assert.deepEqual(offsetsOf(batches), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(
    batches[0]!.events.map(({ time: _t, ...e }) => e),
    a.map((e, i) => expectEvent(e, i)),
  );
  await log.close();
});

test('FileEventLog: concurrent appends are group-committed', async () => {
  const dir = freshDir();
  const log = await FileEventLog.open(dir);
  try {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(inputs(`g${i}`, 1 + (i % 3)))));
    const all = results.flat().sort((x, y) => x - y);
    assert.deepEqual(all, Array.from({ length: all.length }, (_, i) => i), 'offsets are unique and contiguous');
    for (const r of results) {
      for (let i = 1; i < r.length; i++) assert.equal(r[i], r[0]! + i, 'offsets within a batch are contiguous');
    }
    const s = log.stats();
    assert.equal(s.batches, 200);
    assert.ok(s.syncs < 20, `200 concurrent appends took ${s.syncs} syncs`);
    assert.equal((await collect(log.read())).length, 200, 'each append stays one batch');
  } finally {
    await log.close();
  }
});

test('FileEventLog: segments roll at the configured size, named by first offset', async () => {
  const dir = freshDir();
  let log = await FileEventLog.open(dir, { segmentBytes: 4096 });
  for (let i = 0; i < 40; i++) await log.append(inputs(`r${i}`, 3));
  const files = segFiles(dir);
  assert.ok(files.length >= 5, `expected several segments, got ${files.length}`);
  assert.equal(files[0], '00000000000000000000.seg');
  for (const f of files.slice(0, -1)) assert.ok(fs.statSync(path.join(dir, f)).size <= 4096, `${f} is over the limit`);
  const report = await inspectLog(dir);
  assert.equal(report.totalEvents, 120);
  assert.equal(report.head, 120);
  assert.deepEqual(report.problems, []);
  assert.equal(report.writer?.pid, process.pid);
  assert.equal(report.writer?.alive, true);
  for (let i = 0; i < report.segments.length; i++) {
    const s = report.segments[i]!;
    assert.equal(s.name, segmentName(s.firstOffset));
    if (i > 0) assert.equal(s.firstOffset, report.segments[i - 1]!.lastOffset! + 1);
  }
  // Reads across segments, from anywhere.
  assert.deepEqual(offsetsOf(await collect(log.read())), Array.from({ length: 120 }, (_, i) => i));
  assert.deepEqual(offsetsOf(await collect(log.read(77))), Array.from({ length: 43 }, (_, i) => 77 + i));
  await log.close();
  log = await FileEventLog.open(dir, { segmentBytes: 4096 });
  assert.equal(log.head(), 120);
  assert.deepEqual(await log.append(inputs('after', 1)), [120]);
  assert.deepEqual(offsetsOf(await collect(log.read(100))), Array.from({ length: 21 }, (_, i) => 100 + i));
  await log.close();
});

test('FileEventLog: a large log is read from the middle without scanning from the start', async () => {
  const dir = freshDir();
  const log = await FileEventLog.open(dir);
  try {
    await Promise.all(Array.from({ length: 600 }, (_, i) => log.append(inputs(`m${i}`, 2))));
    assert.ok(fs.statSync(path.join(dir, segmentName(0))).size > 3 * 64 * 1024);
    const got = offsetsOf(await collect(log.read(1001)));
    assert.deepEqual(got, Array.from({ length: 199 }, (_, i) => 1001 + i));
  } finally {
    await log.close();
  }
});

test('FileEventLog: readers and followers while the writer appends', async () => {
  const dir = freshDir();
  const log = await FileEventLog.open(dir, { segmentBytes: 8192 });
  try {
    await log.append(inputs('pre', 5));
    const followed: number[] = [];
    const sub = log.follow(0, (b) => {
      followed.push(...b.events.map((e) => e.offset));
    });
    const readOnly = await FileEventLog.open(dir, { readOnly: true, pollIntervalMs: 10 });
    const polled: number[] = [];
    const sub2 = readOnly.follow(0, (b) => {
      polled.push(...b.events.map((e) => e.offset));
    });
    const writer = (async () => {
      for (let i = 0; i < 60; i++) await log.append(inputs(`w${i}`, 2));
    })();
    const reads: number[][] = [];
    while (log.head() < 125) {
      const head = log.head();
      const got = offsetsOf(await collect(log.read(0)));
      assert.ok(got.length >= head, 'a reader sees at least the head at its call');
      reads.push(got);
      await new Promise((r) => setImmediate(r));
    }
    await writer;
    for (const r of reads) assert.deepEqual(r, Array.from({ length: r.length }, (_, i) => i));
    for (let i = 0; i < 500 && (followed.length < 125 || polled.length < 125); i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(followed, Array.from({ length: 125 }, (_, i) => i));
    assert.deepEqual(polled, Array.from({ length: 125 }, (_, i) => i), 'a read-only follower picks up another writer');
    await sub.close();
    await sub2.close();
    await readOnly.close();
  } finally {
    await log.close();
  }
});

test('FileEventLog: a second writer is refused; a stale lock is taken over', async () => {
  const dir = freshDir();
  const first = await FileEventLog.open(dir);
  await assert.rejects(FileEventLog.open(dir), (err: unknown) => {
    assert.ok(err instanceof LogLockedError);
    assert.equal(err.code, 'LOG_LOCKED');
    assert.equal(err.pid, process.pid);
    assert.match(err.message, /read-only/);
    return true;
  });
  // Readers need no lock.
  const reader = await FileEventLog.open(dir, { readOnly: true });
  await assert.rejects(reader.append(inputs('x', 1)), LogUnavailableError);
  await reader.close();
  await first.close();
  assert.ok(!fs.existsSync(path.join(dir, LOCK_FILE)), 'close releases the lock');
  // A lock whose process is gone (kill -9) does not block the next writer.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
  fs.writeFileSync(path.join(dir, LOCK_FILE), `${dead}\n`);
  const second = await FileEventLog.open(dir);
  assert.equal((JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as { pid: number }).pid, process.pid);
  await second.close();
});

export function tinyBatch(i: number): EventInput[] {
  const batch: EventInput[] = [{ source: 't', op: 'upsert', kind: 'Service', key: `n/s${i}`, body: { i } }];
  if (i % 2 === 1) batch.push({ source: 't', op: 'delete', kind: 'Service', key: `n/d${i}` });
  return batch;
}

/** Writes a log of `records` batches and returns the file and the record boundaries. */
async function smallLog(dir: string, records: number): Promise<{ file: string; bounds: number[]; batches: LogBatch[] }> {
  const log = await FileEventLog.open(dir);
  // Small records keep the every-byte tests fast.
  for (let i = 0; i < records; i++) await log.append(tinyBatch(i));
  const batches = await collect(log.read());
  await log.close();
  const file = path.join(dir, segmentName(0));
  const data = fs.readFileSync(file);
  const bounds = [0];
  while (bounds.at(-1)! < data.length) bounds.push(bounds.at(-1)! + 8 + data.readUInt32LE(bounds.at(-1)!));
  assert.equal(bounds.at(-1), data.length);
  return { file, bounds, batches };
}

test('FileEventLog: a torn tail is cut at every possible tear, with a warning naming file and byte', async () => {
  const dir = freshDir();
  const { file, bounds, batches } = await smallLog(dir, 3);
  const original = fs.readFileSync(file);
  for (let len = 0; len < original.length; len++) {
    fs.writeFileSync(file, original.subarray(0, len));
    const logger = captureLogger();
    const log = await FileEventLog.open(dir, { logger });
    const complete = bounds.filter((b) => b <= len).length - 1;
    const cut = bounds[complete]!;
    assert.equal(fs.statSync(file).size, cut, `tear at ${len}`);
    const got = await collect(log.read());
    assert.deepEqual(got, batches.slice(0, complete));
    assert.equal(log.head(), offsetsOf(batches.slice(0, complete)).length);
    const warns = logger.records.filter((r) => r.level === 'warn');
    if (len === cut) assert.equal(warns.length, 0);
    else {
      assert.equal(warns.length, 1);
      assert.equal(warns[0]!['file'], file);
      assert.equal(warns[0]!['byteOffset'], cut);
    }
    await log.close();
  }
});

test('FileEventLog: read-only open reports a torn tail and leaves it', async () => {
  const dir = freshDir();
  const { file, bounds } = await smallLog(dir, 3);
  fs.truncateSync(file, bounds[2]! + 5);
  const logger = captureLogger();
  const log = await FileEventLog.open(dir, { readOnly: true, logger });
  assert.equal(fs.statSync(file).size, bounds[2]! + 5, 'read-only never changes a byte');
  assert.equal(logger.records.filter((r) => r.level === 'warn' && r['byteOffset'] === bounds[2]).length, 1);
  assert.equal(offsetsOf(await collect(log.read())).length, 3);
  await log.close();
  const report = await inspectLog(dir);
  assert.equal(report.problems.length, 1);
  assert.equal(report.problems[0]!.severity, 'torn-tail');
  assert.equal(report.problems[0]!.byteOffset, bounds[2]);
  assert.equal(report.segments[0]!.validBytes, bounds[2]);
  assert.equal(report.writer, null);
});

test('FileEventLog: damage in a segment that is not the last is a LogCorruptError naming file and byte', async () => {
  const dir = freshDir();
  const log = await FileEventLog.open(dir, { segmentBytes: 2048 });
  for (let i = 0; i < 20; i++) await log.append(inputs(`c${i}`, 2));
  await log.close();
  const first = path.join(dir, segFiles(dir)[0]!);
  const data = fs.readFileSync(first);
  const second = 8 + data.readUInt32LE(0);
  data[second + 20]! ^= 0x10;
  fs.writeFileSync(first, data);
  for (const readOnly of [false, true]) {
    await assert.rejects(FileEventLog.open(dir, { readOnly }), (err: unknown) => {
      assert.ok(err instanceof LogCorruptError);
      assert.equal(err.file, first);
      assert.equal(err.byteOffset, second);
      assert.match(err.message, /CRC mismatch/);
      return true;
    });
  }
  assert.equal(fs.readFileSync(first).length, data.length, 'nothing was cut');
  const report = await inspectLog(dir);
  assert.deepEqual(
    report.problems.map((p) => [p.file, p.byteOffset, p.severity]),
    [[first, second, 'corrupt']],
  );
  // A missing middle segment is noticed too.
  fs.unlinkSync(first);
  fs.rmSync(path.join(dir, segFiles(dir)[1]!));
  await assert.rejects(FileEventLog.open(dir, { readOnly: true }), /a segment is missing/);
});

test('FileEventLog: a record of a newer schema version is refused, not cut', async () => {
  const dir = freshDir();
  const { file } = await smallLog(dir, 2);
  const payload = weftProtos()
    .lookupType('weft.event.v1.Batch')
    .encode({ events: [{ v: 2, offset: 3, time: 1, source: 's', op: 1, kind: 'Workload', key: 'a/b', body: Buffer.from('{}') }] })
    .finish();
  fs.appendFileSync(file, frameRecord(payload));
  const size = fs.statSync(file).size;
  await assert.rejects(FileEventLog.open(dir), EventSchemaVersionError);
  assert.equal(fs.statSync(file).size, size);
  assert.equal(crc32c(payload), fs.readFileSync(file).readUInt32LE(size - payload.length - 4));
});

test('file backend: locations and read-only', async () => {
  assert.equal(fileLogDir('file:/var/lib/weft'), '/var/lib/weft');
  assert.equal(fileLogDir('file:///var/lib/weft'), '/var/lib/weft');
  assert.equal(fileLogDir('rel/dir'), 'rel/dir');
  assert.throws(() => fileLogDir('file:'), /names no directory/);
  const backend = createFileLogBackend({ logger: captureLogger() });
  assert.equal(backend.scheme, 'file');
  const dir = freshDir();
  await assert.rejects(backend.open(`file:${dir}`, { readOnly: true }), /does not exist/);
  const log = await backend.open(`file:${dir}`);
  await log.append(inputs('b', 1));
  await log.close();
  const ro = await backend.open(dir, { readOnly: true });
  assert.equal(ro.head(), 1);
  await ro.close();
});

test('FileEventLog: bad options and unusable directories are typed errors', async () => {
  await assert.rejects(FileEventLog.open(freshDir(), { segmentBytes: 10 }), { code: 'CONFIG_INVALID' });
  const file = path.join(root, 'a-file');
  fs.writeFileSync(file, 'x');
  await assert.rejects(FileEventLog.open(file), (err: unknown) => err instanceof LogUnavailableError && err.message.includes(file));
  await assert.rejects(FileEventLog.open(file, { readOnly: true }), /is not a directory/);
  await assert.rejects(inspectLog(path.join(root, 'missing')), /does not exist/);
});

test('FileEventLog: a read-only open can keep the records it verified, once, equal to a read from 0', async () => {
  const dir = freshDir();
  const writer = await FileEventLog.open(dir);
  await writer.append(inputs('a', 3));
  await writer.append(inputs('b', 2));
  await writer.close();
  // A torn tail: the kept records stop at the last whole record, as a read does.
  const seg = path.join(dir, segFiles(dir)[0]!);
  fs.appendFileSync(seg, Buffer.from([0x05, 0x00, 0x00]));

  const reader = await FileEventLog.open(dir, { readOnly: true, keepRecords: true, logger: captureLogger() });
  const read: { pos: number; payload: Buffer }[] = [];
  for await (const chunk of reader.readRecords(0)) for (const r of chunk) read.push({ pos: r.pos, payload: r.payload });
  const kept = reader.takeRecords();
  assert.ok(kept !== null);
  assert.deepEqual(kept.map((r) => ({ pos: r.pos, payload: r.payload })), read);
  assert.equal(kept.length, 2);
  assert.equal(reader.takeRecords(), null, 'handed over once');
  await reader.close();

});

test('FileEventLog: a writer keeps the records its open verified for the first readEncoded(0), until it appends', async () => {
  const dir = freshDir();
  const first = await FileEventLog.open(dir);
  await first.append(inputs('a', 3));
  await first.append(inputs('b', 2));
  await first.close();
  // A torn tail is cut by the writable open; the kept records stop before it.
  fs.appendFileSync(path.join(dir, segFiles(dir)[0]!), Buffer.from([0x05, 0x00, 0x00]));

  const fromDisk = async (log: FileEventLog): Promise<unknown[]> => {
    const out: unknown[] = [];
    for await (const batch of log.read(0)) for (const e of batch.events) out.push({ ...e, body: canonicalJson(e.body ?? null) });
    return out;
  };
  const encoded = async (log: FileEventLog, from = 0): Promise<unknown[]> => {
    const out: unknown[] = [];
    for await (const events of log.readEncoded(from)) {
      for (const e of events) out.push({ ...e, body: e.body.length === 0 ? 'null' : Buffer.from(e.body).toString('utf8') });
    }
    return out;
  };
  const writer = await FileEventLog.open(dir, { keepRecords: true, logger: captureLogger() });
  const want = await fromDisk(writer);
  assert.equal(want.length, 5);
  assert.deepEqual(await encoded(writer), want, 'from the kept records');
  assert.equal(writer.takeRecords(), null, 'handed over once');
  assert.deepEqual(await encoded(writer), want, 'then from disk');
  assert.deepEqual(await encoded(writer, 3), want.slice(3));

  // Past keepRecordsMaxBytes nothing is kept, and the first whole read goes to disk: the same events.
  const bounded = await FileEventLog.open(dir, { readOnly: true, keepRecords: true, keepRecordsMaxBytes: 100, logger: captureLogger() });
  assert.equal(bounded.takeRecords(), null, 'a log over the bound is not kept');
  assert.deepEqual(await encoded(bounded), want);
  await bounded.close();
  await assert.rejects(FileEventLog.open(dir, { readOnly: true, keepRecordsMaxBytes: -1 }), /keepRecordsMaxBytes -1 must be a whole number/);

  const again = await FileEventLog.open(freshDir(), { keepRecords: true });
  await again.append(inputs('c', 1));
  assert.equal(again.takeRecords(), null, 'an append drops what the open kept');
  assert.equal((await encoded(again)).length, 1);
  await again.close();
  await writer.close();
});
