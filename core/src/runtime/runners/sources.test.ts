import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Catalog } from '../../catalog/catalog.js';
import type { LogLeadership, LogLeadershipState } from '../../log/types.js';
import { captureLogger } from '../../observe/logger.js';
import { WeftMetrics } from '../../observe/metrics.js';
import type { ResourceSource } from '../../plugin/api.js';
import { AppendHealth } from '../readiness.js';
import { SourcesRunner } from './sources.js';

/** A shared log's leadership whose role the test sets. */
class Role implements LogLeadership {
  private current: LogLeadershipState = { role: 'follower', replicaId: 'r1', writerId: 'r2' };
  private readonly listeners: ((s: LogLeadershipState) => void)[] = [];
  state(): LogLeadershipState {
    return this.current;
  }
  onChange(listener: (s: LogLeadershipState) => void): () => void {
    this.listeners.push(listener);
    return () => this.listeners.splice(this.listeners.indexOf(listener), 1);
  }
  set(role: 'writer' | 'follower'): void {
    this.current = { role, replicaId: 'r1', writerId: role === 'writer' ? 'r1' : 'r2' };
    for (const l of this.listeners) l(this.current);
  }
}

function recording(name: string, events: string[], everyReplica?: true): ResourceSource {
  return {
    name,
    ...(everyReplica === undefined ? {} : { everyReplica }),
    start: async () => void events.push(`start ${name}`),
    stop: async () => void events.push(`stop ${name}`),
  };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 10));

describe('SourcesRunner', () => {
  it('runs the appending sources only while the writer, and a source that appends nothing (a webhook) on every replica', async () => {
    const events: string[] = [];
    const role = new Role();
    const metrics = new WeftMetrics({ defaultMetrics: false });
    const logger = captureLogger();
    const runner = new SourcesRunner({
      sources: [recording('files', events), recording('injector', events, true)],
      log: { leadership: role },
      appends: new AppendHealth({ append: async () => [] }, metrics, logger),
      catalog: new Catalog(),
      readiness: { phase: 'done' },
      metrics,
      logger,
      stopping: new AbortController().signal,
    });
    await runner.start();
    assert.deepEqual(events.splice(0), ['start injector'], 'a follower runs only the source that appends nothing');
    role.set('writer');
    await settle();
    assert.deepEqual(events.splice(0), ['start files']);
    role.set('follower');
    await settle();
    assert.deepEqual(events.splice(0), ['stop files'], 'losing the role stops only the appending source');
    role.set('writer');
    await settle();
    assert.deepEqual(events.splice(0), ['start files'], 'the same instance starts again');
    await runner.stop();
    assert.deepEqual(events.splice(0).sort(), ['stop files', 'stop injector']);
  });
});
