import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';

/**
 * deploy/kubernetes/build.sh says what it builds and, while go build runs (minutes on a cold cache, silent),
 * how long it has been running. Checked with a stand-in `go` on PATH that only sleeps, building into a
 * scratch folder (WEFT_KUBE_BIN_DIR), so the real binaries are never touched.
 */

const REPO = path.resolve(__dirname, '..', '..', '..');
const BUILD = path.join(REPO, 'deploy', 'kubernetes', 'build.sh');

function run(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(BUILD, ['--force'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    // 'close' waits for every holder of the stderr pipe: a progress ticker left running would hang here.
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('deploy/kubernetes/build.sh progress', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-kube-build-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const fakeBin = path.join(tmp, 'path');
  fs.mkdirSync(fakeBin);
  // A stand-in for go: `go list` answers a version, `go build` takes a while and fails for $FAKE_GO_FAIL.
  fs.writeFileSync(
    path.join(fakeBin, 'go'),
    `#!/bin/sh
case "$1" in
  list) echo v1.37.2 ;;
  build) sleep 1; for a in "$@"; do case "$a" in *"/$FAKE_GO_FAIL") echo "fake go: cannot build $a" >&2; exit 3 ;; esac; done ;;
esac
`,
    { mode: 0o755 },
  );
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PATH: `${fakeBin}:${process.env['PATH'] ?? ''}`,
    WEFT_KUBE_BIN_DIR: path.join(tmp, 'bin'),
    WEFT_KUBE_BUILD_PROGRESS_SECONDS: '0.25',
    FAKE_GO_FAIL: 'none',
    ...extra,
  });

  it('names what it builds and prints the time so far while go build runs', async () => {
    const { code, stderr } = await run(env());
    assert.equal(code, 0, stderr);
    const lines = stderr.trim().split('\n');
    const expected = [
      /^build\.sh: building etcd and kube-apiserver v1\.37\.2 into .*\/bin /,
      /^build\.sh: go build etcd /,
      /^build\.sh: still building etcd, \d+s so far$/,
      /^build\.sh: built etcd in \d+s$/,
      /^build\.sh: go build kube-apiserver /,
      /^build\.sh: still building kube-apiserver, \d+s so far$/,
      /^build\.sh: built kube-apiserver in \d+s$/,
      /^build\.sh: built etcd and kube-apiserver in \d+s$/,
    ];
    let at = 0;
    for (const pattern of expected) {
      const i = lines.findIndex((l, n) => n >= at && pattern.test(l));
      assert.ok(i >= 0, `expected a line matching ${pattern} after line ${at} in:\n${stderr}`);
      at = i + 1;
    }
  });

  it('stops its progress lines and exits with go build’s code when a build fails', async () => {
    const { code, stderr } = await run(env({ FAKE_GO_FAIL: 'kube-apiserver' }));
    assert.equal(code, 3, stderr);
    assert.match(stderr, /fake go: cannot build .*kube-apiserver/);
    assert.match(stderr.trim().split('\n').at(-1)!, /^build\.sh: go build kube-apiserver failed \(exit 3, output above\)$/);
    assert.ok(!/built kube-apiserver/.test(stderr));
  });
});
