import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WeftError } from './errors.js';
import { retry, retryDelay, type RetryInfo } from './retry.js';

const transient = (): WeftError => new WeftError('LOG_WRITE_FAILED', 'disk full', { retriable: true });

describe('retry', () => {
  it('tries a retriable failure again after growing, capped waits', async () => {
    const waits: number[] = [];
    const seen: RetryInfo[] = [];
    let calls = 0;
    const value = await retry(
      async (attempt) => {
        calls++;
        if (attempt < 6) throw transient();
        return 'done';
      },
      {
        retries: Infinity,
        initialRetryTime: 100,
        maxRetryTime: 1000,
        random: () => 0.5,
        sleep: async (ms) => void waits.push(ms),
        onRetry: (info) => seen.push(info),
      },
    );
    assert.equal(value, 'done');
    assert.equal(calls, 6);
    assert.deepEqual(waits, [100, 200, 400, 800, 1000]);
    assert.deepEqual(seen.map((s) => [s.attempt, s.delayMs]), [[1, 100], [2, 200], [3, 400], [4, 800], [5, 1000]]);
  });

  it('spreads each wait by the jitter factor', () => {
    assert.equal(retryDelay(3, { initialRetryTime: 100, factor: 0.2 }, () => 0), 320);
    assert.equal(retryDelay(3, { initialRetryTime: 100, factor: 0.2 }, () => 0.999999), 480);
    assert.equal(retryDelay(30, { maxRetryTime: 5000 }, () => 0.999999), 5000, 'never past the cap');
  });

  it('gives up with the error itself: at once when not retriable, after `retries` otherwise', async () => {
    const fatal = new WeftError('EVENT_INVALID', 'bad event');
    let calls = 0;
    await assert.rejects(
      retry(async () => {
        calls++;
        throw fatal;
      }, { sleep: async () => undefined }),
      (err) => err === fatal,
    );
    assert.equal(calls, 1);

    calls = 0;
    await assert.rejects(
      retry(async () => {
        calls++;
        throw transient();
      }, { retries: 2, sleep: async () => undefined }),
      /disk full/,
    );
    assert.equal(calls, 3);
  });

  it('stops waiting when its signal aborts, rejecting with the last failure', async () => {
    const abort = new AbortController();
    let calls = 0;
    const running = retry(
      async () => {
        calls++;
        throw transient();
      },
      { retries: Infinity, initialRetryTime: 60_000, signal: abort.signal },
    );
    await new Promise((r) => setImmediate(r));
    abort.abort();
    await assert.rejects(running, /disk full/);
    assert.equal(calls, 1, 'no attempt after the abort');
  });
});
