import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { summarizeSkips } from './run-tests.js';

/**
 * `npm test` ends with one line saying what was skipped and what makes it run: checked with a peer
 * deliberately missing (the Kubernetes tests with an empty binaries folder) and on small fixtures, keeping
 * node's own summary lines and exit code.
 */

const REPO = path.resolve(__dirname, '..', '..', '..');
const RUN_TESTS = path.join(__dirname, 'run-tests.js');

function runTests(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // NODE_TEST_CONTEXT would make the inner node --test talk to this test runner instead of printing.
  const { NODE_TEST_CONTEXT: _ctx, ...outer } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN_TESTS, ...args], { cwd: REPO, env: { ...outer, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const lastLine = (text: string): string => text.trimEnd().split('\n').at(-1) ?? '';

describe('npm test (test/dist/support/run-tests.js)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-run-tests-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('says in its last line that the Kubernetes tests were skipped and how to make them run', async () => {
    const bin = path.join(tmp, 'no-kube-bin');
    fs.mkdirSync(bin);
    const result = await runTests([path.join(REPO, 'plugins', 'kubernetes', 'dist', 'source.test.js')], {
      CI: 'false',
      WEFT_KUBECONFIG: '',
      WEFT_KUBE_BIN_DIR: bin,
      WEFT_KUBE_RUN_DIR: path.join(tmp, 'kube-run'),
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^# fail 0$/m, "node's own summary is still printed");
    const skipped = Number(/^# skipped (\d+)$/m.exec(result.stdout)?.[1]);
    assert.ok(skipped >= 1, `node counted the skips (${skipped})`);
    assert.equal(
      lastLine(result.stdout),
      `skipped: ${skipped} test${skipped === 1 ? '' : 's'}: ${skipped} need a kube-apiserver (run deploy/kubernetes/build.sh once, ~14 min on a cold Go cache, and npm test starts it)`,
    );
  });

  it("keeps node's exit code and summary, and names other skip reasons", async () => {
    const dir = path.join(tmp, 'fixtures');
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, 'a.test.js'),
      `const { test } = require('node:test');
test('passes', () => {});
test('skipped with a reason', (t) => t.skip('needs a printer on lp0'));
test('skipped too', { skip: 'needs a printer on lp0' }, () => {});
`,
    );
    fs.writeFileSync(path.join(dir, 'b.test.js'), `require('node:test').test('fails', () => { throw new Error('boom'); });\n`);
    const failing = await runTests([dir]);
    assert.equal(failing.code, 1, 'a failing test still fails the run');
    assert.match(failing.stdout, /^# pass 1$/m);
    assert.match(failing.stdout, /^# fail 1$/m);
    assert.equal(lastLine(failing.stdout), 'skipped: 2 tests: 2 other (needs a printer on lp0)');

    const passing = await runTests([path.join(dir, 'a.test.js')]);
    assert.equal(passing.code, 0);
    fs.writeFileSync(path.join(dir, 'c.test.js'), `require('node:test').test('passes', () => {});\n`);
    const clean = await runTests([path.join(dir, 'c.test.js')]);
    assert.equal(clean.code, 0);
    assert.equal(lastLine(clean.stdout), 'nothing skipped');
  });

  it('names a failing todo test (a known failure node counts as a pass) in a line of its own', async () => {
    const dir = path.join(tmp, 'todo');
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, 'd.test.js'),
      `const { test } = require('node:test');
test('known to fail', { todo: 'the writer appends nothing after a full outage' }, () => { throw new Error('boom'); });
test('todo that passes', { todo: 'nothing to see' }, () => {});
`,
    );
    const result = await runTests([dir]);
    assert.equal(result.code, 0, 'a todo failure does not fail the run');
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.at(-2), 'nothing skipped');
    assert.equal(lines.at(-1), 'known failures (todo, not counted as failed): 1 test: "known to fail" (the writer appends nothing after a full outage)');
  });

  it('counts a test that needs two missing peers under both, and shortens long reasons', () => {
    const kube =
      'no kube-apiserver: WEFT_KUBECONFIG is unset and deploy/kubernetes/start.sh failed: start.sh: bin/etcd is missing; run build.sh first';
    const kafka = 'no Kafka broker: WEFT_KAFKA_BROKERS is unset and deploy/kafka/start.sh failed: start.sh: java (17 or later) is not on PATH';
    const line = summarizeSkips([
      { name: 'a', reason: kube, file: null },
      { name: 'b', reason: `${kafka}; ${kube}`, file: null },
      { name: 'c', reason: `${'x'.repeat(300)}\nsecond line`, file: null },
    ]);
    assert.match(line, /^skipped: 3 tests: 2 need a kube-apiserver \(run deploy\/kubernetes\/build\.sh once, .*\); 1 need a Kafka broker \(.*Java 17 and Maven.*\); 1 other \(x{157}\.\.\.\)$/);
    assert.ok(!line.includes('\n'));
  });
});
