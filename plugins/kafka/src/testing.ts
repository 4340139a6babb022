/**
 * For the tests: finds the Kafka broker deploy/kafka/start.sh started (WEFT_KAFKA_BROKERS, or the address
 * file the script writes), starting one when none runs. With CI=true a broker that cannot be found or
 * started is a test failure, never a skip.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

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
