/**
 * The writer election against a real Apache Kafka (deploy/kafka/start.sh): replicas on one topic elect one
 * writer, a writer closed or frozen is replaced, a frozen writer that wakes is fenced (appends nothing), and
 * a batch whose commit went unanswered, appended again, is read once. Skipped without a broker, except under
 * CI=true, where a missing broker fails them.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { test } from 'node:test';
import { captureLogger, type EventInput, type LogBatch } from '@weft/core';
import { Kafka, logLevel, type ISocketFactory } from 'kafkajs';
import { DEFAULT_KAFKA_CONFIG, type KafkaPluginConfig } from './config.js';
import { KafkaEventLog } from './kafka-log.js';
import { useTestBroker } from './testing.js';

const broker = useTestBroker();

/** The broker's smallest session timeout (group.min.session.timeout.ms): a frozen writer is replaced after it. */
const SESSION_MS = 6000;
const config: KafkaPluginConfig = { ...DEFAULT_KAFKA_CONFIG, clientId: 'weft-test', requestTimeoutMs: 5000, writerSessionTimeoutMs: SESSION_MS };
const newTopic = (): string => `weft-writer-${randomUUID()}`;
const input = (key: string): EventInput => ({
  source: 'test',
  op: 'upsert',
  kind: 'Workload',
  key: `ns/${key}`,
  body: { meta: { namespace: 'ns', name: key, labels: {}, annotations: {} } },
});

function replica(topic: string, replicaId: string, extra: { socketFactory?: ISocketFactory } = {}): Promise<KafkaEventLog> {
  return KafkaEventLog.open({ brokers: broker.brokers, topic, config, election: true, replicaId, logger: captureLogger(), ...extra });
}

async function until(check: () => boolean, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function keys(log: KafkaEventLog): Promise<string[]> {
  const out: string[] = [];
  for await (const b of log.read(0) as AsyncIterable<LogBatch>) for (const e of b.events) out.push(e.key);
  return out;
}

/** Every message on the topic with its batch id, uncommitted and aborted ones too (what the broker stored). */
async function stored(topic: string): Promise<string[]> {
  const kafka = new Kafka({ clientId: 'weft-test', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const high = Number((await admin.fetchTopicOffsets(topic))[0]!.high);
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: `weft-test-${randomUUID()}`, readUncommitted: true });
  const ids: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  if (high === 0) done();
  await consumer.run({
    eachMessage: async ({ message }) => {
      ids.push(String(message.headers?.['weft-batch'] ?? ''));
      if (Number(message.offset) >= high - 2) done();
    },
  });
  await Promise.race([all, new Promise((r) => setTimeout(r, 10_000))]);
  await consumer.disconnect();
  return ids;
}

test('two replicas on one topic: one writer; the follower refuses appends; closing the writer hands over', { timeout: 60_000 }, async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const topic = newTopic();
  const a = await replica(topic, 'replica-a');
  const b = await replica(topic, 'replica-b');
  try {
    assert.equal(a.leadership!.state().role, 'writer');
    assert.equal(b.leadership!.state().role, 'follower');
    await until(() => b.leadership!.state().writerId === 'replica-a', 'the follower to name the writer', 10_000);
    assert.deepEqual(await a.append([input('a-1')]), [0]);
    await assert.rejects(b.append([input('b-1')]), (err: { code?: string }) => err.code === 'LOG_NOT_WRITER');
    const t0 = Date.now();
    await a.close();
    await until(() => b.leadership!.state().role === 'writer', 'the follower to take over', 20_000);
    const handover = Date.now() - t0;
    t.diagnostic(`writer closed -> the other replica is the writer in ${handover} ms`);
    assert.deepEqual(await b.append([input('b-2')]), [1]);
    assert.deepEqual(await keys(b), ['ns/a-1', 'ns/b-2']);
  } finally {
    await a.close();
    await b.close();
  }
});

interface ChildLine {
  readonly event: string;
  readonly role?: string;
  readonly id?: string;
  readonly code?: string;
  readonly offsets?: number[];
}

function child(topic: string, replicaId: string): { proc: ChildProcessWithoutNullStreams; lines: ChildLine[] } {
  const proc = spawn(process.execPath, [path.join(__dirname, 'writer-child.js'), broker.brokers.join(','), topic, replicaId, String(SESSION_MS)]);
  const lines: ChildLine[] = [];
  readline.createInterface({ input: proc.stdout }).on('line', (l) => lines.push(JSON.parse(l) as ChildLine));
  proc.stderr.resume();
  return { proc, lines };
}

test('a writer frozen past its session is replaced; woken, its append is fenced and stores nothing', { timeout: 120_000 }, async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const topic = newTopic();
  const a = child(topic, 'frozen-a');
  let b: KafkaEventLog | undefined;
  try {
    await until(() => a.lines.some((l) => l.event === 'role' && l.role === 'writer'), 'the child to be the writer', 30_000);
    a.proc.stdin.write('append before-freeze\n');
    await until(() => a.lines.some((l) => l.event === 'appended'), 'the child to append', 10_000);
    b = await replica(topic, 'replica-b');
    assert.equal(b.leadership!.state().role, 'follower');
    const t0 = Date.now();
    a.proc.kill('SIGSTOP');
    const stillB = b;
    await until(() => stillB.leadership!.state().role === 'writer', 'the other replica to take over from the frozen writer', 40_000);
    t.diagnostic(`writer frozen -> the other replica is the writer in ${Date.now() - t0} ms (session timeout ${SESSION_MS} ms)`);
    await b.append([input('after-takeover')]);
    // Queued while frozen: the first thing the woken writer does, before its group tells it it was replaced.
    a.proc.stdin.write('append while-frozen\n');
    a.proc.kill('SIGCONT');
    await until(() => a.lines.some((l) => l.id === 'while-frozen'), 'the woken child to answer', 30_000);
    const answer = a.lines.find((l) => l.id === 'while-frozen')!;
    assert.equal(answer.event, 'failed', JSON.stringify(answer));
    t.diagnostic(`the woken writer's append: ${answer.code}`);
    assert.equal(answer.code, 'LOG_FENCED', JSON.stringify(answer));
    await until(() => a.lines.some((l) => l.event === 'role' && l.role === 'follower'), 'the woken child to follow', 30_000);
    assert.equal(b.leadership!.state().role, 'writer');
    await b.append([input('later')]);
    assert.deepEqual(await keys(b), ['ns/before-freeze', 'ns/after-takeover', 'ns/later']);
    // Nothing of the woken writer's append reached the broker, not even uncommitted.
    assert.ok(!(await stored(topic)).includes('while-frozen'));
  } finally {
    a.proc.kill('SIGCONT');
    a.proc.kill('SIGKILL');
    await b?.close();
  }
});

/**
 * A TCP proxy to the broker that, once armed, lets the next EndTxn (the commit, Kafka API key 26) through,
 * swallows the broker's answer and cuts every connection for `downMs`: the commit's outcome is unknown to
 * the writer although the broker committed.
 */
async function commitCutter(broker: string, downMs: number): Promise<{ factory: ISocketFactory; arm: () => void; cuts: () => number; close: () => void }> {
  const [host, port] = [broker.slice(0, broker.lastIndexOf(':')), Number(broker.slice(broker.lastIndexOf(':') + 1))];
  let armed = false;
  let downUntil = 0;
  let cuts = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (Date.now() < downUntil) return void client.destroy();
    const upstream = net.connect({ host, port });
    sockets.add(client).add(upstream);
    let swallow = false;
    let pending = Buffer.alloc(0);
    client.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 6 && pending.length >= 4 + pending.readInt32BE(0)) {
        const size = pending.readInt32BE(0);
        const frame = pending.subarray(0, 4 + size);
        pending = pending.subarray(4 + size);
        upstream.write(frame);
        if (armed && frame.readInt16BE(4) === 26) {
          armed = false;
          swallow = true;
          cuts++;
          downUntil = Date.now() + downMs;
          setTimeout(() => {
            for (const s of sockets) s.destroy();
          }, 300);
        }
      }
    });
    upstream.on('data', (chunk) => {
      if (!swallow) client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const proxyPort = (server.address() as net.AddressInfo).port;
  const factory: ISocketFactory = ({ onConnect }) => {
    const s = net.connect({ host: '127.0.0.1', port: proxyPort }, onConnect);
    s.setKeepAlive(true, 60_000);
    return s;
  };
  return {
    factory,
    arm: () => void (armed = true),
    cuts: () => cuts,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

test('a batch whose commit went unanswered, appended again with its id, is stored twice and read once', { timeout: 90_000 }, async (t) => {
  if (broker.skip !== false) return t.skip(broker.skip);
  const topic = newTopic();
  const cutter = await commitCutter(broker.brokers[0]!, 8000);
  const log = await replica(topic, 'replica-cut', { socketFactory: cutter.factory });
  try {
    assert.equal(log.leadership!.state().role, 'writer');
    assert.deepEqual(await log.append([input('first')]), [0]);
    cutter.arm();
    const batch = [input('twice-1'), input('twice-2')];
    const err = await log.append(batch, { id: 'batch-in-doubt' }).then(
      () => null,
      (e: unknown) => e as { code?: string; retriable?: boolean; message: string },
    );
    assert.equal(cutter.cuts(), 1, 'the commit was cut');
    assert.ok(err !== null, 'the append whose commit went unanswered must not resolve');
    assert.equal(err.code, 'LOG_UNAVAILABLE', err.message);
    assert.equal(err.retriable, true);
    // What the sink does with a retriable failure: the same batch again, with the same id.
    let offsets: number[] | undefined;
    for (let i = 0; i < 40 && offsets === undefined; i++) {
      offsets = await log.append(batch, { id: 'batch-in-doubt' }).catch(() => {
        return new Promise<undefined>((r) => setTimeout(() => r(undefined), 500));
      });
    }
    assert.deepEqual(offsets, [1, 2], 'the retry resolves with the stored copy\'s offsets');
    assert.deepEqual(await log.append([input('next')]), [3]);
    const copies = (await stored(topic)).filter((id) => id === 'batch-in-doubt').length;
    t.diagnostic(`copies of the batch on the topic: ${copies}`);
    assert.equal(copies, 2, 'the broker committed the first attempt too, so the topic holds two copies');
    assert.deepEqual(await keys(log), ['ns/first', 'ns/twice-1', 'ns/twice-2', 'ns/next']);
    // A reader opened afresh counts the same offsets.
    const reader = await KafkaEventLog.open({ brokers: broker.brokers, topic, config, readOnly: true, logger: captureLogger() });
    try {
      assert.equal(reader.head(), 4);
      assert.deepEqual(await keys(reader), ['ns/first', 'ns/twice-1', 'ns/twice-2', 'ns/next']);
    } finally {
      await reader.close();
    }
  } finally {
    await log.close();
    cutter.close();
  }
});
