/**
 * The start-up replay on Kafka: appends N events (default 100k, the log bench's churning mesh history) to a
 * fresh topic in 100-event batches, then opens the log as `weft start` does (keepRecords) and folds it into
 * the catalog (CompactingFold), a few times.
 *
 *   deploy/kafka/start.sh && npm run bench:kafka -w bench [-- --events 100000 --runs 3 --brokers host:port]
 *
 * The broker: --brokers, else WEFT_KAFKA_BROKERS, else the one deploy/kafka/start.sh started.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { silentLogger } from '@weft/core';
import { CompactingFold } from '@weft/core/testing';
import { KafkaEventLog } from '@weft/plugin-kafka';
import { meshEvents } from './log-bench.js';
import { arg, cpuMs, stringArg } from './util.js';

function brokers(): string[] {
  const given = stringArg('brokers') ?? process.env['WEFT_KAFKA_BROKERS'];
  if (given !== undefined && given.trim() !== '') return given.split(',');
  const file = path.resolve(__dirname, '../../deploy/kafka/target/run/brokers');
  if (!fs.existsSync(file)) throw new Error(`no broker: pass --brokers host:port, set WEFT_KAFKA_BROKERS, or run deploy/kafka/start.sh (${file} is missing)`);
  return fs.readFileSync(file, 'utf8').trim().split(',');
}

async function main(): Promise<void> {
  const total = arg('events', 100_000);
  const runs = arg('runs', 3);
  const at = brokers();
  const topic = `weft-bench-${Date.now().toString(36)}`;
  const events = meshEvents(total);

  const writer = await KafkaEventLog.open({ brokers: at, topic, logger: silentLogger });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  // Appends in flight together, as sources under load would: the producer sends what queued as one request.
  const pending: Promise<number[]>[] = [];
  for (let i = 0; i < total; i += 100) pending.push(writer.append(events.slice(i, i + 100)));
  await Promise.all(pending);
  const appendMs = performance.now() - t0;
  console.log(`kafka bench: ${total} events in ${Math.ceil(total / 100)} batches to topic ${topic} on ${at.join(',')}, node ${process.version}`);
  console.log(`append: ${Math.round(total / (appendMs / 1000)).toLocaleString('en-US')} events/s (${appendMs.toFixed(0)} ms, cpu ${cpuMs(c0).toFixed(0)} ms)`);
  await writer.close();

  for (let r = 0; r < runs; r++) {
    const c1 = process.cpuUsage();
    const t1 = performance.now();
    const log = await KafkaEventLog.open({ brokers: at, topic, logger: silentLogger, keepRecords: true });
    const opened = performance.now() - t1;
    const fold = new CompactingFold();
    for await (const batch of log.readEncoded(0)) fold.add(batch);
    const catalog = fold.finish();
    const ms = performance.now() - t1;
    const cpu = cpuMs(c1);
    await log.close();
    if (fold.events !== total) throw new Error(`folded ${fold.events} events, appended ${total}`);
    console.log(
      `start-up replay from Kafka, run ${r + 1}: ${Math.round(total / (ms / 1000)).toLocaleString('en-US')} events/s ` +
        `(${ms.toFixed(0)} ms: open + scan ${opened.toFixed(0)}, fold ${(ms - opened).toFixed(0)}; cpu ${cpu.toFixed(0)} ms); ` +
        `${fold.resources} resources, ${catalog.size('Workload')} workloads`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
