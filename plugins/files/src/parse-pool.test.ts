import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManifestFileError } from '@weft/core';
import { ParseWorker } from './parse-pool.js';

const account = (name: string): string => `apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: ${name}, namespace: shop }\n`;
/** The YAML parser compares each key of a mapping with every key before it: this takes many seconds. */
const slow = `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: slow, namespace: shop }\ndata:\n${Array.from({ length: 30_000 }, (_, i) => `  k${i}: v`).join('\n')}\n`;

describe('ParseWorker', () => {
  it('rejects a parse past its time, and the next parse runs on a fresh thread untouched by the old one ending', async () => {
    const parser = new ParseWorker({ maxHeapMb: 256, timeoutMs: 500 });
    try {
      await assert.rejects(parser.parse(slow, 'slow.yaml', 10), (err: Error) => {
        assert.ok(err instanceof ManifestFileError);
        assert.equal(err.message, 'slow.yaml: parsing it took longer than 0.5 s (parseTimeoutMs); split it into smaller files');
        return true;
      });
      // Sent at once: the timed-out thread exits while this one is still starting.
      const outcome = await parser.parse(account('a'), 'a.yaml', 10);
      assert.deepEqual(outcome.resources.map((r) => r.key), ['shop/a']);
    } finally {
      await parser.close();
    }
  });

  it('rejects a file over the room it is given, and one whose parse outgrows the heap, without dying', async () => {
    const parser = new ParseWorker({ maxHeapMb: 32, timeoutMs: 60_000 });
    try {
      await assert.rejects(parser.parse(account('a') + '---\n' + account('b'), 'two.yaml', 1), /^ManifestFileError: two\.yaml: defines 2 resources, more than the 1/);
      const big = Array.from({ length: 40_000 }, (_, i) => account(`n${i}`)).join('---\n');
      await assert.rejects(parser.parse(big, 'big.yaml', 1e9), /^ManifestFileError: big\.yaml: parsing it needs more than the parser's 32 MiB of memory/);
      assert.equal((await parser.parse(account('c'), 'c.yaml', 10)).resources.length, 1);
    } finally {
      await parser.close();
    }
  });

  it('fails a parse in flight when closed, at once', async () => {
    const parser = new ParseWorker({ maxHeapMb: 256, timeoutMs: 60_000 });
    const inFlight = parser.parse(slow, 'slow.yaml', 10).then(
      () => 'parsed',
      (err: Error) => err.message,
    );
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    await parser.close();
    assert.equal(await inFlight, 'the manifest parser was closed');
    assert.ok(Date.now() - t0 < 500);
  });
});
