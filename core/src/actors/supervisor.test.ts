import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PushCause } from '../xds/protocol.js';
import { ProxySupervisor, type SupervisedProxy } from './supervisor.js';

class FakeProxy implements SupervisedProxy {
  readonly calls: string[][] = [];
  constructor(
    readonly name: string,
    public rootIds: readonly string[],
  ) {}
  invalidate(_cause: PushCause, ids: ReadonlySet<string>): void {
    this.calls.push([...ids].filter((id) => this.rootIds.includes(id)));
  }
}

const cause: PushCause = { offsets: [1], appendedAt: undefined };
const notified = (s: ProxySupervisor<FakeProxy>, ids: string[], proxies: FakeProxy[]): string[] => {
  for (const p of proxies) p.calls.length = 0;
  s.notify(new Set(ids), cause);
  return proxies.filter((p) => p.calls.length > 0).map((p) => p.name);
};

describe('ProxySupervisor', () => {
  it('routes an invalidation to every proxy holding a root, once each, as proxies share and leave roots', () => {
    const s = new ProxySupervisor<FakeProxy>();
    const a = new FakeProxy('a', ['r1', 'r2']);
    const b = new FakeProxy('b', ['r2', 'r3']);
    const c = new FakeProxy('c', ['r2']);
    const all = [a, b, c];
    s.add(a);
    assert.deepEqual(notified(s, ['r2'], all), ['a']);
    s.add(b);
    s.add(c);
    assert.deepEqual(notified(s, ['r2'], all), ['a', 'b', 'c']);
    assert.deepEqual(notified(s, ['r1', 'r2', 'r3'], all), ['a', 'b', 'c']);
    assert.equal(a.calls.length, 1, 'a proxy holding two invalidated roots is told once');
    assert.equal(s.rootCount, 3);
    s.remove(b);
    assert.deepEqual(notified(s, ['r2', 'r3'], all), ['a', 'c']);
    assert.equal(s.rootCount, 2, 'r3 is no longer watched');
    s.remove(a);
    assert.deepEqual(notified(s, ['r1', 'r2'], all), ['c']);
    s.add(a);
    s.add(a);
    assert.deepEqual(notified(s, ['r2'], all), ['c', 'a'].sort());
    s.remove(c);
    s.remove(a);
    assert.deepEqual(notified(s, ['r1', 'r2', 'r3'], all), []);
    assert.equal(s.rootCount, 0);
    assert.equal(s.size, 0);
  });

  it('follows a proxy whose roots change (its views moved it to other shared sets)', () => {
    const s = new ProxySupervisor<FakeProxy>();
    const a = new FakeProxy('a', ['views-a']);
    const b = new FakeProxy('b', ['views-b', 'set-1']);
    const all = [a, b];
    s.add(a);
    s.add(b);
    assert.deepEqual(notified(s, ['set-1'], all), ['b']);
    const before = a.rootIds;
    a.rootIds = ['views-a', 'set-1', 'set-2'];
    s.update(a, before);
    assert.deepEqual(notified(s, ['set-1'], all), ['a', 'b']);
    assert.deepEqual(notified(s, ['set-2'], all), ['a']);
    const later = b.rootIds;
    b.rootIds = ['views-b', 'set-3'];
    s.update(b, later);
    assert.deepEqual(notified(s, ['set-1'], all), ['a'], 'b no longer listens on set-1');
    assert.deepEqual(notified(s, ['set-3'], all), ['b']);
    assert.equal(s.rootCount, 5);
    s.remove(a);
    s.remove(b);
    assert.equal(s.rootCount, 0, 'removal unwatches the roots the proxy has now');
    s.update(a, ['views-a']);
    assert.equal(s.rootCount, 0, 'a proxy no longer supervised is not watched again');
  });
});
