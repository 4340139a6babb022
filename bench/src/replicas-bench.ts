/**
 * Weft replicas on one Kafka topic over the 3-node test cluster (deploy/kafka/start-cluster.sh, RF 3,
 * min.insync.replicas=2). Four measurements:
 *
 *  1. appends per second through KafkaEventLog as the elected writer appends (transactional producer):
 *     batches of 1 and 100 events, one appender awaiting each append, then 16 appenders at once (the flush
 *     loop sends what queued meanwhile as one produce request, one transaction); and, for what the fence
 *     costs, batches of 1 with the election off (idempotent producer, no transaction);
 *  2. writer failover: two candidate writers in processes of their own, the writer killed (-9), time until
 *     the other's append succeeds;
 *  3. append -> applied on every replica: real `weft start` followers on the topic (no sources; this
 *     process is the writer), each batch's time from the append call here to the replica's own
 *     `change applied` log line (written right after its catalog applied the batch; same clock);
 *  4. a replica killed (-9) under 1,000 simulated delta-xDS proxies spread over the replicas: time until
 *     its proxies reconnected to the others (with initial_resource_versions) and converged, and the bytes
 *     resent to them.
 *
 *   npx tsc -b bench && WEFT_KAFKA_CLUSTER_RUN_DIR=$(mktemp -d) npm run bench:replicas -w bench \
 *     [-- --proxies 1000 --services 250 --replicas 3 --samples 200 --failovers 3 --session-ms 6000]
 *
 * The cluster: the one start-cluster.sh runs in WEFT_KAFKA_CLUSTER_RUN_DIR (default
 * deploy/kafka/target/cluster), started now when none runs there and then stopped at the end. A writer
 * open (election on) that fails is reported with the figures and opened again: on a topic it just created,
 * the election's join sometimes meets a broker that does not know the topic yet.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createLogger, type EventInput } from '@weft/core';
import { DEFAULT_KAFKA_CONFIG, KafkaEventLog, type KafkaPluginConfig } from '@weft/plugin-kafka';
import { clusterRunDir, findCluster } from '@weft/plugin-kafka/dist/testing.js';
import { generateMesh, toEvents } from './mesh.js';
import type { WorkerReport, WorkerRequest } from './replicas/proxy-worker.js';
import { Replica } from './replicas/replica.js';
import { ms, summarize, type Summary } from './replicas/stats.js';
import type { WriterReport } from './replicas/writer-child.js';
import { TYPE_LABEL, T } from './sim/xds.js';
import { arg } from './util.js';

/** The logs' own lines stay out of the figures' output (createLogger is in @weft/core's public API). */
const quiet = createLogger({ level: 'error', write: () => undefined });

const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));
const say = (s: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${s}\n`);

const opts = {
  proxies: arg('proxies', 1000),
  services: arg('services', 250),
  replicas: arg('replicas', 3),
  samples: arg('samples', 200),
  failovers: arg('failovers', 3),
  sessionMs: arg('session-ms', 6000),
  /** Length of each throughput run. */
  runMs: arg('run-ms', 5000),
  concurrency: arg('concurrency', 16),
};
const REQUEST_TIMEOUT_MS = 5000;

function kafkaConfig(): KafkaPluginConfig {
  return {
    ...DEFAULT_KAFKA_CONFIG,
    clientId: 'weft-bench',
    replicationFactor: 3,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    connectionTimeoutMs: 1000,
    writerSessionTimeoutMs: opts.sessionMs,
  };
}

/**
 * Opens of a writer with the election that failed, each then tried again (a new topic for a candidate writer
 * child, the same topic for this process's writer): reported with the figures.
 */
const openFailures: string[] = [];
let opensTried = 0;

async function openWriter(brokers: string[], topic: string): Promise<KafkaEventLog> {
  let log: KafkaEventLog;
  for (let attempt = 1; ; attempt++) {
    opensTried++;
    try {
      log = await KafkaEventLog.open({ brokers, topic, config: kafkaConfig(), election: true, replicaId: 'bench-writer', logger: quiet });
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
      openFailures.push(`bench writer: ${(err as Error).message}`);
      say(`opening the writer failed (${(err as Error).message}); again`);
    }
  }
  const end = Date.now() + 30_000;
  while (!log.isWriter) {
    if (Date.now() > end) throw new Error(`this process was not elected writer of ${topic} within 30 s (writer: ${log.leadership?.state().writerId ?? 'none'})`);
    await sleep(50);
  }
  return log;
}

/** Distinct small events (ServiceAccounts, as a source would append them), `size` per batch. */
let made = 0;
function batchOf(size: number, prefix: string): EventInput[] {
  const manifests: object[] = [];
  for (let i = 0; i < size; i++) manifests.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: `${prefix}-${++made}`, namespace: 'ns-0' } });
  return toEvents(manifests);
}

interface ThroughputRow {
  readonly batch: number;
  readonly appenders: number;
  readonly appends: number;
  readonly seconds: number;
  readonly appendsPerSec: number;
  readonly eventsPerSec: number;
  readonly latency: Summary;
  /** Election off: the idempotent producer, no transaction. */
  readonly plain?: boolean;
}

/** `appenders` loops appending batches of `batch` events, each awaiting its append, for opts.runMs. */
async function throughput(log: KafkaEventLog, batch: number, appenders: number): Promise<ThroughputRow> {
  // Built before the clock starts: the figure is the log's, not the event builder's.
  const pool = Array.from({ length: Math.max(64, appenders * 4) }, () => batchOf(batch, `tput-${batch}-${appenders}`));
  const latencies: number[] = [];
  let appends = 0;
  const t0 = performance.now();
  const end = t0 + opts.runMs;
  await Promise.all(
    Array.from({ length: appenders }, async (_, a) => {
      for (let k = a; performance.now() < end; k += appenders) {
        const s = performance.now();
        await log.append(pool[k % pool.length]!);
        latencies.push(performance.now() - s);
        appends++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { batch, appenders, appends, seconds, appendsPerSec: appends / seconds, eventsPerSec: (appends * batch) / seconds, latency: summarize(latencies) };
}

interface FailoverRun {
  /** Kill -> the survivor's first successful append. */
  readonly resumedMs: number;
  /** Kill -> the survivor reports itself the writer. */
  readonly electedMs: number;
  /** The killed writer's last acknowledged append before the kill -> the survivor's first: the gap proxies see. */
  readonly gapMs: number;
}

/** A candidate writer's KafkaEventLog.open failed (reported, not retried inside Weft). */
class WriterOpenError extends Error {}

function forkWriter(brokers: string, topic: string, id: string, everyMs: number): { child: ChildProcess; reports: WriterReport[]; wait: (p: (r: WriterReport) => boolean, ms: number) => Promise<WriterReport> } {
  opensTried++;
  const child = fork(path.join(__dirname, 'replicas', 'writer-child.js'), [brokers, topic, id, String(opts.sessionMs), String(everyMs)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const reports: WriterReport[] = [];
  const waiters: { p: (r: WriterReport) => boolean; resolve: (r: WriterReport) => void }[] = [];
  child.on('message', (r: WriterReport) => {
    reports.push(r);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.p(r)) {
        waiters[i]!.resolve(r);
        waiters.splice(i, 1);
      }
    }
  });
  const wait = (p: (r: WriterReport) => boolean, t: number): Promise<WriterReport> => {
    // A child whose open failed reports that and exits: the wait fails at once with its message.
    const match = (r: WriterReport): boolean => p(r) || r.type === 'error';
    const settle = (r: WriterReport): WriterReport => {
      if (r.type === 'error') throw new WriterOpenError(`writer ${id}: ${r.message}`);
      return r;
    };
    const found = reports.find(match);
    if (found !== undefined) return Promise.resolve(found).then(settle);
    return new Promise<WriterReport>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`writer ${id}: no matching report within ${t} ms (${JSON.stringify(reports.slice(-3))})`)), t);
      waiters.push({ p: match, resolve: (r) => (clearTimeout(timer), resolve(r)) });
    }).then(settle);
  };
  return { child, reports, wait };
}

async function writerFailover(brokers: string): Promise<FailoverRun> {
  const topic = `weft-replicas-bench-failover-${randomUUID()}`;
  const everyMs = 20;
  const a = forkWriter(brokers, topic, 'a', everyMs);
  let b: ReturnType<typeof forkWriter> | null = null;
  try {
    await a.wait((r) => r.type === 'appended', 60_000);
    b = forkWriter(brokers, topic, 'b', everyMs);
    await b.wait((r) => r.type === 'role' && r.role === 'follower' && r.writerId === 'a', 60_000);
    // Both in the group, a still appending: then the kill.
    await sleep(1000);
    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    const lastA = a.reports.filter((r): r is Extract<WriterReport, { type: 'appended' }> => r.type === 'appended').at(-1)!;
    const first = (await b.wait((r) => r.type === 'appended', 60_000)) as Extract<WriterReport, { type: 'appended' }>;
    const elected = (await b.wait((r) => r.type === 'role' && r.role === 'writer', 1000)) as Extract<WriterReport, { type: 'role' }>;
    return { resumedMs: first.at - killedAt, electedMs: elected.at - killedAt, gapMs: first.at - lastA.at };
  } finally {
    a.child.kill('SIGKILL');
    b?.child.kill('SIGKILL');
  }
}

interface LatencyRow {
  readonly batch: number;
  readonly samples: number;
  /** Append call -> acknowledged (this process). */
  readonly ack: Summary;
  /** Append call -> applied, per replica and batch. */
  readonly applied: Summary;
  /** Append call -> applied on the last of the replicas, per batch. */
  readonly appliedAll: Summary;
  /** Acknowledged here -> applied, per replica and batch: what following adds after the writer's commit. */
  readonly afterAck: Summary;
}

/** Epoch ms at which `r` applied the batch holding `offset` (a follower may apply several messages as one batch). */
function appliedAt(r: Replica, offset: number): number {
  let best: [number, number] | undefined;
  for (const [o, at] of r.applied) if (o >= offset && (best === undefined || o < best[0])) best = [o, at];
  if (best === undefined) throw new Error(`${r.o.name} has no applied batch at or after offset ${offset}`);
  return best[1];
}

async function appendToApplied(log: KafkaEventLog, replicas: readonly Replica[], batch: number, samples: number): Promise<LatencyRow> {
  const ack: number[] = [];
  const applied: number[] = [];
  const all: number[] = [];
  const afterAck: number[] = [];
  for (let k = 0; k < samples; k++) {
    const events = batchOf(batch, `lat-${batch}`);
    // Date.now(): the replicas' log lines carry epoch ms of the same clock.
    const t0 = Date.now();
    const p0 = performance.now();
    const offsets = await log.append(events);
    ack.push(performance.now() - p0);
    const ackedAt = Date.now();
    const last = offsets.at(-1)!;
    await Promise.all(replicas.map((r) => r.waitApplied(last, 30_000)));
    const per = replicas.map((r) => appliedAt(r, last) - t0);
    applied.push(...per);
    afterAck.push(...replicas.map((r) => appliedAt(r, last) - ackedAt));
    all.push(Math.max(...per));
    // Spaced appends: each sample is one batch through an idle pipeline, not a queue behind the last.
    await sleep(20);
  }
  return { batch, samples, ack: summarize(ack), applied: summarize(applied), appliedAll: summarize(all), afterAck: summarize(afterAck) };
}

interface ReconnectResult {
  readonly proxies: number;
  readonly replicas: number;
  readonly stormMs: number;
  readonly victim: string;
  readonly moved: number;
  /** Kill -> the last moved proxy converged. */
  readonly convergedMs: number;
  /** Per moved proxy: kill -> its new stream converged. */
  readonly perProxy: Summary;
  /** Resources and their bytes sent to the moved proxies on their new streams, by type (TYPE_LABEL). */
  readonly resentResources: number[];
  readonly resentBytes: number[];
  /** The same, sent to them on their first stream (until configured). */
  readonly firstResources: number[];
  readonly firstBytes: number[];
  /** Stream ends seen by proxies that were not on the killed replica (should be 0). */
  readonly othersClosed: number;
  readonly checked: number;
  readonly mismatched: string[];
  readonly nacks: number;
}

type HeldRow = Extract<WorkerReport, { type: 'held' }>['held'][number];

async function reconnect(replicas: Replica[], mesh: ReturnType<typeof generateMesh>): Promise<ReconnectResult> {
  const workers = [0, 1].map(() => fork(path.join(__dirname, 'replicas', 'proxy-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const converged = new Map<number, { at: number; stream: number; resources: number[]; bytes: number[] }[]>();
  const closed: { proxy: number; at: number; to: string }[] = [];
  let nacks = 0;
  let lastActivity = Date.now();
  let heldWaiter: ((rows: readonly HeldRow[]) => void) | null = null;
  for (const w of workers) {
    w.on('message', (m: WorkerReport) => {
      lastActivity = Date.now();
      if (m.type === 'converged') for (const [p, at, stream, resources, bytes] of m.rows) converged.set(p, [...(converged.get(p) ?? []), { at, stream, resources, bytes }]);
      else if (m.type === 'closed') closed.push({ proxy: m.proxy, at: m.at, to: m.to });
      else if (m.type === 'nack') nacks++;
      else if (m.type === 'held') heldWaiter?.(m.held);
    });
  }
  const send = (w: ChildProcess, m: WorkerRequest): void => void w.send(m);
  const workerOf = (i: number): ChildProcess => workers[i % workers.length]!;
  const until = async (what: string, ok: () => boolean, t: number): Promise<void> => {
    const end = Date.now() + t;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out after ${t} ms waiting for ${what}`);
      await sleep(10);
    }
  };
  const held = async (indexes: number[]): Promise<HeldRow[]> => {
    const out: HeldRow[] = [];
    for (const w of workers) {
      const mine = indexes.filter((i) => workerOf(i) === w);
      if (mine.length === 0) continue;
      const rows = await new Promise<readonly HeldRow[]>((resolve) => {
        heldWaiter = resolve;
        send(w, { type: 'held', proxies: mine });
      });
      out.push(...rows);
    }
    return out;
  };
  try {
    const home = new Map<number, Replica>();
    mesh.proxies.forEach((_, i) => home.set(i, replicas[i % replicas.length]!));
    for (const w of workers) send(w, { type: 'targets', targets: replicas.map((r) => r.xds) });
    const t0 = Date.now();
    for (const w of workers) {
      const mine = mesh.proxies.map((p, i) => [i, p.nodeId, home.get(i)!.xds] as const).filter(([i]) => workerOf(i) === w);
      send(w, { type: 'connect', proxies: mine, perTick: 25, tickMs: 50 });
    }
    await until(`${mesh.proxies.length} proxies configured`, () => converged.size === mesh.proxies.length, 300_000);
    const stormMs = Math.max(...[...converged.values()].map((c) => c[0]!.at)) - t0;
    say(`${mesh.proxies.length} proxies configured over ${replicas.length} replicas in ${stormMs} ms; waiting for quiet`);
    await until('3 s without proxy activity', () => Date.now() - lastActivity > 3000, 120_000);

    // The last replica: a third of the proxies with 3 replicas (every replica is a follower: this process is the writer).
    const victim = replicas[replicas.length - 1]!;
    const moving = mesh.proxies.map((_, i) => i).filter((i) => home.get(i) === victim);
    const live = replicas.filter((r) => r !== victim);
    // The moved proxies go to the replicas left, as a load balancer that dropped the dead one sends them.
    for (const w of workers) send(w, { type: 'targets', targets: live.map((r) => r.xds) });
    const closedBefore = closed.length;
    await victim.stop('SIGKILL');
    const killedAt = Date.now();
    const movedOnce = (i: number): boolean => (converged.get(i) ?? []).some((c) => c.stream >= 2);
    await until(`${moving.length} moved proxies to converge`, () => moving.every(movedOnce), 120_000);
    const per = moving.map((i) => converged.get(i)!.find((c) => c.stream >= 2)!.at - killedAt);
    const convergedMs = Math.max(...per);
    say(`replica ${victim.o.name} killed: ${moving.length} proxies converged on the others after ${convergedMs} ms; waiting for quiet`);
    await until('3 s without proxy activity', () => Date.now() - lastActivity > 3000, 120_000);

    // What the moved proxies were sent on their new streams, taken after the quiet (late responses counted).
    const resentResources = TYPE_LABEL.map(() => 0);
    const resentBytes = TYPE_LABEL.map(() => 0);
    for (const i of moving) {
      const c = converged.get(i)!.filter((x) => x.stream >= 2);
      // Streams after the first move (a proxy that moved twice): all of them count.
      for (const x of c) x.resources.forEach((v, t) => (resentResources[t]! += v));
      for (const x of c) x.bytes.forEach((v, t) => (resentBytes[t]! += v));
    }
    // For scale: what the same proxies were sent when they first connected (until configured).
    const firstResources = TYPE_LABEL.map(() => 0);
    const firstBytes = TYPE_LABEL.map(() => 0);
    for (const i of moving) {
      const c = converged.get(i)!.find((x) => x.stream === 1)!;
      c.resources.forEach((v, t) => (firstResources[t]! += v));
      c.bytes.forEach((v, t) => (firstBytes[t]! += v));
    }
    const movedSet = new Set(moving);
    const othersClosed = closed.slice(closedBefore).filter((c) => !movedSet.has(c.proxy)).length;

    // Converged for real: each moved proxy holds the clusters and listeners its new replica would send it.
    const mismatched: string[] = [];
    const rows = await held(moving);
    for (const [i, address, h] of rows) {
      const r = live.find((x) => x.xds === address);
      const uuid = mesh.proxies[i]!.uuid;
      if (r === undefined) {
        mismatched.push(`${uuid}: on no live replica (${address})`);
        continue;
      }
      const { status, body } = await r.getJson<ConfigDump>(`/debug/proxies/${uuid}/config`);
      if (status !== 200) {
        mismatched.push(`${uuid}: ${r.o.name} answered ${status}`);
        continue;
      }
      const want = dumpVersions(body);
      for (const t of [T.CDS, T.LDS]) {
        const a = JSON.stringify(Object.entries(h[t] ?? {}).sort());
        const b = JSON.stringify([...want.get(t)!].sort());
        if (a !== b) mismatched.push(`${uuid}: ${t.split('.').at(-1)} differs from ${r.o.name}'s config dump`);
      }
    }
    return {
      proxies: mesh.proxies.length,
      replicas: replicas.length,
      stormMs,
      victim: victim.o.name,
      moved: moving.length,
      convergedMs,
      perProxy: summarize(per),
      resentResources,
      resentBytes,
      firstResources,
      firstBytes,
      othersClosed,
      checked: rows.length,
      mismatched,
      nacks,
    };
  } finally {
    for (const w of workers) {
      if (w.connected) send(w, { type: 'close' });
    }
    await sleep(300);
    for (const w of workers) w.kill('SIGKILL');
  }
}

interface ConfigDump {
  configs: { '@type': string; dynamic_active_clusters?: { version_info: string; cluster: { name: string } }[]; dynamic_listeners?: { name: string; active_state?: { version_info: string } }[] }[];
}

/** Versions of clusters and listeners in a proxy's config dump as a replica would send them. */
function dumpVersions(dump: ConfigDump): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>([
    [T.CDS, new Map()],
    [T.LDS, new Map()],
  ]);
  for (const c of dump.configs) {
    for (const x of c.dynamic_active_clusters ?? []) out.get(T.CDS)!.set(x.cluster.name, x.version_info);
    for (const x of c.dynamic_listeners ?? []) out.get(T.LDS)!.set(x.name, x.active_state?.version_info ?? '');
  }
  return out;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const began = Date.now();
  const cluster = await findCluster(clusterRunDir());
  if (cluster.brokers === null) throw new Error(cluster.reason);
  const brokers = cluster.brokers.split(',');
  say(`cluster ${cluster.brokers} (${cluster.reason})`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-replicas-bench-'));
  const replicas: Replica[] = [];
  let writer: KafkaEventLog | null = null;
  const out: string[] = [];
  try {
    // 1. Throughput, on a topic of its own with no followers.
    const tputLog = await openWriter(brokers, `weft-replicas-bench-tput-${randomUUID()}`);
    const tput: ThroughputRow[] = [];
    try {
      // A short warm-up: the first transaction pays for connections and the coordinator lookup.
      for (let i = 0; i < 20; i++) await tputLog.append(batchOf(1, 'warm'));
      for (const [batch, appenders] of [
        [1, 1],
        [100, 1],
        [1, opts.concurrency],
        [100, opts.concurrency],
      ] as const) {
        const row = await throughput(tputLog, batch, appenders);
        tput.push(row);
        say(`throughput batch ${batch} x${appenders}: ${fmt(row.appendsPerSec)} appends/s, ${fmt(row.eventsPerSec)} events/s, append p50 ${ms(row.latency.p50)} ms p99 ${ms(row.latency.p99)} ms`);
      }
    } finally {
      await tputLog.close();
    }
    // The same without the election (idempotent producer, no transaction): what the fence costs per append.
    const plain = await KafkaEventLog.open({ brokers, topic: `weft-replicas-bench-plain-${randomUUID()}`, config: kafkaConfig(), election: false, logger: quiet });
    try {
      for (let i = 0; i < 20; i++) await plain.append(batchOf(1, 'warm'));
      for (const [batch, appenders] of [
        [1, 1],
        [1, opts.concurrency],
      ] as const) {
        const row = { ...(await throughput(plain, batch, appenders)), plain: true };
        tput.push(row);
        say(`throughput without election, batch ${batch} x${appenders}: ${fmt(row.appendsPerSec)} appends/s, append p50 ${ms(row.latency.p50)} ms p99 ${ms(row.latency.p99)} ms`);
      }
    } finally {
      await plain.close();
    }

    // 2. Writer failover between two candidate writers.
    const failovers: FailoverRun[] = [];
    for (let i = 0; i < opts.failovers; i++) {
      let f: FailoverRun;
      try {
        f = await writerFailover(cluster.brokers);
      } catch (err) {
        if (!(err instanceof WriterOpenError) || openFailures.length >= 6) throw err;
        openFailures.push(err.message);
        say(`writer failover ${i + 1}: ${err.message}; again on a new topic`);
        i--;
        continue;
      }
      failovers.push(f);
      say(`writer failover ${i + 1}: appends resumed ${f.resumedMs} ms after the kill (elected after ${f.electedMs} ms; gap between acknowledged appends ${f.gapMs} ms)`);
    }

    // 3. Append -> applied on real replicas, on the topic that then serves the proxies.
    const topic = `weft-replicas-bench-${randomUUID()}`;
    writer = await openWriter(brokers, topic);
    const mesh = generateMesh({ services: opts.services, proxies: opts.proxies });
    for (let i = 0; i < mesh.initial.length; i += 1000) await writer.append(mesh.initial.slice(i, i + 1000));
    say(`mesh: ${opts.services} services, ${mesh.initial.length} events on ${topic}`);
    for (let i = 0; i < opts.replicas; i++) {
      const r = new Replica({ name: `r${i + 1}`, home: path.join(dir, `r${i + 1}`), brokers: cluster.brokers, topic, sessionTimeoutMs: opts.sessionMs, requestTimeoutMs: REQUEST_TIMEOUT_MS });
      await r.start();
      replicas.push(r);
    }
    if (!writer.isWriter) throw new Error('this process lost the writer role when the replicas joined');
    say(`${replicas.length} replicas ready`);
    const latency: LatencyRow[] = [];
    for (const [batch, samples] of [
      [1, opts.samples],
      [100, Math.max(1, Math.round(opts.samples / 4))],
    ] as const) {
      const row = await appendToApplied(writer, replicas, batch, samples);
      latency.push(row);
      say(`append -> applied, batch ${batch}: p50 ${ms(row.applied.p50)} ms, p99 ${ms(row.applied.p99)} ms (all replicas p99 ${ms(row.appliedAll.p99)} ms; ack p50 ${ms(row.ack.p50)} ms)`);
    }

    // 4. A replica killed under the proxies.
    const rc = await reconnect(replicas, mesh);

    // The report, as the README's table.
    out.push(`weft replicas bench: 3 brokers ${cluster.brokers}, node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    out.push('');
    out.push('| appends to the 3-broker topic (elected writer, transactional) | appends/s | events/s | append p50 | append p99 |');
    out.push('| --- | --- | --- | --- | --- |');
    for (const r of tput) {
      out.push(`| ${r.plain === true ? 'election off (idempotent, no transaction): ' : ''}batch ${r.batch}, ${r.appenders === 1 ? '1 appender (each awaited)' : `${r.appenders} appenders at once`} (${fmt(r.appends)} appends in ${r.seconds.toFixed(1)} s) | ${fmt(r.appendsPerSec)} | ${fmt(r.eventsPerSec)} | ${ms(r.latency.p50)} ms | ${ms(r.latency.p99)} ms |`);
    }
    out.push('');
    out.push(`| append -> applied on ${replicas.length} \`weft start\` followers | samples | ack p50 / p99 | applied p50 / p99 (each replica) | applied on all p50 / p99 / max | ack -> applied p50 / p99 |`);
    out.push('| --- | --- | --- | --- | --- | --- |');
    for (const r of latency) {
      out.push(`| batch ${r.batch} | ${r.samples} x ${replicas.length} | ${ms(r.ack.p50)} / ${ms(r.ack.p99)} ms | ${ms(r.applied.p50)} / ${ms(r.applied.p99)} ms | ${ms(r.appliedAll.p50)} / ${ms(r.appliedAll.p99)} / ${ms(r.appliedAll.max)} ms | ${ms(r.afterAck.p50)} / ${ms(r.afterAck.p99)} ms |`);
    }
    out.push('');
    const fo = summarize(failovers.map((f) => f.resumedMs));
    out.push('| figure | value |');
    out.push('| --- | --- |');
    out.push(`| writer failover (kill -9, session ${opts.sessionMs} ms), ${failovers.length} runs: kill -> appends resume on the other writer | ${failovers.map((f) => f.resumedMs).join(', ')} ms (median ${fo.p50}) |`);
    out.push(`| ... kill -> the other elected / last acknowledged append -> next | ${failovers.map((f) => f.electedMs).join(', ')} ms / ${failovers.map((f) => f.gapMs).join(', ')} ms |`);
    if (openFailures.length > 0) out.push(`| writer opens (election on) that failed and were tried again | ${openFailures.length} of ${opensTried}: ${openFailures[0]} |`);
    out.push(`| ${rc.proxies} delta proxies over ${rc.replicas} replicas: all configured after | ${fmt(rc.stormMs)} ms |`);
    out.push(`| replica ${rc.victim} killed (-9): its ${rc.moved} proxies reconnected and converged after (p50 / p99 / last) | ${fmt(rc.perProxy.p50)} / ${fmt(rc.perProxy.p99)} / ${fmt(rc.convergedMs)} ms |`);
    const resent = TYPE_LABEL.map((l, t) => `${l} ${rc.resentResources[t]} (${fmt(rc.resentBytes[t]!)} B)`).join(', ');
    out.push(`| resources (bytes) resent to the moved proxies | ${resent} |`);
    const first = TYPE_LABEL.map((l, t) => `${l} ${fmt(rc.firstResources[t]!)} (${fmt(rc.firstBytes[t]!)} B)`).join(', ');
    out.push(`| ... sent to the same proxies when they first connected | ${first} |`);
    out.push(`| moved proxies whose clusters and listeners match their new replica's config dump | ${rc.checked - new Set(rc.mismatched.map((m) => m.split(':')[0])).size} of ${rc.checked} |`);
    out.push(`| streams of other proxies ended / NACKs | ${rc.othersClosed} / ${rc.nacks} |`);
    out.push('');
    out.push(`(bench ran ${((Date.now() - began) / 1000).toFixed(0)} s)`);
    if (rc.mismatched.length > 0) out.push(`mismatches (first 10): ${rc.mismatched.slice(0, 10).join('; ')}`);
  } finally {
    for (const r of replicas) await r.stop('SIGTERM').catch(() => undefined);
    await writer?.close().catch(() => undefined);
    await cluster.stop?.();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(out.join('\n'));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
