import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { captureLogger } from '../../observe/logger.js';
import { RunnerGroup, Teardown, type Runner } from './runner.js';

/** A runner that records its start and stop in `events`; `fail` makes that step throw. */
function recording(name: string, events: string[], fail: { start?: boolean; stop?: boolean } = {}): Runner<string> {
  return {
    name,
    start: async () => {
      events.push(`start ${name}`);
      if (fail.start === true) throw new Error(`${name} would not start`);
      return name;
    },
    stop: async () => {
      events.push(`stop ${name}`);
      if (fail.stop === true) throw new Error(`${name} would not stop`);
    },
  };
}

describe('RunnerGroup', () => {
  it('starts in order, hands back what each start returns, and stops in the reverse order once', async () => {
    const events: string[] = [];
    const group = new RunnerGroup(captureLogger());
    assert.equal(await group.start(recording('log', events)), 'log');
    await group.start(recording('catalog', events));
    await group.start(recording('xds', events));
    await group.stop();
    await group.stop();
    assert.deepEqual(events, ['start log', 'start catalog', 'start xds', 'stop xds', 'stop catalog', 'stop log']);
  });

  it('stops a runner whose start failed half-way, and the ones before it', async () => {
    const events: string[] = [];
    const group = new RunnerGroup(captureLogger());
    await group.start(recording('log', events));
    await assert.rejects(group.start(recording('sources', events, { start: true })), /sources would not start/);
    await group.stop();
    assert.deepEqual(events, ['start log', 'start sources', 'stop sources', 'stop log']);
  });

  it('logs a failed stop with the runner name and still stops the others', async () => {
    const events: string[] = [];
    const logger = captureLogger();
    const group = new RunnerGroup(logger);
    await group.start(recording('log', events));
    await group.start(recording('debug server', events, { stop: true }));
    await group.stop();
    assert.deepEqual(events, ['start log', 'start debug server', 'stop debug server', 'stop log']);
    const failed = logger.records.filter((r) => r.msg === 'stopping a component failed');
    assert.deepEqual(
      failed.map((r) => [r.component, r.error]),
      [['debug server', 'debug server would not stop']],
    );
  });

  it('aborts its signal before the first runner stops', async () => {
    const group = new RunnerGroup(captureLogger());
    const seen: boolean[] = [];
    await group.start({ name: 'sources', start: async () => undefined, stop: async () => void seen.push(group.signal.aborted) });
    assert.equal(group.signal.aborted, false);
    await group.stop();
    assert.deepEqual(seen, [true]);
  });
});

describe('Teardown', () => {
  it('runs its steps newest first, once, each failure logged without stopping the rest', async () => {
    const logger = captureLogger();
    const teardown = new Teardown(logger);
    const ran: string[] = [];
    teardown.add('certificates', () => ran.push('certificates'));
    teardown.add('certificate metrics', () => {
      throw new Error('already gone');
    });
    teardown.add('trust bundle watch', async () => void ran.push('trust bundle watch'));
    await teardown.run();
    await teardown.run();
    assert.deepEqual(ran, ['trust bundle watch', 'certificates']);
    assert.deepEqual(
      logger.records.filter((r) => r.msg === 'stopping a component failed').map((r) => r.component),
      ['certificate metrics'],
    );
  });
});
