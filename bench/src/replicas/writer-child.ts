/**
 * One candidate writer of a Kafka log in a process of its own, so the benchmark can kill it (-9): it joins
 * the writer election and tries one append every `everyMs` while it runs, reporting each success (epoch ms
 * of the call and of the answer) and each role change over IPC. A follower's tries fail with NOT_WRITER
 * until it is elected, so its first success after the writer died is when appends resumed.
 *
 *   node writer-child.js <brokers> <topic> <replicaId> <sessionTimeoutMs> <everyMs>
 */
import { DEFAULT_KAFKA_CONFIG, KafkaEventLog } from '@weft/plugin-kafka';
import { createLogger } from '@weft/core';
import { toEvents } from '../mesh.js';

/** The logs' own lines stay out of the figures' output (createLogger is in @weft/core's public API). */
const quiet = createLogger({ level: 'error', write: () => undefined });

export type WriterReport =
  | { readonly type: 'role'; readonly role: string; readonly writerId: string | null; readonly at: number }
  | { readonly type: 'appended'; readonly calledAt: number; readonly at: number; readonly offset: number }
  | { readonly type: 'error'; readonly message: string };

async function main(): Promise<void> {
  const [brokers, topic, replicaId, session, every] = process.argv.slice(2);
  const send = (m: WriterReport): void => void process.send?.(m);
  const log = await KafkaEventLog.open({
    brokers: brokers!.split(','),
    topic: topic!,
    config: { ...DEFAULT_KAFKA_CONFIG, clientId: 'weft-bench', replicationFactor: 3, requestTimeoutMs: 5000, connectionTimeoutMs: 1000, writerSessionTimeoutMs: Number(session) },
    election: true,
    replicaId: replicaId!,
    logger: quiet,
  });
  const role = (): void => {
    const s = log.leadership!.state();
    send({ type: 'role', role: s.role, writerId: s.writerId, at: Date.now() });
  };
  role();
  log.leadership!.onChange(role);
  for (let n = 0; ; n++) {
    const calledAt = Date.now();
    try {
      const offsets = await log.append(toEvents([{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: `${replicaId!}-${n}`, namespace: 'ns-0' } }]));
      send({ type: 'appended', calledAt, at: Date.now(), offset: offsets.at(-1)! });
    } catch {
      // Not the writer (yet), or the append failed while the role moves: try again in a moment.
    }
    await new Promise((r) => setTimeout(r, Number(every)));
  }
}

main().catch((err: unknown) => {
  // Exit once the report is out: the parent fails the run with this message instead of waiting.
  const report: WriterReport = { type: 'error', message: (err as Error).message };
  if (process.send === undefined) process.exit(1);
  else process.send(report, () => process.exit(1));
});
