/**
 * What `npm test` runs: `node --test <args>` exactly as given (the same reporter on stdout as node picks by
 * default, so node's own summary lines "# pass N", "# fail N" stay; the same exit code), plus a second
 * reporter that records every skipped test. When node is done, one more line says what was skipped and the
 * command that makes it run, or "nothing skipped": a missing Kafka broker or kube-apiserver skips tests
 * (outside CI) with the reason, and that reason must not stay buried in thousands of lines of output.
 *
 *   node test/dist/support/run-tests.js [node --test options and paths...]
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface SkippedTest {
  readonly name: string;
  readonly reason: string;
  readonly file: string | null;
  /** A `todo` test that failed: a known failure, which node does not count as one. */
  readonly todo?: true;
}

/** Peers whose absence skips tests, recognised by their skip reasons, with what makes those tests run. */
const PEERS: readonly { readonly match: RegExp; readonly what: string; readonly fix: string }[] = [
  {
    match: /no kube-apiserver/i,
    what: 'need a kube-apiserver',
    fix: 'run deploy/kubernetes/build.sh once, ~14 min on a cold Go cache, and npm test starts it',
  },
  {
    match: /no helm at/i,
    what: 'need Helm 4',
    fix: 'run deploy/helm/build.sh once, ~3 min of CPU on a cold Go cache',
  },
  {
    match: /no Kafka broker/i,
    what: 'need a Kafka broker',
    fix: 'deploy/kafka/start.sh starts one with Java 17 and Maven on PATH: run it to see what fails',
  },
];

/** The reason as one short line (a skip reason may carry a script's whole stderr). */
function shortReason(reason: string): string {
  const first = reason.split('\n', 1)[0]!.trim();
  return first.length > 160 ? `${first.slice(0, 157)}...` : first;
}

const tests = (n: number): string => `${n} test${n === 1 ? '' : 's'}`;

/**
 * One line: "nothing skipped", or "skipped: N tests: 12 need a kube-apiserver (run ...), ...". A test
 * skipped for two missing peers counts under both.
 */
export function summarizeSkips(skips: readonly SkippedTest[]): string {
  if (skips.length === 0) return 'nothing skipped';
  const groups: string[] = [];
  for (const peer of PEERS) {
    const n = skips.filter((s) => peer.match.test(s.reason)).length;
    if (n > 0) groups.push(`${n} ${peer.what} (${peer.fix})`);
  }
  const others = new Map<string, number>();
  for (const s of skips) {
    if (PEERS.some((p) => p.match.test(s.reason))) continue;
    const reason = shortReason(s.reason);
    others.set(reason, (others.get(reason) ?? 0) + 1);
  }
  for (const [reason, n] of others) groups.push(`${n} other (${reason})`);
  return `skipped: ${tests(skips.length)}: ${groups.join('; ')}`;
}

/** One line naming each known failure (a failing `todo` test) with its reason, or null when there is none. */
export function summarizeTodos(todos: readonly SkippedTest[]): string | null {
  if (todos.length === 0) return null;
  return `known failures (todo, not counted as failed): ${tests(todos.length)}: ${todos.map((t) => `"${t.name}" (${shortReason(t.reason)})`).join('; ')}`;
}

export function readSkips(file: string): SkippedTest[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as SkippedTest);
}

/** Runs node --test with `args`; resolves with its exit code once the summary line is printed. */
export async function runTests(args: readonly string[]): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-test-skips-'));
  const skipsFile = path.join(dir, 'skipped.jsonl');
  // The reporter node would pick by itself (spec on a terminal, tap otherwise); naming a second reporter
  // means naming the first one too.
  const reporter = process.stdout.isTTY ? 'spec' : 'tap';
  const child = spawn(
    process.execPath,
    [
      '--test',
      `--test-reporter=${reporter}`,
      '--test-reporter-destination=stdout',
      `--test-reporter=${path.join(__dirname, 'skip-reporter.js')}`,
      `--test-reporter-destination=${skipsFile}`,
      ...args,
    ],
    { stdio: 'inherit' },
  );
  // Ctrl-C reaches node --test too (one process group); a signal sent to this process alone is passed on.
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c, sig) => resolve(c ?? (sig === null ? 1 : 128 + (os.constants.signals[sig] ?? 0))));
  });
  process.off('SIGINT', forward);
  process.off('SIGTERM', forward);
  try {
    const recorded = readSkips(skipsFile);
    process.stdout.write(`${summarizeSkips(recorded.filter((r) => r.todo !== true))}\n`);
    const todos = summarizeTodos(recorded.filter((r) => r.todo === true));
    if (todos !== null) process.stdout.write(`${todos}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return code;
}

if (require.main === module) {
  runTests(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`run-tests: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
