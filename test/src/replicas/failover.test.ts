/**
 * Failover of Weft replicas on one Kafka log, with real brokers and real processes: a 3-node cluster
 * (deploy/kafka/start-cluster.sh; reused when it runs, and then left running), three `weft start`
 * processes on one topic, each with the files source on one shared manifests folder (only the elected
 * writer runs it), simulated delta-xDS proxies spread over the replicas, and a streamer that adds a
 * Service manifest to the folder every STREAM_MS while a scenario runs. The scenarios, in order:
 *  1. kill -9 the writer: another replica becomes the writer; the time until appends resume is printed;
 *  2. SIGSTOP the writer past its session timeout, then SIGCONT: it appends nothing after waking;
 *  3. kill -9 the partition's leader broker during appends: nothing acknowledged lost, nothing twice;
 *  4. kill -9 a serving replica: its proxies reconnect to the others and converge (time, bytes resent);
 *  5. all brokers down for 30 s: replicas are not ready and keep serving; the changes made meanwhile land once.
 * After each: the topic, read by a fresh read-committed reader, holds every change the streamer made
 * exactly once and no event applied twice; every replica read the same events and applied the same offset;
 * the config of a sample proxy (connected to every replica) is the same on all; every proxy holds what its
 * replica would send it. A killed replica or broker is started again before the next scenario.
 *
 * "Every acknowledged change once" is checked in its stronger form, every change made: a writer's files
 * source reconciles the whole folder against the catalog when it starts, so a change whose append was never
 * acknowledged still lands, and must land once. No certificate issuer is loaded (xDS without mTLS), so each
 * replica would issue its own leaf certificates: secrets are left out of the comparison.
 *
 * With CI=true a cluster that cannot be started fails the test instead of skipping it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, describe, it, type TestContext } from 'node:test';
import { captureLogger, TypeUrl, type MeshEvent } from '@weft/core';
import { DEFAULT_KAFKA_CONFIG, KafkaEventLog, type KafkaPluginConfig } from '@weft/plugin-kafka';
import { clusterRunDir, findCluster, partitionState, type ClusterLookup } from '@weft/plugin-kafka/dist/testing.js';
import { EXAMPLE, WeftProcess } from '../cli/helpers.js';
import { DeltaClient } from '../support/delta-client.js';

const ci = process.env['CI'] === 'true';
const SESSION_MS = 6000;
const REQUEST_TIMEOUT_MS = 5000;
const STREAM_MS = 300;
/** Scenario 5 keeps the brokers down this long, as the issue asks. */
const OUTAGE_MS = 30_000;
const readerConfig: KafkaPluginConfig = { ...DEFAULT_KAFKA_CONFIG, clientId: 'weft-failover-check', requestTimeoutMs: 20_000 };

/** The example mesh's sidecars: uuid, service account, namespace. */
const SIDECARS: readonly (readonly [string, string, string])[] = [
  ['5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f01', 'bookbuyer', 'bookbuyer'],
  ['5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f02', 'bookthief', 'bookthief'],
  ['5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f03', 'bookstore', 'bookstore'],
  ['5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f04', 'bookstore', 'bookstore'],
  ['5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f05', 'bookstore', 'bookstore'],
  ['5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f06', 'bookwarehouse', 'bookwarehouse'],
  ['5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f07', 'mysql', 'bookwarehouse'],
];
const nodeId = ([uuid, sa, ns]: readonly [string, string, string]): string => `${uuid}.sidecar.${sa}.${ns}.cluster.local`;
/** bookbuyer: connected to every replica, its config compared across them. */
const SAMPLE = SIDECARS[0]!;
/** The types the simulated proxies subscribe to (wildcard) and the convergence check compares. */
const TYPES = [TypeUrl.Cluster, TypeUrl.Listener] as const;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, ms: number, every = 100): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      // A replica or broker that is being killed or started answers with errors for a while.
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last === undefined ? '' : ` (last error: ${String(last)})`}`);
    await sleep(every);
  }
}

async function getJson<T>(address: string, urlPath: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://${address}${urlPath}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as T };
}

/**
 * A simulated delta-xDS proxy: one ADS stream at a time, wildcard CDS and LDS, every response ACKed at once.
 * Its stream keeps the version of each resource it holds (delta versions are hashes of the resource bytes)
 * and counts the resource bytes it was sent. When `reconnect` is set, a stream that ends is replaced by one
 * to the address `reconnect` picks, sent the versions held as initial_resource_versions.
 */
class Proxy {
  address = '';
  private stream: DeltaClient | undefined;
  private closed = false;

  constructor(
    readonly spec: readonly [string, string, string],
    private readonly reconnect: (() => string | undefined) | null,
  ) {}

  /** Name -> version of what it holds of `typeUrl`. */
  held(typeUrl: string): ReadonlyMap<string, string> {
    return this.stream?.held(typeUrl) ?? new Map();
  }

  /** Resource bytes it was sent, over all its streams. */
  get bytes(): number {
    return this.stream?.resourceBytes ?? 0;
  }

  connect(address: string): void {
    const stream = new DeltaClient(address, { id: nodeId(this.spec) }).ackEach();
    for (const typeUrl of TYPES) stream.request({ typeUrl, subscribe: ['*'] });
    this.follow(stream);
  }

  private follow(stream: DeltaClient): void {
    this.stream = stream;
    this.address = stream.address;
    void stream.status.then(() => {
      if (this.closed || this.stream !== stream || this.reconnect === null) return;
      void this.moveOn(stream);
    });
  }

  /** The stream ended (its replica died): connect to another replica, retrying while none answers. */
  private async moveOn(ended: DeltaClient): Promise<void> {
    this.address = '';
    while (!this.closed && this.stream === ended) {
      await sleep(100);
      const next = this.reconnect?.();
      if (next !== undefined) {
        this.follow(ended.moveTo(next));
        return;
      }
    }
  }

  close(): void {
    this.closed = true;
    this.stream?.cancel();
  }
}

interface Replica {
  readonly name: string;
  readonly home: string;
  proc: WeftProcess | null;
  xds: string;
  debug: string;
  /** The sample proxy's stream on this replica (the sample proxy is connected to every replica). */
  sample: Proxy | null;
}

interface DebugLog {
  head: number;
  applied: number;
  role: string;
  writerId: string | null;
  next: number | null;
  events: { offset: number; kind: string; key: string; op: string }[];
}

interface ConfigDump {
  configs: { '@type': string; dynamic_active_clusters?: { version_info: string; cluster: { name: string } }[]; dynamic_listeners?: { name: string; active_state?: { version_info: string } }[] }[];
}

/** A proxy's config dump as a replica would send it, versions by type. */
function dumpVersions(dump: ConfigDump): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>(TYPES.map((t) => [t, new Map()]));
  for (const c of dump.configs) {
    for (const x of c.dynamic_active_clusters ?? []) out.get(TypeUrl.Cluster)!.set(x.cluster.name, x.version_info);
    for (const x of c.dynamic_listeners ?? []) out.get(TypeUrl.Listener)!.set(x.name, x.active_state?.version_info ?? '');
  }
  return out;
}

/** Whether `p` holds what the replica it is connected to, one of `live`, would send it now. */
async function holdsWhatItIsSent(p: Proxy, live: readonly Replica[]): Promise<boolean> {
  const r = live.find((x) => x.xds === p.address);
  if (r === undefined) return false;
  const { status, body } = await getJson<ConfigDump>(r.debug, `/debug/proxies/${p.spec[0]}/config`);
  if (status !== 200) return false;
  const want = dumpVersions(body);
  return TYPES.every((type) => JSON.stringify([...want.get(type)!].sort()) === JSON.stringify([...p.held(type)].sort()));
}

function serviceManifest(n: number): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: stream-${n}
  namespace: bookstore
spec:
  clusterIP: 10.96.${9 + Math.floor(n / 250)}.${(n % 250) + 1}
  selector:
    app: bookstore
  ports:
    - name: http
      port: ${15000 + n}
      targetPort: 14001
      appProtocol: http
`;
}

/** n of the streamer's change "stream-<n>" named in a resource name, else 0. */
function streamNumber(name: string): number {
  const m = /stream-(\d+)/.exec(name);
  return m === null ? 0 : Number(m[1]);
}

/** The command line of a running process, to start a killed broker node again exactly as it was. */
function cmdline(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
}

describe('failover of Weft replicas on one Kafka log (3 brokers, 3 weft processes)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-failover-'));
  const manifests = path.join(dir, 'manifests');
  const topic = `weft-failover-${randomUUID()}`;
  let cluster: ClusterLookup;
  let skip: string | false = false;
  let brokers: string[] = [];
  /** Each node's command line, read once while it runs, to start it again after a kill. */
  const commands = new Map<number, string[]>();
  /** Each node's pid now (a node started again by this test has a new one). */
  const pids = new Map<number, number>();
  const replicas: Replica[] = [];
  const proxies: Proxy[] = [];
  /** Changes the streamer made (stream-<n>.yaml written). */
  let made = 0;
  let streaming: Promise<void> | null = null;
  let streamOn = false;

  const alive = (): Replica[] => replicas.filter((r) => r.proc !== null);
  let turn = 0;
  const pickAlive = (): string | undefined => {
    const live = alive().filter((r) => r.xds !== '');
    return live.length === 0 ? undefined : live[turn++ % live.length]!.xds;
  };

  before(async () => {
    const t0 = Date.now();
    cluster = await findCluster();
    if (cluster.brokers === null) {
      if (ci) throw new Error(`CI=true and ${cluster.reason}`);
      skip = cluster.reason;
      return;
    }
    if (cluster.nodes.length !== 3) {
      if (ci) throw new Error(`CI=true and ${cluster.reason} gives no node pids to kill`);
      skip = `${cluster.reason} gives no node pids to kill; unset it to let the test start its own cluster`;
      return;
    }
    brokers = cluster.brokers.split(',');
    for (const n of cluster.nodes) {
      commands.set(n.id, cmdline(n.pid));
      pids.set(n.id, n.pid);
    }
    console.log(`# 3-node cluster ${cluster.brokers} (${cluster.reason}, ${Date.now() - t0} ms)`);
    fs.cpSync(EXAMPLE, manifests, { recursive: true });
    for (const name of ['r1', 'r2', 'r3']) {
      const home = path.join(dir, name);
      fs.mkdirSync(home);
      fs.writeFileSync(
        path.join(home, 'weft.yaml'),
        `dataDir: data
trustDomain: cluster.local
log: kafka://${cluster.brokers}/${topic}
xds: { host: 127.0.0.1, port: 0, insecure: true, coalesceMs: 0 }
debug: { host: 127.0.0.1, port: 0 }
metrics: { enabled: false }
plugins:
  - name: '@weft/plugin-files'
    config: { dir: ${JSON.stringify(manifests)}, debounceMs: 20 }
  - name: '@weft/plugin-kafka'
    config: { replicationFactor: 3, requestTimeoutMs: ${REQUEST_TIMEOUT_MS}, connectionTimeoutMs: 1000, writerSessionTimeoutMs: ${SESSION_MS}, replicaId: ${name} }
  - name: '@weft/plugin-envoy'
`,
      );
      replicas.push({ name, home, proc: null, xds: '', debug: '', sample: null });
    }
    // One at a time: the first creates the topic and becomes the writer.
    for (const r of replicas) await startReplica(r);
    // The other sidecars, spread over the replicas; each moves to another replica when its own dies.
    SIDECARS.slice(1).forEach((spec, i) => {
      const p = new Proxy(spec, pickAlive);
      p.connect(replicas[i % 3]!.xds);
      proxies.push(p);
    });
  });

  /** stderr of every weft process, killed ones too, for WEFT_FAILOVER_LOGS. */
  const logs: { name: string; proc: WeftProcess }[] = [];

  // A scenario that failed midway leaves the streamer running: the next starts from a quiet folder.
  afterEach(() => stopStreaming());

  after(async () => {
    streamOn = false;
    await streaming;
    for (const p of proxies) p.close();
    for (const r of replicas) {
      r.sample?.close();
      if (r.proc !== null) {
        r.proc.signal('SIGCONT');
        r.proc.kill();
        await r.proc.exited;
      }
    }
    if (cluster?.stop === null) {
      // A cluster that ran before the test stays running: nodes a failed scenario left dead start again.
      for (const id of pids.keys()) {
        try {
          process.kill(pids.get(id)!, 0);
        } catch {
          await startNode(id).catch((err: unknown) => console.log(`# node ${id} did not start again: ${(err as Error).message}`));
        }
      }
    }
    await cluster?.stop?.();
    // To look into a failure: WEFT_FAILOVER_LOGS=<dir> keeps each replica process's log there.
    const keep = process.env['WEFT_FAILOVER_LOGS'];
    if (keep !== undefined && keep !== '') {
      fs.mkdirSync(keep, { recursive: true });
      logs.forEach((l, i) => fs.writeFileSync(path.join(keep, `${i}-${l.name}.log`), l.proc.stderrText));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const nodeLog = (id: number): string => path.join(clusterRunDir(), `node${id}`, 'broker.log');

  function killNode(id: number): void {
    process.kill(pids.get(id)!, 'SIGKILL');
  }

  /**
   * Starts a killed node again with its command line, on its data, appending to its log; records its new pid
   * in the cluster's nodes file, so stop-cluster.sh (and start-cluster.sh's check) see it.
   */
  async function startNode(id: number): Promise<void> {
    const file = nodeLog(id);
    const from = fs.statSync(file).size;
    const out = fs.openSync(file, 'a');
    const [bin, ...args] = commands.get(id)!;
    const child = spawn(bin!, args, { detached: true, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    child.unref();
    const pid = child.pid!;
    pids.set(id, pid);
    const nodesFile = path.join(clusterRunDir(), 'nodes');
    const lines = fs.readFileSync(nodesFile, 'utf8').split('\n').map((l) => (l.split(/\s+/)[0] === String(id) ? l.replace(/^(\S+\s+)\S+/, `$1${pid}`) : l));
    fs.writeFileSync(nodesFile, lines.join('\n'));
    await until(
      `node ${id} to start again`,
      () => {
        process.kill(pid, 0);
        const fd = fs.openSync(file, 'r');
        try {
          const size = fs.fstatSync(fd).size;
          const buf = Buffer.alloc(size - from);
          fs.readSync(fd, buf, 0, buf.length, from);
          return buf.toString().includes('Kafka Server started');
        } finally {
          fs.closeSync(fd);
        }
      },
      90_000,
      200,
    );
  }

  /** Waits for the topic's partition to have all three nodes in sync again (a scenario starts from a whole cluster). */
  async function wholeIsr(): Promise<void> {
    await until('all three nodes in the ISR', async () => (await partitionState(brokers, topic)).isr.length === 3, 60_000, 500);
  }

  /**
   * Starts a replica and waits for it to be ready. `weft start` exits 1 when the brokers do not answer within
   * requestTimeoutMs (5 s here), which on two cores shared with another test's starting cluster happens; that
   * is Weft doing its job, so a start that failed that way is tried again (twice), its output printed.
   */
  async function startReplica(r: Replica): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startReplicaOnce(r);
      } catch (err) {
        const text = (err as Error).message;
        r.proc?.kill();
        await r.proc?.exited;
        r.proc = null;
        if (attempt >= 3 || !/LOG_UNAVAILABLE|event log on Kafka topic|no matching log line/.test(text)) throw err;
        console.log(`# replica ${r.name}: start attempt ${attempt} failed, trying again:\n${text.split('\n').slice(-8).map((l) => `#   ${l}`).join('\n')}`);
      }
    }
  }

  async function startReplicaOnce(r: Replica): Promise<void> {
    const proc = new WeftProcess(['--config', path.join(r.home, 'weft.yaml')], r.home);
    r.proc = proc;
    logs.push({ name: r.name, proc });
    const ready = await proc.waitFor((l) => l.msg === 'ready', 90_000);
    r.xds = String(ready['xds']);
    r.debug = String(ready['debug']);
    r.sample?.close();
    r.sample = new Proxy(SAMPLE, null);
    r.sample.connect(r.xds);
  }

  async function kill(r: Replica, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = r.proc!;
    proc.signal(sig);
    await proc.exited;
    r.proc = null;
    r.xds = '';
    r.debug = '';
    r.sample?.close();
    r.sample = null;
  }

  /** The replica's log summary (`from` undefined) or a page of 1000 events from `from`. */
  const debugLog = async (r: Replica, from?: number): Promise<DebugLog> =>
    (await getJson<DebugLog>(r.debug, from === undefined ? '/debug/log?limit=0' : `/debug/log?from=${from}&limit=1000`)).body;

  /** The one writer among `among` (the live replicas), once all of them name it. */
  async function writer(among: () => Replica[] = alive): Promise<Replica> {
    return until(
      'one replica to be the writer and the others to name it',
      async () => {
        const live = among();
        const states = await Promise.all(live.map((r) => debugLog(r)));
        const writers = live.filter((_, i) => states[i]!.role === 'writer');
        if (writers.length !== 1) return undefined;
        return states.every((s) => s.writerId === writers[0]!.name) ? writers[0] : undefined;
      },
      30_000,
    );
  }

  function startStreaming(): void {
    streamOn = true;
    streaming = (async () => {
      while (streamOn) {
        made++;
        fs.writeFileSync(path.join(manifests, `stream-${made}.yaml`), serviceManifest(made));
        await sleep(STREAM_MS);
      }
    })();
  }

  async function stopStreaming(): Promise<void> {
    streamOn = false;
    await streaming;
    streaming = null;
  }

  /**
   * Stops the streamer and checks, once everything settled: the topic holds every change exactly once and
   * no event twice; every replica read the same events and applied the same offset; the sample proxy's
   * config is the same on every replica; every proxy holds what its replica would send it now.
   */
  async function checkConverged(t: TestContext, label: string): Promise<void> {
    await stopStreaming();
    // The writer appends the last change; then the topic no longer moves.
    const events = await until(
      `the last change (stream-${made}) on the topic`,
      async () => {
        const reader = await KafkaEventLog.open({ brokers, topic, config: readerConfig, readOnly: true, logger: captureLogger() });
        try {
          const all: MeshEvent[] = [];
          for await (const b of reader.read(0)) all.push(...b.events);
          return all.some((e) => e.kind === 'Service' && e.key === `bookstore/stream-${made}`) ? all : undefined;
        } finally {
          await reader.close();
        }
      },
      60_000,
      500,
    );
    const head = events.length;
    assert.deepEqual(
      events.map((e) => e.offset),
      Array.from({ length: head }, (_, i) => i),
      'contiguous offsets',
    );
    const counts = new Map<string, number>();
    for (const e of events) if (e.kind === 'Service' && e.key.startsWith('bookstore/stream-')) counts.set(e.key, (counts.get(e.key) ?? 0) + 1);
    const wrong = Array.from({ length: made }, (_, i) => `bookstore/stream-${i + 1}`).filter((k) => counts.get(k) !== 1);
    assert.deepEqual(
      wrong.map((k) => `${k} x${counts.get(k) ?? 0}`),
      [],
      'every change the streamer made on the topic exactly once',
    );
    // Applied twice: an event that repeats the one before it for the same resource (same op and body).
    const lastOf = new Map<string, string>();
    const twice: string[] = [];
    for (const e of events) {
      const id = `${e.kind}/${e.key}`;
      const what = `${e.op} ${JSON.stringify(e.body ?? null)}`;
      if (lastOf.get(id) === what) twice.push(`${id} at ${e.offset}`);
      lastOf.set(id, what);
    }
    assert.deepEqual(twice, [], 'no event applied twice');

    // Every replica applied the whole topic, and read the same events.
    const live = alive();
    await until(
      `every replica to apply offset ${head - 1}`,
      async () => (await Promise.all(live.map((r) => debugLog(r)))).every((s) => s.head === head && s.applied === head - 1),
      30_000,
    );
    const expected = events.map((e) => `${e.offset} ${e.op} ${e.kind}/${e.key}`);
    for (const r of live) {
      const seen: string[] = [];
      for (let from: number | null = 0; from !== null; ) {
        const page: DebugLog = await debugLog(r, from);
        seen.push(...page.events.map((e) => `${e.offset} ${e.op} ${e.kind}/${e.key}`));
        from = page.next;
      }
      assert.deepEqual(seen, expected, `${r.name} read the same events`);
    }

    // The sample proxy's config on every replica, at that same offset: byte-identical (every resource and
    // its version, a hash of its bytes), but for the secrets, which each replica issues itself without a
    // shared issuer, and for `last_updated`, which is not sent to proxies and differs between replicas whose
    // derivations have different histories (one replayed at start, one recomputed as events came).
    const dumps = await Promise.all(
      live.map(async (r) => {
        const { status, body } = await getJson<ConfigDump>(r.debug, `/debug/proxies/${SAMPLE[0]}/config`);
        assert.equal(status, 200, `${r.name}: ${JSON.stringify(body)}`);
        const sent = { ...body, configs: body.configs.filter((c) => !c['@type'].endsWith('SecretsConfigDump')) };
        return JSON.stringify(sent, (k, v: unknown) => (k === 'last_updated' ? undefined : v));
      }),
    );
    for (let i = 1; i < dumps.length; i++) {
      const a = dumps[0]!;
      const b = dumps[i]!;
      let at = 0;
      while (at < a.length && a[at] === b[at]) at++;
      assert.ok(a === b, `${live[i]!.name}'s config of the sample proxy differs from ${live[0]!.name}'s at ${at}:\n${a.slice(at - 300, at + 300)}\n${b.slice(at - 300, at + 300)}`);
    }
    assert.ok(dumps[0]!.includes(`stream-${made}`), 'the sample config has the last change');

    // Every proxy, the sample's streams too, holds what its replica would send it now.
    const all = [...proxies, ...live.map((r) => r.sample!)];
    await until(
      'every proxy to converge',
      async () => {
        for (const p of all) if (!(await holdsWhatItIsSent(p, live))) return false;
        return true;
      },
      30_000,
      250,
    );
    t.diagnostic(`${label}: ${head} events, ${made} changes made, each once; ${live.length} replicas at offset ${head - 1}; ${all.length} proxy streams converged`);
  }

  it('1. kill -9 the writer: another replica becomes the writer and appends resume', { timeout: 120_000 }, async (t) => {
    if (skip !== false) return t.skip(skip);
    const w = await writer();
    startStreaming();
    await sleep(2000);
    const followers = alive().filter((r) => r !== w);
    await kill(w);
    const killedAt = Date.now();
    // Appends resume: a follower reads a change made after the kill, which only a new writer can append.
    const madeAtKill = made;
    // Seen end to end: the sample proxy's stream on a follower gets the cluster of such a change.
    const watch = followers[0]!.sample!;
    await until('appends to resume', () => [...watch.held(TypeUrl.Cluster).keys()].some((name) => streamNumber(name) > madeAtKill), 30_000, 20);
    const resumeMs = Date.now() - killedAt;
    const next = await writer();
    const electedMs = Date.now() - killedAt;
    assert.notEqual(next, w);
    t.diagnostic(`writer ${w.name} killed (-9): ${next.name} is the writer; appends resumed after ${resumeMs} ms (session timeout ${SESSION_MS} ms), role seen by all after ${electedMs} ms`);
    await sleep(1000);
    await checkConverged(t, 'after the writer kill');
    await startReplica(w);
    const again = await writer();
    assert.equal(again, next, 'a replica that joins does not take the writer role');
  });

  it('2. SIGSTOP the writer past its session timeout, then SIGCONT: it appends nothing', { timeout: 120_000 }, async (t) => {
    if (skip !== false) return t.skip(skip);
    const w = await writer();
    const others = (): Replica[] => alive().filter((r) => r !== w);
    startStreaming();
    await sleep(1500);
    w.proc!.signal('SIGSTOP');
    const stoppedAt = Date.now();
    let next: Replica;
    try {
      next = await writer(others);
      const takeoverMs = Date.now() - stoppedAt;
      // Frozen past the election timeout with changes arriving: its file watcher queues them for when it wakes.
      await sleep(Math.max(0, SESSION_MS + 3000 - (Date.now() - stoppedAt)));
      t.diagnostic(`writer ${w.name} stopped (SIGSTOP): ${next.name} is the writer after ${takeoverMs} ms; woken after ${Date.now() - stoppedAt} ms`);
    } finally {
      w.proc!.signal('SIGCONT');
    }
    const wokeAt = Date.now();
    // Awake, it learns it is no longer the writer; the others go on naming the new one.
    await until(`${w.name} to report itself a follower`, async () => (await debugLog(w)).role === 'follower', 30_000);
    const stepDownMs = Date.now() - wokeAt;
    assert.equal(await writer(), next);
    await sleep(2000);
    // Its queued appends must have been refused: had one been stored, the check below finds that change twice.
    const fenced = w.proc!.lines.filter((l) => JSON.stringify(l).includes('LOG_FENCED'));
    t.diagnostic(`${w.name} woke, a follower after ${stepDownMs} ms; ${fenced.length} log line(s) naming LOG_FENCED`);
    await checkConverged(t, 'after the writer froze and woke');
  });

  it('3. kill -9 the partition leader broker during appends: nothing acknowledged lost, nothing twice', { timeout: 180_000 }, async (t) => {
    if (skip !== false) return t.skip(skip);
    await wholeIsr();
    const before = await partitionState(brokers, topic);
    const leader = before.leader;
    const victim = cluster.nodes.find((n) => n.id === leader)?.broker;
    assert.ok(commands.has(leader), `leader ${leader} is one of the nodes`);
    startStreaming();
    await sleep(1500);
    const madeAtKill = made;
    killNode(leader);
    const killedAt = Date.now();
    const survivors = brokers.filter((b) => b !== victim);
    await until(
      `partition 0 to get a leader other than node ${leader}`,
      async () => {
        const p = await partitionState(survivors, topic);
        return p.leader !== leader && p.leader >= 0 ? p : undefined;
      },
      30_000,
      200,
    );
    const movedMs = Date.now() - killedAt;
    const w = await writer();
    // Appends go on: a change made after the kill reaches a follower's sample proxy.
    const watch = alive().find((r) => r !== w)!.sample!;
    await until('a change made after the kill to reach the proxies', () => [...watch.held(TypeUrl.Cluster).keys()].some((n) => streamNumber(n) > madeAtKill), 60_000, 20);
    const resumeMs = Date.now() - killedAt;
    await sleep(2000);
    t.diagnostic(`leader broker ${leader} killed (-9): partition leader moved after ${movedMs} ms; changes reached the proxies again after ${resumeMs} ms`);
    await checkConverged(t, 'after the leader broker kill');
    await startNode(leader);
    await wholeIsr();
  });

  // Runs on the writer scenario 3 leaves: when that one stopped appending, this fails on the same cause.
  it('4. kill -9 a serving replica: its proxies reconnect to the others and converge', { timeout: 120_000 }, async (t) => {
    if (skip !== false) return t.skip(skip);
    const w = await writer();
    // The follower serving the most proxies, so that this is about serving, not about the writer's role
    // (scenario 1).
    const followers = alive().filter((r) => r !== w);
    const on = (r: Replica): number => proxies.filter((p) => p.address === r.xds).length;
    const victim = followers.reduce((a, b) => (on(b) > on(a) ? b : a));
    const moving = proxies.filter((p) => p.address === victim.xds);
    assert.ok(moving.length > 0, `proxies on ${victim.name}`);
    // Settled first (all replicas at one offset, every proxy converged), so that what a moved proxy is sent
    // is what the move resends, not a new change.
    startStreaming();
    await sleep(1000);
    await checkConverged(t, 'before the replica kill');
    const bytesBefore = moving.map((p) => p.bytes);
    await kill(victim);
    const killedAt = Date.now();
    await until(
      'the moved proxies to reconnect and converge',
      async () => {
        for (const p of moving) if (!(await holdsWhatItIsSent(p, alive()))) return false;
        return true;
      },
      30_000,
      20,
    );
    const convergedMs = Date.now() - killedAt;
    const resent = moving.reduce((sum, p, i) => sum + p.bytes - bytesBefore[i]!, 0);
    t.diagnostic(`replica ${victim.name} killed (-9): ${moving.length} proxies reconnected to ${moving.map((p) => alive().find((r) => r.xds === p.address)!.name).join(', ')} and converged after ${convergedMs} ms; ${resent} bytes resent`);
    assert.equal(resent, 0, 'bytes resent to proxies that hold the current versions');
    startStreaming();
    await sleep(2000);
    await checkConverged(t, 'after the replica kill');
    await startReplica(victim);
  });

  // The former writer forgets the append failures it recorded when it loses the role (AppendHealth.forget),
  // else it would stay not ready; the writer elected afterwards may be one that was the writer before, so
  // its sources start a second time (found by this scenario and scenario 3: a restarted files source
  // scanned nothing).
  it('5. all brokers down for 30 s: not ready, serving last-good config, catching up; the changes made meanwhile land once', { timeout: 240_000 }, async (t) => {
    if (skip !== false) return t.skip(skip);
    await wholeIsr();
    startStreaming();
    await sleep(1000);
    const live = alive();
    const ids = [...pids.keys()];
    for (const id of ids) killNode(id);
    const downAt = Date.now();
    const madeAtDown = made;
    try {
      await until(
        'every replica to report not ready',
        async () => (await Promise.all(live.map((r) => fetch(`http://${r.debug}/readyz`, { signal: AbortSignal.timeout(5000) })))).every((res) => res.status === 503),
        REQUEST_TIMEOUT_MS * 4,
        200,
      );
      const notReadyMs = Date.now() - downAt;
      // Serving the last-good config: the streams stay, and a proxy that connects now gets its config.
      for (const p of proxies) assert.ok(live.some((r) => r.xds === p.address), `proxy ${p.spec[0]} keeps its stream`);
      const newcomer = new Proxy(SIDECARS[1]!, null);
      try {
        newcomer.connect(live[0]!.xds);
        await until(
          'a proxy connecting during the outage to get its config',
          async () => {
            const { status, body } = await getJson<ConfigDump>(live[0]!.debug, `/debug/proxies/${SIDECARS[1]![0]}/config`);
            const want = dumpVersions(body);
            return status === 200 && want.get(TypeUrl.Cluster)!.size > 0 && JSON.stringify([...want.get(TypeUrl.Cluster)!].sort()) === JSON.stringify([...newcomer.held(TypeUrl.Cluster)].sort());
          },
          10_000,
        );
      } finally {
        newcomer.close();
      }
      t.diagnostic(`all brokers killed (-9): every replica not ready after ${notReadyMs} ms; streams kept, a new proxy served`);
      await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
    } finally {
      await Promise.all(ids.map((id) => startNode(id)));
    }
    const upAt = Date.now();
    const madeDuring = made - madeAtDown;
    let reports: unknown[] = [];
    await until(
      'every replica to be ready again',
      async () => {
        const all = await Promise.all(live.map((r) => getJson<unknown>(r.debug, '/readyz')));
        reports = all.map((x) => x.body);
        return all.every((x) => x.status === 200);
      },
      90_000,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; /readyz: ${JSON.stringify(reports)}`);
    });
    const readyMs = Date.now() - upAt;
    await writer();
    t.diagnostic(`brokers down ${upAt - downAt} ms (${madeDuring} changes made meanwhile); every replica ready ${readyMs} ms after the brokers were up`);
    await checkConverged(t, 'after the outage');
  });
});
