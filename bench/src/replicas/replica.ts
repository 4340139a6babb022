/**
 * A `weft start` replica in a process of its own, following a Kafka topic without sources: it replays the
 * topic, follows it, serves proxies. Its JSON log lines are read as they come; the `change applied` line of
 * each batch (written right after the catalog applied it, with the logger's epoch-ms time) is how the
 * benchmark learns when a batch became visible on this replica.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseWeftLine } from './stats.js';

const REPO = path.resolve(__dirname, '../../..');
const WEFT_BIN = path.join(REPO, 'core', 'bin', 'weft.js');

export interface ReplicaOptions {
  readonly name: string;
  /** Its own folder (config, data). */
  readonly home: string;
  readonly brokers: string;
  readonly topic: string;
  readonly sessionTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

export class Replica {
  xds = '';
  debug = '';
  /** Epoch ms at which each offset (a batch's last) was applied, from the process's own log line. */
  readonly applied = new Map<number, number>();
  /** The last 200 lines of stderr, for an error report. */
  readonly tail: string[] = [];
  private child: ChildProcess | null = null;
  private exit: Promise<void> = Promise.resolve();
  private appliedWaiters: { offset: number; resolve: () => void }[] = [];
  private lastApplied = -1;

  constructor(readonly o: ReplicaOptions) {
    fs.mkdirSync(o.home, { recursive: true });
    fs.writeFileSync(
      path.join(o.home, 'weft.yaml'),
      `dataDir: data
trustDomain: cluster.local
log: kafka://${o.brokers}/${o.topic}
xds: { host: 127.0.0.1, port: 0, insecure: true }
debug: { host: 127.0.0.1, port: 0 }
metrics: { enabled: false }
plugins:
  - name: '@weft/plugin-kafka'
    config: { replicationFactor: 3, requestTimeoutMs: ${o.requestTimeoutMs}, connectionTimeoutMs: 1000, writerSessionTimeoutMs: ${o.sessionTimeoutMs}, replicaId: ${o.name} }
  - name: '@weft/plugin-envoy'
`,
    );
  }

  get running(): boolean {
    return this.child !== null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the process; resolves once it logged `ready` (its listeners' addresses). */
  start(timeoutMs = 120_000): Promise<void> {
    const child = spawn(process.execPath, [WEFT_BIN, 'start', '--config', path.join(this.o.home, 'weft.yaml')], {
      cwd: this.o.home,
      env: { ...process.env, WEFT_CONFIG: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    this.exit = new Promise((resolve) => child.on('exit', () => resolve()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.o.name} did not log ready within ${timeoutMs} ms:\n${this.tail.join('\n')}`)), timeoutMs);
      child.on('exit', (code, signal) => {
        this.child = null;
        clearTimeout(timer);
        reject(new Error(`${this.o.name} exited (${code ?? signal}) before it was ready:\n${this.tail.join('\n')}`));
      });
      readline.createInterface({ input: child.stderr! }).on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > 200) this.tail.shift();
        const l = parseWeftLine(line);
        if (l === null) return;
        if (l.kind === 'ready') {
          this.xds = l.xds;
          this.debug = l.debug;
          clearTimeout(timer);
          resolve();
        } else if (l.kind === 'applied') {
          this.applied.set(l.offset, l.at);
          this.lastApplied = Math.max(this.lastApplied, l.offset);
          this.appliedWaiters = this.appliedWaiters.filter((w) => {
            if (this.lastApplied < w.offset) return true;
            w.resolve();
            return false;
          });
        }
      });
    });
  }

  /** Resolves once a batch ending at or after `offset` was applied (as logged). */
  waitApplied(offset: number, timeoutMs: number): Promise<void> {
    if (this.lastApplied >= offset) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.o.name} did not apply offset ${offset} within ${timeoutMs} ms (last ${this.lastApplied})`)), timeoutMs);
      this.appliedWaiters.push({
        offset,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Sends `signal` and waits for the process to be gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child === null) return;
    child.kill(signal);
    const hard = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await this.exit;
    clearTimeout(hard);
    this.child = null;
    this.xds = '';
    this.debug = '';
  }

  async getJson<T>(urlPath: string): Promise<{ status: number; body: T }> {
    const res = await fetch(`http://${this.debug}${urlPath}`, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, body: (await res.json()) as T };
  }
}
