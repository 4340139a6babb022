import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

/** The repository root, from test/dist/cli. */
export const REPO = path.resolve(__dirname, '..', '..', '..');
export const WEFT_BIN = path.join(REPO, 'core', 'bin', 'weft.js');
export const EXAMPLE = path.join(REPO, 'deploy', 'examples', 'bookstore');
export const FIXTURE_PLUGINS = path.join(REPO, 'test', 'fixtures', 'plugins');

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `weft <args>` to completion. */
export function runWeft(args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WEFT_BIN, ...args], {
      cwd: options.cwd ?? REPO,
      env: { ...process.env, WEFT_CONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`weft ${args.join(' ')} did not finish in ${options.timeoutMs ?? 20_000} ms\n${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Starts `weft <args>` and keeps it running; stdout accumulates in `out()`. */
export function spawnWeft(args: readonly string[]): { out: () => string; stop: (sig: NodeJS.Signals) => Promise<number | null> } {
  const child = spawn(process.execPath, [WEFT_BIN, ...args], { cwd: REPO, env: { ...process.env, WEFT_CONFIG: '' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    out: () => stdout,
    stop: (sig) => {
      if (child.exitCode === null) child.kill(sig);
      return exited;
    },
  };
}

export interface LogLine extends Record<string, unknown> {
  readonly level: string;
  readonly msg: string;
}

/** A `weft start` child whose JSON log lines are parsed as they come. */
export class WeftProcess {
  readonly lines: LogLine[] = [];
  stderrText = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private readonly waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  /**
   * `fileSizeLimitKiB`: runs the process under that soft RLIMIT_FSIZE (`ulimit -S -f`; Node ignores SIGXFSZ, so
   * a write past it fails with EFBIG). The hard limit stays, so `prlimit --pid` can raise it again.
   */
  constructor(args: readonly string[], cwd: string = REPO, options: { fileSizeLimitKiB?: number } = {}) {
    const command = [process.execPath, WEFT_BIN, 'start', ...args];
    const limit = options.fileSizeLimitKiB;
    // bash's ulimit -f counts 1024-byte blocks; exec keeps the pid the child's.
    const [file, argv] = limit === undefined ? [command[0]!, command.slice(1)] : ['bash', ['-c', `ulimit -S -f ${limit} && exec "$@"`, 'bash', ...command]];
    this.child = spawn(file, argv, {
      cwd,
      env: { ...process.env, WEFT_CONFIG: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let partial = '';
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderrText += d.toString();
      partial += d.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const text of parts) {
        if (!text.startsWith('{')) continue;
        const line = JSON.parse(text) as LogLine;
        this.lines.push(line);
        for (const w of [...this.waiters]) {
          if (w.match(line)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The first log line (past or future) matching; fails if the process exits first or time runs out. */
  async waitFor(match: (l: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return seen;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms:\n${this.stderrText}`)), timeoutMs);
      void this.exited.then((e) =>
        reject(new Error(`weft exited (code ${e.code}, signal ${e.signal}) before the line appeared:\n${this.stderrText}`)),
      );
      this.waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** Makes sure the child is gone (after a failed assertion). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

export function getJson(address: string, urlPath: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://${address}${urlPath}`, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
      })
      .on('error', reject);
  });
}

/** A scratch directory with a copy of the example mesh under manifests/. */
export function scratchWithExample(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cli-'));
  fs.cpSync(EXAMPLE, path.join(dir, 'manifests'), { recursive: true });
  return dir;
}

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
