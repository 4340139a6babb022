/**
 * The adapter's views (what the ADS server holds per proxy) must name, for every type, a derivation whose
 * set is the one `resources` returns (what golden files, replay and config dumps read): the same resources
 * at the same versions under the same set hash, in every golden case and after a change that moves a proxy
 * to other shared sets. (After a move the per-type root may keep its previous, equal, value object.)
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Workload } from '@weft/core';
import { ENVOY_TYPE_URLS } from './adapter.js';
import { apply, caseDirs, loadCase, type Mesh } from './harness.js';

/** Per proxy and type: the views' set is the resources' set; returns the views' ids by proxy. */
function assertAgree(mesh: Mesh, where: string): Map<string, string[]> {
  const ids = new Map<string, string[]>();
  for (const proxy of mesh.proxies) {
    const views = mesh.engine.get(mesh.adapter.views(proxy)).value;
    assert.deepEqual([...views.keys()].sort(), [...ENVOY_TYPE_URLS].sort(), `${where}: views of ${proxy.uuid} name every served type`);
    for (const typeUrl of ENVOY_TYPE_URLS) {
      const shared = mesh.engine.get(views.get(typeUrl)!);
      const own = mesh.engine.get(mesh.adapter.resources(proxy, typeUrl));
      const members = (set: ReadonlyMap<string, { readonly version: string }>): string[] => [...set].map(([name, r]) => `${name}@${r.version}`).sort();
      assert.deepEqual(members(shared.value), members(own.value), `${where}: ${proxy.uuid} ${typeUrl}: the views' set is the resources' set`);
      assert.equal(shared.hash, own.hash);
    }
    ids.set(proxy.uuid, [...views.values()].map((s) => s.id));
  }
  return ids;
}

describe('envoy adapter views', () => {
  it('name the set `resources` returns, for every proxy and type of every golden case', () => {
    const cases = caseDirs();
    assert.ok(cases.length > 5);
    for (const name of cases) assertAgree(loadCase(name), name);
  });

  it('move a proxy to other shared sets when its workload leaves its service, and agree again', () => {
    const mesh = loadCase('basic-http');
    const before = assertAgree(mesh, 'before');
    const store = mesh.proxies.find((p) => p.serviceAccount === 'bookstore');
    assert.ok(store !== undefined);
    const pod = mesh.catalog.get('Workload', 'bookstore/bookstore-0') as Workload;
    const invalidated = apply(mesh, [
      { op: 'upsert', kind: 'Workload', key: 'bookstore/bookstore-0', body: { ...pod, meta: { ...pod.meta, labels: { ...pod.meta.labels, app: 'elsewhere' } } } },
    ]);
    assert.ok(invalidated.has(mesh.adapter.views(store).id), "the change reaches the proxy's views");
    const after = assertAgree(mesh, 'after');
    assert.notDeepEqual(after.get(store.uuid), before.get(store.uuid), 'the proxy now has other shared sets');
    const buyer = mesh.proxies.find((p) => p.serviceAccount === 'bookbuyer')!;
    assert.deepEqual(after.get(buyer.uuid), before.get(buyer.uuid), "the caller's shape did not change");
  });
});
