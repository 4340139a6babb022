/**
 * The event log on a real 3-node Kafka cluster (deploy/kafka/start-cluster.sh: three KRaft nodes, each broker
 * and controller): a topic the plugin creates with replicationFactor 3 (min.insync.replicas=2) keeps taking
 * acks=all appends after the partition's leader is killed with SIGKILL, and a fresh reader gets every event
 * back once, in order. The test starts a cluster of its own and stops it; with CI=true a cluster that
 * cannot be started fails it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { captureLogger, type EventInput, type LogBatch, type MeshEvent } from '@weft/core';
import { DEFAULT_KAFKA_CONFIG, KafkaEventLog, type KafkaPluginConfig } from '@weft/plugin-kafka';
import { findCluster, partitionState, type ClusterLookup } from '@weft/plugin-kafka/dist/testing.js';

const ci = process.env['CI'] === 'true';
const config: KafkaPluginConfig = { ...DEFAULT_KAFKA_CONFIG, clientId: 'weft-cluster-test', replicationFactor: 3, requestTimeoutMs: 20_000 };

const input = (key: string, n: number): EventInput => ({
  source: 'test',
  op: 'upsert',
  kind: 'Workload',
  key,
  body: { meta: { namespace: 'ns', name: key.split('/')[1], labels: { n: String(n) }, annotations: {} } },
});
const batchOf = (prefix: string, n: number): EventInput[] => Array.from({ length: n }, (_, i) => input(`ns/${prefix}-${i}`, i));

async function until<T>(probe: () => Promise<T | undefined>, what: string, ms: number): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      // Metadata requests fail while the cluster moves the leadership; the next probe asks again.
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last === undefined ? '' : ` (last error: ${String(last)})`}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('the Kafka event log on a 3-node cluster', () => {
  let cluster: ClusterLookup;
  let skip: string | false = false;
  let log: KafkaEventLog | undefined;
  let reader: KafkaEventLog | undefined;

  before(async () => {
    const t0 = Date.now();
    // A cluster of its own (started and stopped here): the node it kills stays dead, which must not happen
    // to a cluster other test files share.
    cluster = await findCluster(path.join(os.tmpdir(), `weft-kafka-cluster-${randomUUID()}`));
    if (cluster.brokers === null) {
      if (ci) throw new Error(`CI=true and ${cluster.reason}`);
      skip = cluster.reason;
    } else if (cluster.nodes.length !== 3) {
      // WEFT_KAFKA_CLUSTER_BROKERS names a cluster this test cannot kill a node of.
      if (ci) throw new Error(`CI=true and ${cluster.reason} gives no node pids to kill`);
      skip = `${cluster.reason} gives no node pids to kill; unset it to let the test start its own cluster`;
    } else {
      console.log(`# 3-node cluster ${cluster.brokers} (${cluster.reason}, ${Date.now() - t0} ms)`);
    }
  });

  after(async () => {
    await reader?.close();
    await log?.close();
    await cluster?.stop?.();
  });

  it('takes acks=all appends with the leader killed (-9) and reads every event back once', { timeout: 180_000 }, async (t) => {
    if (skip !== false) return t.skip(skip);
    const brokers = cluster.brokers!.split(',');
    const topic = `weft-cluster-${randomUUID()}`;
    const logger = captureLogger();
    log = await KafkaEventLog.open({ brokers, topic, config, logger });

    // The plugin created the topic: one partition on all three nodes, min.insync.replicas=2.
    const partition = await partitionState(brokers, topic);
    assert.deepEqual([...partition.replicas].sort(), [1, 2, 3]);
    assert.deepEqual([...partition.isr].sort(), [1, 2, 3]);
    assert.equal(partition.minInsyncReplicas, '2');

    // A follower on the writer's log sees everything, before and after the kill.
    const followed: MeshEvent[] = [];
    const sub = log.follow(0, (b: LogBatch) => void followed.push(...b.events));

    const before: number[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) before.push(...(await log.append(batchOf(`before-${i}`, 5))));
    const appendMs = (Date.now() - t0) / 20;
    assert.deepEqual(before, Array.from({ length: 100 }, (_, i) => i));

    // Kill the partition's leader: the partition must move, and the dead node leave the ISR.
    const leader = partition.leader;
    const victim = cluster.nodes.find((n) => n.id === leader);
    assert.ok(victim !== undefined, `leader ${leader} is one of the nodes ${JSON.stringify(cluster.nodes)}`);
    process.kill(victim.pid, 'SIGKILL');
    const killedAt = Date.now();
    const moved = await until(
      async () => {
        const p = await partitionState(brokers.filter((b) => b !== victim.broker), topic);
        return p.leader !== leader && p.leader >= 0 && !p.isr.includes(leader) ? p : undefined;
      },
      `partition 0 of ${topic} to get a leader other than node ${leader} and an ISR without it`,
      30_000,
    );
    const failoverMs = Date.now() - killedAt;
    assert.equal(moved.isr.length, 2, `ISR ${JSON.stringify(moved.isr)}: two in-sync replicas, min.insync.replicas=2 still met`);

    // acks=all with two in-sync replicas: the same log (its producer finds the new leader) appends on.
    const afterKill: number[] = [];
    for (let i = 0; i < 20; i++) afterKill.push(...(await log.append(batchOf(`after-${i}`, 5))));
    assert.deepEqual(afterKill, Array.from({ length: 100 }, (_, i) => 100 + i));

    // A fresh reader (bootstrapped from the two live nodes) reads all 200 events back, each once, in order.
    reader = await KafkaEventLog.open({ brokers: brokers.filter((b) => b !== victim.broker), topic, config, readOnly: true, logger });
    assert.equal(reader.head(), 200);
    const read: MeshEvent[] = [];
    for await (const b of reader.read(0)) read.push(...b.events);
    assert.deepEqual(
      read.map((e) => e.offset),
      Array.from({ length: 200 }, (_, i) => i),
    );
    const keys = read.map((e) => e.key);
    assert.equal(new Set(keys).size, 200, 'no event twice');
    assert.deepEqual(keys.slice(0, 5), ['ns/before-0-0', 'ns/before-0-1', 'ns/before-0-2', 'ns/before-0-3', 'ns/before-0-4']);
    assert.deepEqual(keys.slice(195), ['ns/after-19-0', 'ns/after-19-1', 'ns/after-19-2', 'ns/after-19-3', 'ns/after-19-4']);

    await until(async () => (followed.length >= 200 ? true : undefined), 'the follower to see all 200 events', 30_000);
    await sub.close();
    assert.deepEqual(
      followed.map((e) => e.key),
      keys,
    );
    console.log(`# acks=all append of 5 events: ${appendMs.toFixed(1)} ms each (3 in-sync replicas); leader moved ${failoverMs} ms after the kill`);
  });
});
