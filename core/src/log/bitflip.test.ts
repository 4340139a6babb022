/**
 * Flipped bits: for each byte of a segment (one bit per byte, chosen at random, plus every bit of some
 * record headers), open a damaged copy and check that the damage is cut only when it can be a torn tail
 * (the last record of the last segment, nothing valid after it: cut at that record, with a warning) and is
 * otherwise refused with a LogCorruptError naming the damaged record and the valid records after it (any
 * earlier record of the last segment, any record of another segment) — and that no record whose bytes
 * differ from what was written is ever returned.
 *
 * Until issue 12 the first test expected a flip anywhere in the last segment to be cut, dropping the valid
 * records after the damage; that was the bug: a torn tail is only an incomplete last write.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { captureLogger } from '../observe/logger.js';
import { LogCorruptError } from './errors.js';
import { FileEventLog } from './file-log.js';
import { segmentName } from './segment.js';
import type { EventInput, LogBatch } from './types.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-bitflip-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function batchFor(i: number): EventInput[] {
  const batch: EventInput[] = [{ source: 'b', op: 'upsert', kind: 'Service', key: `n/s${i}`, body: { i, p: [i, 'x'] } }];
  if (i % 3 === 1) batch.push({ source: 'b', op: 'delete', kind: 'Workload', key: `n/w${i}` });
  return batch;
}

async function collect(log: FileEventLog): Promise<LogBatch[]> {
  const out: LogBatch[] = [];
  for await (const b of log.read()) out.push(b);
  return out;
}

/** Record start positions of a segment file, ending with its size. */
function boundaries(data: Buffer): number[] {
  const b = [0];
  while (b.at(-1)! < data.length) b.push(b.at(-1)! + 8 + data.readUInt32LE(b.at(-1)!));
  return b;
}

function mulberry(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('bit flips in the last segment: the last record is cut as a torn tail, any earlier one is refused as corruption', async () => {
  const dir = path.join(root, 'last');
  const log = await FileEventLog.open(dir);
  for (let i = 0; i < 6; i++) await log.append(batchFor(i));
  const written = await collect(log);
  await log.close();
  const file = path.join(dir, segmentName(0));
  const original = fs.readFileSync(file);
  const bounds = boundaries(original);
  assert.equal(bounds.length, 7);
  const eventsFrom = (record: number): number => written.slice(record).reduce((n, b) => n + b.events.length, 0);

  const random = mulberry(7);
  const flips: [number, number][] = [];
  for (let byte = 0; byte < original.length; byte++) flips.push([byte, Math.floor(random() * 8)]);
  // Every bit of the first and last record headers: the length field decides where the next record starts.
  for (const start of [bounds[0]!, bounds[5]!]) {
    for (let byte = start; byte < start + 8; byte++) for (let bit = 0; bit < 8; bit++) flips.push([byte, bit]);
  }

  let cut = 0;
  let refused = 0;
  for (const [byte, bit] of flips) {
    const damaged = Buffer.from(original);
    damaged[byte]! ^= 1 << bit;
    fs.writeFileSync(file, damaged);
    const record = bounds.findIndex((b, i) => b <= byte && byte < bounds[i + 1]!);
    const what = `flip of bit ${bit} at byte ${byte} (record ${record})`;
    const logger = captureLogger();
    if (record < 5) {
      // Valid records follow the damaged one: corruption, refused writable and read-only, nothing cut.
      for (const readOnly of [false, true]) {
        await assert.rejects(
          FileEventLog.open(dir, { readOnly, logger }),
          (err: unknown) => {
            assert.ok(err instanceof LogCorruptError, `${what}: ${String(err)}`);
            assert.equal(err.file, file);
            assert.equal(err.byteOffset, bounds[record], `${what}: reported at the damaged record`);
            assert.deepEqual(err.following, { pos: bounds[record + 1], records: 5 - record, events: eventsFrom(record + 1) }, what);
            assert.match(err.message, new RegExp(`${5 - record} valid records? \\(${eventsFrom(record + 1)} events?\\) follow it`));
            assert.match(err.message, new RegExp(`weft log repair .* --truncate-at ${bounds[record]}`));
            return true;
          },
          `${what} must be refused`,
        );
      }
      assert.deepEqual(fs.readFileSync(file), damaged, `${what}: a refused open changes nothing`);
      refused++;
      continue;
    }
    // The last record: nothing valid after it, so it may be a torn tail, cut with a warning.
    const opened = await FileEventLog.open(dir, { logger });
    try {
      const warn = logger.records.find((r) => r.level === 'warn');
      assert.ok(warn !== undefined, `${what} went unnoticed`);
      assert.equal(warn['file'], file);
      assert.equal(warn['byteOffset'], bounds[5], `${what}: cut at the damaged record`);
      assert.equal(fs.statSync(file).size, bounds[5], `${what}: the file is cut where the warning says`);
      assert.deepEqual(await collect(opened), written.slice(0, 5), `${what}: what is read is what was written`);
      cut++;
    } finally {
      await opened.close();
    }
  }
  assert.equal(cut + refused, flips.length);
  assert.ok(cut > 0 && refused > 0);
});

test('bit flips in an earlier segment are a LogCorruptError, writable or read-only', async () => {
  const dir = path.join(root, 'earlier');
  const log = await FileEventLog.open(dir, { segmentBytes: 1024 });
  let i = 0;
  while (log.stats().segments < 2) await log.append(batchFor(i++));
  await log.append(batchFor(i++));
  await log.close();
  const file = path.join(dir, segmentName(0));
  const original = fs.readFileSync(file);
  const bounds = boundaries(original);
  const random = mulberry(11);
  for (let byte = 0; byte < original.length; byte++) {
    const bit = Math.floor(random() * 8);
    const damaged = Buffer.from(original);
    damaged[byte]! ^= 1 << bit;
    fs.writeFileSync(file, damaged);
    const record = bounds.findIndex((b, k) => b <= byte && byte < bounds[k + 1]!);
    const readOnly = byte % 2 === 0;
    await assert.rejects(
      FileEventLog.open(dir, { readOnly, logger: captureLogger() }),
      (err: unknown) => {
        assert.ok(err instanceof LogCorruptError, `byte ${byte} bit ${bit}: ${String(err)}`);
        assert.equal(err.file, file);
        assert.ok(err.byteOffset <= bounds[record]!, `byte ${byte}: reported at ${err.byteOffset}`);
        return true;
      },
      `flip of bit ${bit} at byte ${byte} must be refused`,
    );
    assert.deepEqual(fs.readFileSync(file), damaged, 'a refused open changes nothing');
  }
  fs.writeFileSync(file, original);
  const reopened = await FileEventLog.open(dir, { readOnly: true });
  assert.equal(reopened.head(), (await collect(reopened)).flatMap((b) => b.events).length);
  await reopened.close();
});
