/**
 * For the tests: finds the Kafka broker deploy/kafka/start.sh started (WEFT_KAFKA_BROKERS, or the address
 * file the script writes), starting one when none runs. With CI=true a broker that cannot be found or
 * started is a test failure, never a skip.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';

const run = promisify(execFile);

export const repoRoot = path.resolve(__dirname, '../../..');
export const deployDir = path.join(repoRoot, 'deploy/kafka');

export interface BrokerLookup {
  /** "host:port,..." or null with the reason. */
  readonly brokers: string | null;
  readonly reason: string;
  /** Stop it when done: this lookup started it. */
  readonly stop: (() => Promise<void>) | null;
}

function runningPid(runDir: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(runDir, 'pid'), 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    // No pid file, or no such process: no broker of ours runs there.
    return null;
  }
}

/** Starts a broker with start.sh in `runDir` (or finds the one running there); resolves with its address. */
export async function startBroker(runDir: string): Promise<string> {
  const { stdout } = await run(path.join(deployDir, 'start.sh'), [], {
    env: { ...process.env, WEFT_KAFKA_RUN_DIR: runDir },
    timeout: 300_000,
  });
  const address = stdout.trim().split('\n').at(-1) ?? '';
  if (!/^[\w.-]+:\d+$/.test(address)) throw new Error(`start.sh printed no broker address (got ${JSON.stringify(stdout)})`);
  return address;
}

export async function stopBroker(runDir: string): Promise<void> {
  await run(path.join(deployDir, 'stop.sh'), [], { env: { ...process.env, WEFT_KAFKA_RUN_DIR: runDir }, timeout: 60_000 });
}

/** The shared test broker: WEFT_KAFKA_BROKERS, else the one start.sh runs (started now when none runs). */
export async function findBroker(): Promise<BrokerLookup> {
  const env = process.env['WEFT_KAFKA_BROKERS'];
  if (env !== undefined && env.trim() !== '') return { brokers: env.trim(), reason: 'WEFT_KAFKA_BROKERS', stop: null };
  const runDir = process.env['WEFT_KAFKA_RUN_DIR'] ?? path.join(deployDir, 'target/run');
  const wasRunning = runningPid(runDir) !== null;
  try {
    const brokers = await startBroker(runDir);
    return { brokers, reason: wasRunning ? 'deploy/kafka/start.sh (running)' : 'deploy/kafka/start.sh (started)', stop: wasRunning ? null : () => stopBroker(runDir) };
  } catch (err) {
    return {
      brokers: null,
      reason: `no Kafka broker: WEFT_KAFKA_BROKERS is unset and deploy/kafka/start.sh failed: ${(err as Error).message}`,
      stop: null,
    };
  }
}

/** The shared test broker as a test file sees it, filled in by the hooks `useTestBroker` registers. */
export interface TestBroker {
  /** The lookup itself, for a test that registers tests by what it found. */
  readonly lookup: Promise<BrokerLookup>;
  /** Its bootstrap list; empty when there is none. */
  brokers: string[];
  /** Why the tests skip: no broker (never under CI=true, where that fails the hook instead). */
  skip: string | false;
}

/**
 * Registers the calling file's before and after hooks for the shared test broker: the lookup starts now
 * (findBroker, so the broker starts while the file loads), `before` fills in what it found and then runs
 * `setUp` with it when there is a broker, and `after` stops the broker when this lookup started it. Call it
 * at the top level of a test file. A file's own set-up goes in `setUp`, not in a `before` of its own:
 * top-level before hooks do not wait for one another, so that one could run before the broker is known.
 */
export function useTestBroker(setUp?: (brokers: string[]) => Promise<void>): TestBroker {
  const lookup = findBroker();
  const broker: TestBroker = { lookup, brokers: [], skip: false };
  before(async () => {
    const found = await lookup;
    if (found.brokers === null) {
      if (process.env['CI'] === 'true') throw new Error(`CI=true and ${found.reason}`);
      broker.skip = found.reason;
      return;
    }
    broker.brokers = found.brokers.split(',');
    await setUp?.(broker.brokers);
  });
  after(async () => {
    await (await lookup).stop?.();
  });
  return broker;
}

/** One node of the 3-node test cluster (deploy/kafka/start-cluster.sh), as its `nodes` file lists it. */
export interface ClusterNode {
  /** Kafka node.id (1, 2 or 3): broker and controller at once. */
  readonly id: number;
  readonly pid: number;
  /** The broker listener, "127.0.0.1:<port>". */
  readonly broker: string;
}

export interface ClusterLookup {
  /** "host:port,host:port,host:port" or null with the reason. */
  readonly brokers: string | null;
  readonly reason: string;
  readonly nodes: readonly ClusterNode[];
  /** Stop it when done: this lookup started it. */
  readonly stop: (() => Promise<void>) | null;
}

/** Where start-cluster.sh keeps the cluster: WEFT_KAFKA_CLUSTER_RUN_DIR or deploy/kafka/target/cluster. */
export function clusterRunDir(): string {
  return process.env['WEFT_KAFKA_CLUSTER_RUN_DIR'] ?? path.join(deployDir, 'target/cluster');
}

/** The nodes start-cluster.sh recorded in `runDir` (empty when it recorded none). */
export function clusterNodes(runDir: string = clusterRunDir()): ClusterNode[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(runDir, 'nodes'), 'utf8');
  } catch {
    // No nodes file: no cluster was started there.
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id, pid, port] = l.trim().split(/\s+/).map(Number);
      return { id: id!, pid: pid!, broker: `127.0.0.1:${port!}` };
    });
}

function clusterRunning(runDir: string): boolean {
  const nodes = clusterNodes(runDir);
  if (nodes.length !== 3) return false;
  try {
    for (const n of nodes) process.kill(n.pid, 0);
    return true;
  } catch {
    // A node is gone: start-cluster.sh starts the cluster afresh.
    return false;
  }
}

/** Starts the 3-node cluster with start-cluster.sh in `runDir` (or finds it running); resolves with its bootstrap list. */
export async function startCluster(runDir: string = clusterRunDir()): Promise<string> {
  const { stdout } = await run(path.join(deployDir, 'start-cluster.sh'), [], {
    env: { ...process.env, WEFT_KAFKA_CLUSTER_RUN_DIR: runDir },
    timeout: 300_000,
  });
  const list = stdout.trim().split('\n').at(-1) ?? '';
  if (!/^[\w.-]+:\d+(,[\w.-]+:\d+){2}$/.test(list)) throw new Error(`start-cluster.sh printed no list of three brokers (got ${JSON.stringify(stdout)})`);
  return list;
}

export async function stopCluster(runDir: string = clusterRunDir()): Promise<void> {
  await run(path.join(deployDir, 'stop-cluster.sh'), [], { env: { ...process.env, WEFT_KAFKA_CLUSTER_RUN_DIR: runDir }, timeout: 60_000 });
}

/**
 * The 3-node test cluster: WEFT_KAFKA_CLUSTER_BROKERS (nodes then unknown, so nothing can be killed), else
 * the one start-cluster.sh runs in `runDir`, started now when none runs there (and then `stop` stops it).
 * A test that kills nodes without starting them again gives its own `runDir`, so that it never leaves a
 * node of a shared cluster dead.
 */
export async function findCluster(runDir: string = clusterRunDir()): Promise<ClusterLookup> {
  const env = process.env['WEFT_KAFKA_CLUSTER_BROKERS'];
  if (env !== undefined && env.trim() !== '') return { brokers: env.trim(), reason: 'WEFT_KAFKA_CLUSTER_BROKERS', nodes: [], stop: null };
  const wasRunning = clusterRunning(runDir);
  try {
    const brokers = await startCluster(runDir);
    return {
      brokers,
      reason: wasRunning ? 'deploy/kafka/start-cluster.sh (running)' : 'deploy/kafka/start-cluster.sh (started)',
      nodes: clusterNodes(runDir),
      stop: wasRunning ? null : () => stopCluster(runDir),
    };
  } catch (err) {
    return {
      brokers: null,
      reason: `no 3-node Kafka cluster: WEFT_KAFKA_CLUSTER_BROKERS is unset and deploy/kafka/start-cluster.sh failed: ${(err as Error).message}`,
      nodes: [],
      stop: null,
    };
  }
}

/** Partition 0 of a topic as the cluster's metadata has it now, with the topic's min.insync.replicas. */
export interface PartitionState {
  readonly leader: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly minInsyncReplicas: string | undefined;
}

/** Asks the brokers about partition 0 of `topic` (one admin connection, closed again). */
export async function partitionState(brokers: readonly string[], topic: string): Promise<PartitionState> {
  const admin = new Kafka({ clientId: 'weft-test-admin', brokers: [...brokers], logLevel: logLevel.NOTHING, retry: { retries: 2 } }).admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const p = meta.topics[0]?.partitions.find((x) => x.partitionId === 0);
    if (p === undefined) throw new Error(`topic ${topic} has no partition 0`);
    const described = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['min.insync.replicas'] }],
      includeSynonyms: false,
    });
    const minInsyncReplicas = described.resources[0]?.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue;
    return { leader: p.leader, replicas: p.replicas, isr: p.isr, minInsyncReplicas };
  } finally {
    await admin.disconnect();
  }
}
