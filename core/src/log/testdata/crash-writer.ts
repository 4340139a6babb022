/**
 * Child process of the crash test: appends batches to a file log as fast as it can from several concurrent
 * appenders, printing each acknowledged batch ("<offset> <key>" per event, one line per batch) only after
 * append() resolved, i.e. after the data was synced. The parent kills it with SIGKILL at a random moment.
 * Imports only the file log (not the core barrel), so it starts quickly.
 *
 * argv: <dir> <segmentBytes> <tag>
 */
import { FileEventLog } from '../file-log.js';
import { createLogger } from '../../observe/logger.js';
import { inputFor } from './events.js';

async function main(): Promise<void> {
  const [dir, segmentBytes, tag] = process.argv.slice(2);
  if (dir === undefined || segmentBytes === undefined || tag === undefined) {
    throw new Error('usage: crash-writer <dir> <segmentBytes> <tag>');
  }
  const log = await FileEventLog.open(dir, { segmentBytes: Number(segmentBytes), logger: createLogger({ level: 'error' }) });
  process.stdout.write('ready\n');
  const appender = async (id: number): Promise<void> => {
    for (let seq = 0; seq < 5000; seq++) {
      const n = 1 + ((seq * 7 + id) % 4);
      const batch = Array.from({ length: n }, (_, j) => inputFor(`${tag}/a${id}-${seq}-${j}`, 'crash'));
      const offsets = await log.append(batch);
      process.stdout.write(`${offsets.map((o, j) => `${o} ${batch[j]!.key}`).join(' ')}\n`);
    }
  };
  await Promise.all([0, 1, 2, 3].map(appender));
  await log.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
