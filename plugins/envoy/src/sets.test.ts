/**
 * A resource set's version is sent to proxies: it must depend on the set's members only, never on the order
 * a builder added them in, and stay the digest proxies already hold for an unchanged set.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { EncodedResource } from '@weft/core';
import { hashSet, toSet } from './proto.js';

const resource = (name: string, version: string): EncodedResource => ({ name, typeUrl: 'type.googleapis.com/x', version, any: new Uint8Array(), dump: null });

/** The version as defined: sha256 over "name NUL version LF" per member, in name order, first 16 hex digits. */
function expected(members: readonly EncodedResource[]): string {
  const h = createHash('sha256');
  for (const r of [...members].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) h.update(`${r.name}\u0000${r.version}\n`);
  return h.digest('hex').slice(0, 16);
}

describe('resource set versions', () => {
  const members = [resource('b|80', '2'), resource('a|80', '1'), resource('a|8080', '3'), resource('Z', '4')];

  it('the same members in any order have the same version, the defined digest', () => {
    const want = expected(members);
    for (const order of [members, [...members].reverse(), [...members].sort((x, y) => (x.name < y.name ? -1 : 1))]) {
      assert.equal(hashSet(toSet(order)), want, order.map((r) => r.name).join(','));
    }
  });

  it("a member's new version, an added or a removed member changes it", () => {
    const base = hashSet(toSet(members));
    assert.notEqual(hashSet(toSet(members.map((r) => (r.name === 'a|80' ? resource(r.name, '9') : r)))), base);
    assert.notEqual(hashSet(toSet([...members, resource('c', '1')])), base);
    assert.notEqual(hashSet(toSet(members.slice(1))), base);
    assert.equal(hashSet(toSet([])), expected([]));
  });
});
