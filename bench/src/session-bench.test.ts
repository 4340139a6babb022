import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sessionBench } from './session-bench.js';

test('the session benchmark pushes exactly the changed resource to every session in both modes, and times the encoder', async () => {
  const lines: string[] = [];
  const { sessions, encode } = await sessionBench({ sessions: 20, rounds: 8, names: 5, encodeCalls: 200 }, (l) => lines.push(l));
  assert.deepEqual(
    sessions.map((r) => r.mode),
    ['delta', 'sotw'],
  );
  for (const r of sessions) {
    assert.equal(r.responses, 20 * 8, `${r.mode}: one response per session and round, each ACKed`);
    assert.ok(r.pushAckMicros > 0);
  }
  assert.deepEqual(
    encode.map((e) => e.label),
    ['1 x 200 B', '10 x 300 B', '3 x 6 KiB'],
  );
  assert.ok(encode.every((e) => e.deltaNanos > 0 && e.sotwNanos > 0));
  assert.equal(lines.length, 5);
});
