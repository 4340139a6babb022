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

/** A runner over `sources`, a log holding offsets below `head`, and a catalog caught up as `caughtUp` says. */
function runnerOf(sources: ResourceSource[], role: Role, head: number, caughtUp: (offset: number) => Promise<void>): SourcesRunner {
  const metrics = new WeftMetrics({ defaultMetrics: false });
  const logger = captureLogger();
  return new SourcesRunner({
    sources,
    log: { leadership: role, head: () => head },
    caughtUp,
    appends: new AppendHealth({ append: async () => [] }, metrics, logger),
    catalog: new Catalog(),
    readiness: { phase: 'done' },
    metrics,
    logger,
    stopping: new AbortController().signal,
  });
}

describe('SourcesRunner', () => {
  it('runs the appending sources only while the writer, and a source that appends nothing (a webhook) on every replica', async () => {
    const events: string[] = [];
    const role = new Role();
    const runner = runnerOf([recording('files', events), recording('injector', events, true)], role, 0, async () => undefined);
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

  it('on becoming the writer, starts the appending sources only once the catalog applied the whole log', async () => {
    const events: string[] = [];
    const role = new Role();
    // The log holds offsets 0..41 (the last writer's final appends among them); the catalog applied 0..39.
    let applied = 39;
    const waiting: { offset: number; resolve: () => void }[] = [];
    const runner = runnerOf([recording('files', events)], role, 42, (offset) =>
      applied >= offset ? Promise.resolve() : new Promise((resolve) => waiting.push({ offset, resolve })),
    );
    await runner.start();
    role.set('writer');
    await settle();
    assert.deepEqual(events, [], 'no source starts (and reconciles) before the catalog holds the whole log');
    assert.deepEqual(waiting.map((w) => w.offset), [41], 'it waits for the last event on the log');
    applied = 41;
    for (const w of waiting.splice(0)) w.resolve();
    await settle();
    assert.deepEqual(events.splice(0), ['start files']);
    await runner.stop();
  });

  it('does not start the sources when the role is lost or the instance stops while it waits for the catalog', async () => {
    const events: string[] = [];
    const role = new Role();
    const waiting: (() => void)[] = [];
    const runner = runnerOf([recording('files', events)], role, 10, () => new Promise((resolve) => waiting.push(resolve)));
    await runner.start();
    role.set('writer');
    await settle();
    role.set('follower');
    for (const w of waiting.splice(0)) w();
    await settle();
    assert.deepEqual(events, [], 'a replica that lost the role while waiting starts nothing');
    await runner.stop();
  });
});
