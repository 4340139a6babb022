import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';

/**
 * A write the file system refuses (here a real EFBIG: the child runs under a soft RLIMIT_FSIZE, and Node
 * ignores SIGXFSZ) must leave the log as it was before the batch and must not stop the next append.
 */
const script = `
const { FileEventLog } = require(process.argv[1]);
const dir = process.argv[2];
const ns = (name, pad) => ({ source: 't', op: 'upsert', kind: 'Namespace', key: name,
  body: { meta: { namespace: '', name, labels: {}, annotations: { pad: 'x'.repeat(pad) } }, monitoredBy: null } });
(async () => {
  const out = {};
  const log = await FileEventLog.open(dir);
  out.first = await log.append([ns('a', 10)]);
  try {
    await log.append([ns('big', 20000)]);
  } catch (err) {
    out.error = { code: err.code, retriable: err.retriable, cause: err.cause && err.cause.code };
  }
  out.headAfterFailure = log.head();
  try {
    out.next = await log.append([ns('b', 10)]);
  } catch (err) {
    out.nextError = err.code;
  }
  await log.close();
  const again = await FileEventLog.open(dir);
  out.keys = [];
  for await (const batch of again.read(0)) for (const e of batch.events) out.keys.push(e.offset + ':' + e.key);
  await again.close();
  process.stdout.write(JSON.stringify(out));
})();
`;

describe('file event log: a failed write', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-write-failure-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is cut back to the last good record, and the next append goes through', () => {
    const fileLog = path.join(__dirname, 'file-log.js');
    // 8 KiB per file: the small batches fit, the 20 KB one is refused part-way with EFBIG.
    const text = execFileSync('bash', ['-c', 'ulimit -S -f 8 && exec "$@"', 'bash', process.execPath, '-e', script, fileLog, dir], {
      encoding: 'utf8',
    });
    const out = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(out.first, [0]);
    assert.deepEqual(out.error, { code: 'LOG_WRITE_FAILED', retriable: true, cause: 'EFBIG' });
    assert.equal(out.headAfterFailure, 1, 'nothing of the refused batch counts');
    assert.equal(out.nextError, undefined, 'the log does not latch a failed state');
    assert.deepEqual(out.next, [1]);
    assert.deepEqual(out.keys, ['0:a', '1:b'], 'a reopen finds the good records and no torn tail');
  });
});
