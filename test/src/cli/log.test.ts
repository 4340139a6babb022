import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { EventInput, Service } from '@weft/core';
import { FileEventLog } from '@weft/core/testing';
import { REPO, runWeft, until, WEFT_BIN, type LogLine } from './helpers.js';

/**
 * The file log as an operator meets it, through the real `weft` process: corruption refused (not cut) by
 * `weft start` and `weft log inspect`/`tail`, cut only by `weft log repair`; the writer's LOCK judged by
 * pid, start time and boot (a restart that reused the pid is not a running writer); `weft log tail | head`.
 */

const SEGMENT = '00000000000000000000.seg';

function service(name: string): Service {
  return {
    meta: { namespace: 'shop', name, labels: {}, annotations: {} },
    ports: [{ name: 'http', port: 80, targetPort: 80, protocol: 'TCP', appProtocol: 'http' }],
    selector: { app: name },
    clusterIP: null,
  };
}

/** The reproduction: one segment, 9 records, 1 + 8 x 6 events. */
async function nineRecordLog(dir: string): Promise<{ bounds: number[]; events: number[] }> {
  const log = await FileEventLog.open(dir);
  const events: number[] = [];
  for (let i = 0; i < 9; i++) {
    const batch: EventInput[] = Array.from({ length: i === 0 ? 1 : 6 }, (_, j) => ({ source: 'files', op: 'upsert', kind: 'Service', key: `shop/s${i}-${j}`, body: service(`s${i}-${j}`) }));
    await log.append(batch);
    events.push(batch.length);
  }
  await log.close();
  const data = fs.readFileSync(path.join(dir, SEGMENT));
  const bounds = [0];
  while (bounds.at(-1)! < data.length) bounds.push(bounds.at(-1)! + 8 + data.readUInt32LE(bounds.at(-1)!));
  return { bounds, events };
}

function writeConfig(dir: string, logDir: string): string {
  const file = path.join(dir, 'weft.yaml');
  fs.writeFileSync(
    file,
    `dataDir: data
log: file:${logDir}
xds: { host: 127.0.0.1, port: 0, insecure: true }
debug: { host: 127.0.0.1, port: 0 }
metrics: { host: 127.0.0.1, port: 0 }
plugins: []
`,
  );
  return file;
}

/** A `weft start` child, optionally through `sh -c '<prelude>; exec node weft.js start ...'` (same pid). */
class Started {
  readonly lines: LogLine[] = [];
  stderr = '';
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(config: string, prelude?: string) {
    const args = [WEFT_BIN, 'start', '--config', config];
    this.child =
      prelude === undefined
        ? spawn(process.execPath, args, { cwd: REPO, env: { ...process.env, WEFT_CONFIG: '' }, stdio: ['ignore', 'ignore', 'pipe'] })
        : spawn('/bin/sh', ['-c', `${prelude}\nexec "$0" "$@"`, process.execPath, ...args], {
            cwd: REPO,
            env: { ...process.env, WEFT_CONFIG: '' },
            stdio: ['ignore', 'ignore', 'pipe'],
          });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      this.lines.length = 0;
      for (const l of this.stderr.split('\n')) if (l.startsWith('{') && l.endsWith('}')) this.lines.push(JSON.parse(l) as LogLine);
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  async ready(): Promise<LogLine> {
    let exit: { code: number | null } | undefined;
    void this.exited.then((e) => (exit = e));
    await until('weft start to be ready', () => {
      if (exit !== undefined) throw new Error(`weft start exited (${exit.code}) before ready:\n${this.stderr}`);
      return this.lines.some((l) => l.msg === 'ready');
    }, 20_000);
    return this.lines.find((l) => l.msg === 'ready')!;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

describe('weft log: corruption is refused, never cut; weft log repair cuts it, explicitly', () => {
  const dirs: string[] = [];
  const procs: Started[] = [];
  after(() => {
    for (const p of procs) p.kill();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  /** A nine-record log in a fresh directory, with `mask` flipped in the byte `at` bytes into record `record`. */
  async function corruptLog(record: number, at: number, mask: number): Promise<{ dir: string; logDir: string; file: string; data: Buffer; bounds: number[]; events: number[] }> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-logcli-'));
    dirs.push(dir);
    const logDir = path.join(dir, 'log');
    const { bounds, events } = await nineRecordLog(logDir);
    const file = path.join(logDir, SEGMENT);
    const data = fs.readFileSync(file);
    data[bounds[record]! + at]! ^= mask;
    fs.writeFileSync(file, data);
    return { dir, logDir, file, data, bounds, events };
  }

  it('a byte flipped in an early record of a single-segment log: inspect, tail and start refuse (exit 1), naming segment, byte and what follows', async () => {
    const { dir, logDir, file, data, bounds, events } = await corruptLog(1, 40, 0x04);
    const following = events.slice(2).reduce((a, b) => a + b, 0);

    const inspect = await runWeft(['log', 'inspect', logDir]);
    assert.equal(inspect.code, 1, inspect.stdout + inspect.stderr);
    assert.match(inspect.stdout, new RegExp(`problem \\(corrupt\\): ${file} at byte ${bounds[1]}: CRC mismatch; 7 valid records \\(${following} events\\) follow from byte ${bounds[2]}`));
    assert.match(inspect.stdout, new RegExp(`weft log repair ${logDir} --segment ${SEGMENT} --truncate-at ${bounds[1]}`));
    assert.doesNotMatch(inspect.stdout, /torn-tail/);
    const json = JSON.parse((await runWeft(['log', 'inspect', logDir, '--json'])).stdout) as { problems: { severity: string; byteOffset: number; following: unknown }[] };
    assert.deepEqual(json.problems.map((p) => [p.severity, p.byteOffset, p.following]), [['corrupt', bounds[1], { pos: bounds[2], records: 7, events: following }]]);

    const tail = await runWeft(['log', 'tail', logDir]);
    assert.equal(tail.code, 1);
    assert.match(tail.stderr, new RegExp(`corrupt at byte ${bounds[1]}: CRC mismatch; 7 valid records`));

    const start = new Started(writeConfig(dir, logDir));
    procs.push(start);
    const exit = await start.exited;
    assert.equal(exit.code, 1, start.stderr);
    assert.match(start.stderr, new RegExp(`weft start: event log segment ${file} is corrupt at byte ${bounds[1]}: CRC mismatch; 7 valid records \\(${following} events\\) follow it`));
    assert.match(start.stderr, /not a torn tail/);
    assert.match(start.stderr, new RegExp(`weft log repair ${logDir} --segment ${SEGMENT} --truncate-at ${bounds[1]}`));
    assert.ok(!start.lines.some((l) => l.level === 'warn' && /torn tail/.test(l.msg)), 'nothing was cut');
    assert.deepEqual(fs.readFileSync(file), data, 'the segment is as it was');
  });

  it('weft log repair: needs --truncate-at, explains itself, plans with --dry-run, then cuts, logs and keeps what it drops; weft start runs again', async () => {
    const { dir, logDir, file, data, events } = await corruptLog(0, 20, 0x01);

    const help = await runWeft(['log', 'repair', '--help']);
    assert.equal(help.code, 0);
    for (const want of ['--truncate-at <byte>', '--dry-run', '--segment', 'torn tail', 'repair-<time>/', 'REPAIR.json', 'lock']) assert.ok(help.stdout.includes(want), `help mentions ${want}`);
    assert.match((await runWeft(['log', '--help'])).stdout, /weft log repair <dir> --truncate-at <byte>/);

    const bare = await runWeft(['log', 'repair', logDir]);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /give --truncate-at <byte>/);
    const notBoundary = await runWeft(['log', 'repair', logDir, '--truncate-at', '3']);
    assert.equal(notBoundary.code, 1);
    assert.match(notBoundary.stderr, /byte 3 of .* is not where a verified record starts or ends \(the damage is at byte 0/);

    const dry = await runWeft(['log', 'repair', logDir, '--truncate-at', '0', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`would cut ${SEGMENT} at byte 0: ${data.length} bytes, 8 valid records, ${events.slice(1).reduce((a, b) => a + b, 0)} events dropped`));
    assert.match(dry.stdout, /dry run: nothing was changed/);
    assert.deepEqual(fs.readFileSync(file), data);
    assert.deepEqual(fs.readdirSync(logDir).sort(), [SEGMENT]);

    const repair = await runWeft(['log', 'repair', logDir, '--truncate-at', '0']);
    assert.equal(repair.code, 0, repair.stderr);
    assert.match(repair.stdout, new RegExp(`cut ${SEGMENT} at byte 0: ${data.length} bytes, 8 valid records, 48 events dropped`));
    const logged = repair.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine).find((l) => l.msg.startsWith('event log repaired'));
    assert.ok(logged !== undefined, repair.stderr);
    assert.deepEqual(
      [logged.level, logged['file'], logged['byteOffset'], logged['droppedBytes'], logged['droppedRecords'], logged['droppedEvents']],
      ['warn', file, 0, data.length, 8, 48],
    );
    const saved = String(logged['savedTo']);
    assert.ok(saved.startsWith(path.join(logDir, 'repair-')));
    assert.deepEqual(fs.readFileSync(path.join(saved, `${SEGMENT}.from-byte-0`)), data, 'what was cut is kept');
    assert.equal(fs.statSync(file).size, 0);

    const inspect = await runWeft(['log', 'inspect', logDir]);
    assert.equal(inspect.code, 0);
    assert.match(inspect.stdout, /problems: none/);
    const start = new Started(writeConfig(dir, logDir));
    procs.push(start);
    await start.ready();
    start.child.kill('SIGTERM');
    assert.equal((await start.exited).code, 0);
  });

  it('a torn tail (an incomplete last write) is still reported only by inspect and cut by weft start, with a warning', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-logcli-'));
    dirs.push(dir);
    const logDir = path.join(dir, 'log');
    const { bounds } = await nineRecordLog(logDir);
    const file = path.join(logDir, SEGMENT);
    fs.truncateSync(file, bounds[9]! - 10);
    const inspect = await runWeft(['log', 'inspect', logDir]);
    assert.equal(inspect.code, 0);
    assert.match(inspect.stdout, new RegExp(`problem \\(torn-tail\\): ${file} at byte ${bounds[8]}`));
    const start = new Started(writeConfig(dir, logDir));
    procs.push(start);
    await start.ready();
    const warn = start.lines.find((l) => l.level === 'warn' && /torn tail/.test(l.msg));
    assert.equal(warn?.['byteOffset'], bounds[8]);
    start.child.kill('SIGTERM');
    assert.equal((await start.exited).code, 0);
    assert.equal(fs.statSync(file).size, bounds[8]);
  });
});

describe('weft log: the writer lock is pid + start time + boot', () => {
  const dirs: string[] = [];
  const procs: Started[] = [];
  const others: ChildProcess[] = [];
  after(() => {
    for (const p of procs) p.kill();
    for (const o of others) o.kill('SIGKILL');
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const linux = fs.existsSync('/proc/self/stat');
  const bootId = (): string => fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const startTime = (pid: number): string => {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
  };
  /** An empty log directory in a fresh directory, with a config that starts Weft on it, and where its LOCK goes. */
  const emptyLog = (): { logDir: string; config: string; lock: string } => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-logcli-'));
    dirs.push(dir);
    const logDir = path.join(dir, 'log');
    fs.mkdirSync(logDir);
    return { logDir, config: writeConfig(dir, logDir), lock: path.join(logDir, 'LOCK') };
  };

  it('Weft finding its own pid in the LOCK it left before a restart takes the lock over and says so', { skip: !linux }, async () => {
    const { logDir, config, lock } = emptyLog();
    // The shell writes its own pid into the LOCK, then execs weft in its place: the pid weft runs as is
    // the one the LOCK names, as for Weft as PID 1 after a container restart. Once with a start time
    // (this version's LOCK), once a bare pid (an older Weft's).
    for (const prelude of [
      `printf '{"pid":%d,"startTime":"1","bootId":"${bootId()}","hostname":"before"}\\n' $$ > '${lock}'`,
      `printf '%d\\n' $$ > '${lock}'`,
    ]) {
      const start = new Started(config, prelude);
      procs.push(start);
      await start.ready();
      const warn = start.lines.find((l) => l.msg === 'took over a stale event log lock');
      assert.ok(warn !== undefined, start.stderr);
      assert.equal(warn['pid'], start.child.pid);
      assert.match(String(warn['reason']), new RegExp(`pid ${start.child.pid} is this process now \\(a restart reused the pid\\)`));
      const held = JSON.parse(fs.readFileSync(lock, 'utf8')) as { pid: number; startTime: string; bootId: string };
      assert.deepEqual(held.pid, start.child.pid);
      assert.equal(held.startTime, startTime(start.child.pid!));
      assert.equal(held.bootId, bootId());
      const inspect = await runWeft(['log', 'inspect', logDir]);
      assert.match(inspect.stdout, new RegExp(`writer: pid ${start.child.pid} \\(start ${held.startTime}\\) on .*: running`));
      start.child.kill('SIGTERM');
      assert.equal((await start.exited).code, 0);
      assert.ok(!fs.existsSync(lock), 'the lock is released on stop');
    }
  });

  it('a LOCK naming a running process with its start time refuses weft start; the same pid with another start time is stale', { skip: !linux }, async () => {
    const { logDir, config, lock } = emptyLog();
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    others.push(other);
    const pid = other.pid!;
    await until('the other process to run', () => fs.existsSync(`/proc/${pid}/stat`));

    fs.writeFileSync(lock, `${JSON.stringify({ pid, startTime: startTime(pid), bootId: bootId(), hostname: os.hostname() })}\n`);
    const inspect = await runWeft(['log', 'inspect', logDir]);
    assert.match(inspect.stdout, new RegExp(`writer: pid ${pid} \\(start ${startTime(pid)}\\) on ${os.hostname()}: running`));
    const refused = new Started(config);
    procs.push(refused);
    assert.equal((await refused.exited).code, 1);
    assert.match(refused.stderr, new RegExp(`event log .* is already open for writing by process ${pid} \\(running\\)`));
    assert.ok(fs.existsSync(lock));

    // The pid now belongs to another process than the writer the LOCK names.
    fs.writeFileSync(lock, `${JSON.stringify({ pid, startTime: String(Number(startTime(pid)) - 7), bootId: bootId() })}\n`);
    const stale = await runWeft(['log', 'inspect', logDir]);
    assert.match(stale.stdout, new RegExp(`writer: pid ${pid} .*: stale: pid ${pid} is another process now .*; the next writer takes it over`));
    const start = new Started(config);
    procs.push(start);
    await start.ready();
    assert.match(String(start.lines.find((l) => l.msg === 'took over a stale event log lock')?.['reason']), new RegExp(`pid ${pid} is another process now`));
    start.child.kill('SIGTERM');
    assert.equal((await start.exited).code, 0);
  });
});

describe('weft log tail: a reader that goes away', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-logcli-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('weft log tail <dir> | head -1 prints one line, and weft ends quietly with exit 0 (no EPIPE stack trace)', async () => {
    const logDir = path.join(dir, 'log');
    const log = await FileEventLog.open(logDir);
    // Far more than a pipe buffer holds, so weft is still writing when head goes away.
    for (let i = 0; i < 40; i++) {
      await log.append(Array.from({ length: 100 }, (_, j) => ({ source: 'files', op: 'upsert' as const, kind: 'Service', key: `shop/s${i}-${j}`, body: service(`s${i}-${j}`) })));
    }
    await log.close();
    for (const extra of [[], ['--json']]) {
      const r = spawnSync('/bin/bash', ['-c', `set -o pipefail; "${process.execPath}" "${WEFT_BIN}" log tail "${logDir}" ${extra.join(' ')} | head -1`], { encoding: 'utf8' });
      assert.equal(r.stderr, '', 'nothing on stderr');
      assert.equal(r.status, 0, 'weft log tail exits 0 (pipefail would report its failure)');
      assert.equal(r.stdout.split('\n').length, 2, 'one line');
      assert.match(r.stdout, extra.length === 0 ? /^0\t/ : /^\{"v":1,"offset":0,/);
    }
  });

  it('weft log tail --follow ends with exit 0 at its next write once its reader is gone', async () => {
    const logDir = path.join(dir, 'log');
    const child = spawn(process.execPath, [WEFT_BIN, 'log', 'tail', logDir, '--follow', '--from', '3990'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until('the first events', () => out.split('\n').length > 10);
      child.stdout.destroy();
      const writer = await FileEventLog.open(logDir);
      try {
        // The follower writes, finds the pipe closed, and ends.
        for (let i = 0; i < 20 && child.exitCode === null; i++) {
          await writer.append([{ source: 'files', op: 'upsert', kind: 'Service', key: `shop/late-${i}`, body: service(`late-${i}`) }]);
          await new Promise((r) => setTimeout(r, 250));
        }
      } finally {
        await writer.close();
      }
      assert.equal(await exited, 0, err);
      assert.equal(err, '');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
