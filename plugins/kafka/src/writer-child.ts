/**
 * For writer.test.ts: one replica of a Kafka log with the writer election in a process of its own, so the
 * test can freeze it (SIGSTOP). argv: brokers topic replicaId sessionTimeoutMs. Prints one JSON line per
 * role change and per append; reads "append <id>" lines on stdin.
 */
import * as readline from 'node:readline';
import { captureLogger } from '@weft/core';
import { DEFAULT_KAFKA_CONFIG } from './config.js';
import { KafkaEventLog } from './kafka-log.js';

async function main(): Promise<void> {
  const [brokers, topic, replicaId, session] = process.argv.slice(2);
  const log = await KafkaEventLog.open({
    brokers: brokers!.split(','),
    topic: topic!,
    config: { ...DEFAULT_KAFKA_CONFIG, clientId: 'weft-test', requestTimeoutMs: 10_000, writerSessionTimeoutMs: Number(session) },
    election: true,
    replicaId: replicaId!,
    logger: captureLogger(),
  });
  const say = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  say({ event: 'role', ...log.leadership!.state() });
  log.leadership!.onChange((s) => say({ event: 'role', ...s }));
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const [cmd, id] = line.split(' ');
    if (cmd !== 'append') continue;
    try {
      const offsets = await log.append([{ source: 'child', op: 'upsert', kind: 'Workload', key: `ns/${id!}`, body: { meta: { namespace: 'ns', name: id!, labels: {}, annotations: {} } } }], { id: id! });
      say({ event: 'appended', id, offsets });
    } catch (err) {
      say({ event: 'failed', id, code: (err as { code?: string }).code, message: (err as Error).message });
    }
  }
  await log.close();
}

void main();
