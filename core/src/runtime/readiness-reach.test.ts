import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LogReachability } from '../log/types.js';
import { Readiness } from './readiness.js';

describe('readiness and a log kept elsewhere', () => {
  it('is not ready while the log reports no contact with its storage, although its lag reads 0, and ready again once it answers', () => {
    const t = Date.parse('2026-12-07T00:00:00Z');
    let reach: LogReachability = { reachable: true, lastContact: t };
    const readiness = new Readiness({ appends: { failing: () => null }, lag: () => 0, maxLagEvents: 10, reach: () => reach });
    readiness.setPhase('done');
    assert.deepEqual(readiness.report(), {
      ready: true,
      checks: {
        start: { ok: true, phase: 'done' },
        log: { ok: true },
        lag: { ok: true, lag: 0, maxLagEvents: 10 },
        reach: { ok: true, lastContact: '2026-12-07T00:00:00.000Z' },
      },
    });
    // Cut off: no event comes in, so the lag stays 0; only the contact check tells.
    reach = { reachable: false, lastContact: t, reason: 'KAFKA_NO_ANSWER' };
    const report = readiness.report();
    assert.equal(report.ready, false);
    assert.deepEqual(report.checks.lag, { ok: true, lag: 0, maxLagEvents: 10 });
    assert.deepEqual(report.checks.reach, { ok: false, reason: 'KAFKA_NO_ANSWER', lastContact: '2026-12-07T00:00:00.000Z' });
    reach = { reachable: true, lastContact: t + 5000 };
    assert.equal(readiness.report().ready, true);
  });

  it('has no contact check for a log that reports none (file, memory)', () => {
    const readiness = new Readiness({ appends: { failing: () => null }, lag: () => 0, maxLagEvents: 10 });
    readiness.setPhase('done');
    assert.equal(readiness.report().checks.reach, undefined);
    assert.equal(readiness.report().ready, true);
  });
});
