import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidEventError, LogUnavailableError, LogWriteError } from '../log/errors.js';
import type { EventInput } from '../log/types.js';
import { captureLogger } from '../observe/logger.js';
import { WeftMetrics } from '../observe/metrics.js';
import { AppendHealth, appendFailureReason, Readiness } from './readiness.js';
import { APPEND_RETRY, createSourceSink } from './weft.js';

const efbig = (): LogWriteError => new LogWriteError('/data/log/00000000000000000000.seg', Object.assign(new Error('file too large'), { code: 'EFBIG' }));
const event: EventInput = { source: 'files', op: 'delete', kind: 'Service', key: 'shop/web' };
const noCatalog = { list: () => [], sourceOf: () => undefined };

/** A log whose appends fail while `failing` says so (an injected fault), offsets counted otherwise. */
function faultyLog(failing: () => unknown) {
  let next = 0;
  return {
    attempts: 0,
    append(batch: readonly EventInput[]): Promise<number[]> {
      this.attempts++;
      const err = failing();
      if (err !== undefined) return Promise.reject(err);
      return Promise.resolve(batch.map(() => next++));
    },
  };
}

describe('appends and readiness', () => {
  it('a replica that stops being the writer forgets the append failure it recorded (no append of its own would clear it)', async () => {
    const metrics = new WeftMetrics({ defaultMetrics: false });
    const logger = captureLogger();
    const appends = new AppendHealth(faultyLog(() => new LogUnavailableError('brokers 127.0.0.1:9: no answer', { retriable: true })), metrics, logger);
    const readiness = new Readiness({ appends, lag: () => 0, maxLagEvents: 1000 });
    readiness.setPhase('done');
    await assert.rejects(appends.append([event]));
    assert.equal(readiness.report().ready, false, 'the writer cannot write: not ready');
    appends.forget('this replica is no longer the writer');
    assert.equal(readiness.report().ready, true, 'a follower appends nothing: its old failure no longer counts');
    assert.equal(logger.records.filter((r) => r.msg === 'append failure forgotten').length, 1);
  });

  it('a failed append is counted by cause, retried with growing waits, fails readiness, and recovers by itself', async () => {
    const metrics = new WeftMetrics({ defaultMetrics: false });
    const logger = captureLogger();
    let broken = 3;
    const log = faultyLog(() => (broken-- > 0 ? efbig() : undefined));
    const appends = new AppendHealth(log, metrics, logger, () => Date.parse('2026-12-07T00:00:00Z'));
    const readiness = new Readiness({ appends, lag: () => 0, maxLagEvents: 1000 });
    readiness.setPhase('done');
    metrics.measureReadiness(() => readiness.report().ready);

    const waits: number[] = [];
    let seen: ReturnType<Readiness['report']> | undefined;
    const sink = createSourceSink({ name: 'files' }, appends, noCatalog, logger, () => ({
      ...APPEND_RETRY,
      retries: Infinity,
      random: () => 0.5,
      sleep: async (ms) => {
        waits.push(ms);
        seen ??= readiness.report();
      },
    }));
    assert.deepEqual(await sink.append([event]), [0]);

    assert.equal(log.attempts, 4);
    assert.deepEqual(waits, [250, 500, 1000], 'backoff, not a loop');
    assert.equal(seen?.ready, false, 'not ready while the log cannot be written');
    assert.deepEqual(seen?.checks.log, { ok: false, reason: 'EFBIG', since: '2026-12-07T00:00:00.000Z', failures: 1 });
    assert.equal(await metrics.value('weft_log_append_failures_total', { reason: 'EFBIG' }), 3);
    assert.equal(readiness.report().ready, true, 'ready again once an append went through');
    assert.match(await metrics.registry.metrics(), /^weft_ready 1$/m);
    const retried = logger.records.filter((r) => r.msg === 'appending to the event log failed; retrying');
    assert.deepEqual(retried.map((r) => [r.attempt, r.retryInMs, r.reason, r.source]), [[1, 250, 'EFBIG', 'files'], [2, 500, 'EFBIG', 'files'], [3, 1000, 'EFBIG', 'files']]);
    assert.equal(logger.records.filter((r) => r.msg === 'appending to the event log recovered').length, 1);
  });

  it('an append refused for its content is counted but neither retried nor taken for an unwritable log', async () => {
    const metrics = new WeftMetrics({ defaultMetrics: false });
    const log = faultyLog(() => new InvalidEventError(0, 'shop/web', 'a delete carries no body'));
    const appends = new AppendHealth(log, metrics, captureLogger());
    const sink = createSourceSink({ name: 'files' }, appends, noCatalog, captureLogger(), () => ({ ...APPEND_RETRY, retries: Infinity }));
    await assert.rejects(sink.append([event]), /a delete carries no body/);
    assert.equal(log.attempts, 1);
    assert.equal(appends.failing(), null);
    assert.equal(await metrics.value('weft_log_append_failures_total', { reason: 'EVENT_INVALID' }), 1);
  });

  it('gives up at the configured number of retries, and at once when stopping', async () => {
    const appends = new AppendHealth(faultyLog(() => new LogUnavailableError('broker away', { retriable: true })), new WeftMetrics({ defaultMetrics: false }), captureLogger());
    const bounded = createSourceSink({ name: 'k' }, appends, noCatalog, captureLogger(), () => ({ retries: 2, sleep: async () => undefined }));
    await assert.rejects(bounded.append([event]), /broker away/);
    assert.equal(appends.failing()?.failures, 3);
    assert.equal(appends.failing()?.reason, 'LOG_UNAVAILABLE');

    const stopping = new AbortController();
    stopping.abort();
    const stopped = createSourceSink({ name: 'k' }, appends, noCatalog, captureLogger(), () => ({ retries: Infinity, signal: stopping.signal }));
    await assert.rejects(stopped.append([event]), /broker away/);
  });

  it('is not ready before the start is done, while stopping, or beyond the lag bound (0 turns that off)', () => {
    let lag = 0;
    const appends = { failing: () => null };
    const readiness = new Readiness({ appends, lag: () => lag, maxLagEvents: 10 });
    assert.deepEqual(readiness.report().checks.start, { ok: false, phase: 'sources' });
    readiness.setPhase('catch-up');
    assert.equal(readiness.report().ready, false);
    readiness.setPhase('done');
    assert.equal(readiness.report().ready, true);
    lag = 11;
    assert.deepEqual(readiness.report(), {
      ready: false,
      checks: { start: { ok: true, phase: 'done' }, log: { ok: true }, lag: { ok: false, lag: 11, maxLagEvents: 10 } },
    });
    assert.equal(new Readiness({ appends, lag: () => 1e9, maxLagEvents: 0 }).report().checks.lag.ok, true);
    lag = 10;
    assert.equal(readiness.report().ready, true, 'the bound itself is still ready');
    readiness.setPhase('stopping');
    assert.equal(readiness.report().ready, false);
  });

  it('names a failure by the errno code of its cause, else by its own code', () => {
    assert.equal(appendFailureReason(efbig()), 'EFBIG');
    assert.equal(appendFailureReason(new LogUnavailableError('closed')), 'LOG_UNAVAILABLE');
    assert.equal(appendFailureReason(new Error('plain')), 'unknown');
  });
});
