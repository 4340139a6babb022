/**
 * kill -9 during appends: every append a writer acknowledged must survive, and whatever is read back must
 * decode cleanly. A child process appends from several concurrent appenders and prints what was
 * acknowledged; it is killed at a random moment (sometimes while it is still opening and repairing the log);
 * the directory is reused, so the log grows and segments roll across rounds.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { captureLogger } from '../observe/logger.js';
import { FileEventLog } from './file-log.js';
import { inputFor } from './testdata/events.js';

const ROUNDS = 100;
const CHILD = path.join(__dirname, 'testdata', 'crash-writer.js');

/** Deterministic pseudo-random numbers, so a failure names a seed that reproduces its schedule. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Round {
  acked: Map<number, string>;
  killedBeforeReady: boolean;
}

function runChild(dir: string, tag: string, random: () => number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, '16384', tag], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked = new Map<number, string>();
    let out = '';
    let err = '';
    let ready = false;
    let killed = false;
    const kill = (): void => {
      if (!killed) {
        killed = true;
        child.kill('SIGKILL');
      }
    };
    // One round in five is killed at a random time from the start, maybe while it opens and repairs.
    const early = random() < 0.2;
    if (early) setTimeout(kill, random() * 150);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (line === 'ready') {
          ready = true;
          if (!early) setTimeout(kill, 2 + random() * 60);
          continue;
        }
        const parts = line.split(' ');
        for (let i = 0; i + 1 < parts.length; i += 2) acked.set(Number(parts[i]), parts[i + 1]!);
      }
    });
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`crash writer ended on its own (code ${code}): ${err}`));
      else resolve({ acked, killedBeforeReady: !ready });
    });
  });
}

test(`file log keeps every acknowledged append across ${ROUNDS} kill -9s`, { timeout: 120_000 }, async () => {
  assert.ok(fs.existsSync(CHILD), `the crash writer is built at ${CHILD}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-crash-'));
  const seed = Number(process.env['WEFT_CRASH_SEED'] ?? Date.now() % 1_000_000);
  const random = rng(seed);
  const acked = new Map<number, string>();
  let verifiedHead = 0;
  let cuts = 0;
  let early = 0;
  const started = Date.now();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const r = await runChild(dir, `r${round}`, random);
      if (r.killedBeforeReady) early++;
      for (const [offset, key] of r.acked) acked.set(offset, key);

      const logger = captureLogger();
      const log = await FileEventLog.open(dir, { segmentBytes: 16384, logger });
      cuts += logger.records.filter((x) => x.level === 'warn' && x.msg.includes('torn tail')).length;
      const head = log.head();
      for (const offset of r.acked.keys()) {
        assert.ok(offset < head, `seed ${seed} round ${round}: acknowledged offset ${offset} is past the head ${head}`);
      }
      // Everything since the last verified head: contiguous, and each body is the one its key determines.
      let expected = verifiedHead;
      for await (const batch of log.read(verifiedHead)) {
        for (const e of batch.events) {
          assert.equal(e.offset, expected++, `seed ${seed} round ${round}: offsets are contiguous`);
          const want = inputFor(e.key, 'crash');
          assert.deepEqual(
            { op: e.op, kind: e.kind, body: e.body },
            { op: want.op, kind: want.kind, body: want.body === undefined ? undefined : JSON.parse(JSON.stringify(want.body)) },
            `seed ${seed} round ${round}: event ${e.offset} (${e.key}) is intact`,
          );
          const ackedKey = acked.get(e.offset);
          if (ackedKey !== undefined) assert.equal(e.key, ackedKey, `seed ${seed}: offset ${e.offset} holds what was acknowledged`);
        }
      }
      assert.equal(expected, head);
      verifiedHead = head;
      await log.close();
    }
    // A final full pass: every acknowledged event of every round is still there.
    const log = await FileEventLog.open(dir, { readOnly: true, logger: captureLogger() });
    const seen = new Map<number, string>();
    for await (const batch of log.read(0)) for (const e of batch.events) seen.set(e.offset, e.key);
    for (const [offset, key] of acked) assert.equal(seen.get(offset), key, `seed ${seed}: acknowledged ${offset} survives`);
    const segments = log.stats().segments;
    await log.close();
    assert.ok(acked.size > ROUNDS, `the writers got appends acknowledged (${acked.size})`);
    // Reported in the test output for the record (kill timing varies with the machine).
    console.log(
      `crash test: seed ${seed}, ${ROUNDS} rounds (${early} killed before ready), ${acked.size} acknowledged events, ` +
        `${verifiedHead} events in ${segments} segments, ${cuts} torn tails cut, ${Date.now() - started} ms`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
