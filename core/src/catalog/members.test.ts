import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as members from './members.js';

test('members: one key is a string, the second makes a Set, the last removal empties', () => {
  let m = members.add(undefined, 'a');
  assert.equal(m, 'a');
  assert.equal(members.add(m, 'a'), 'a', 'adding the same key again changes nothing');
  m = members.add(m, 'b');
  assert.ok(m instanceof Set);
  assert.deepEqual([...members.values(m)].sort(), ['a', 'b']);
  assert.equal(members.size(m), 2);
  const same = members.remove(m, 'a');
  assert.equal(same, m, 'a Set stays a Set down to one member');
  assert.equal(members.has(same, 'b'), true);
  assert.equal(members.has(same, 'a'), false);
  assert.equal(members.remove(same, 'b'), undefined);
  assert.equal(members.remove('x', 'y'), 'x');
  assert.equal(members.remove('x', 'x'), undefined);
  assert.deepEqual([...members.values(undefined)], []);
});

test('members: map helpers drop a key once its members are gone', () => {
  const map = new Map<string, members.Members>();
  members.mapAdd(map, 'k', 'a');
  members.mapAdd(map, 'k', 'b');
  members.mapRemove(map, 'k', 'a');
  assert.deepEqual([...members.values(map.get('k'))], ['b']);
  members.mapRemove(map, 'k', 'b');
  assert.equal(map.has('k'), false);
  members.mapRemove(map, 'missing', 'a');
  assert.equal(map.size, 0);
});
