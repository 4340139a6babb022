import assert from 'node:assert/strict';
import { test } from 'node:test';
import { T } from '../sim/xds.js';
import { planPush } from './floor.js';

test('floor, SotW: a change of a named type (EDS, RDS, SDS) sends only the changed resources, as Weft does', () => {
  for (const t of [T.EDS, T.RDS, T.SDS]) assert.deepEqual(planPush(t, [1, 2, 3], [1, 4, 3], false), { send: [4], removed: [] });
  // Full-state types (LDS, CDS) carry the whole set every time.
  for (const t of [T.LDS, T.CDS]) assert.deepEqual(planPush(t, [1, 2, 3], [1, 4, 3], false), { send: [1, 4, 3], removed: [] });
  // The first response of a subscription is the whole set.
  assert.deepEqual(planPush(T.EDS, undefined, [1, 2], false), { send: [1, 2], removed: [] });
});

test('floor, delta: changed and new resources, and the removed ones', () => {
  assert.deepEqual(planPush(T.CDS, [1, 2, 3], [1, 4], true), { send: [4], removed: [2, 3] });
  assert.deepEqual(planPush(T.EDS, [1], [1], true), { send: [], removed: [] });
});
