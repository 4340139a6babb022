import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TypeUrl, type DerivationSpec, type EncodedResource, type ProxyAdapter, type ProxyViews, type ResourceSet } from '@weft/core';
import { DeltaClient } from '../support/delta-client.js';
import { endpointsEvent, grpcTestAdapter, perService, serviceEvent, setHash } from '../support/grpc-test-adapter.js';
import { startMesh, waitFor, type TestMesh } from '../support/mesh.js';

/**
 * An adapter whose proxies share their sets (`views`): a proxy of service account <sa> gets the load
 * assignment of the one service its own Service `demo/<sa>` names in an annotation, from a set shared by
 * every proxy naming the same upstream; its other types come from the grpc test adapter.
 */
const UPSTREAM = 'test.weft.dev/upstream';
const EDS = TypeUrl.ClusterLoadAssignment;
const base = grpcTestAdapter('grpc');
/** Runs of each per-proxy derivation (views, or a root per type), by id: a change to a shared set must run none. */
const proxyRuns = new Map<string, number>();
const ran = (id: string): void => void proxyRuns.set(id, (proxyRuns.get(id) ?? 0) + 1);

const edsOf = (upstream: string): DerivationSpec<ResourceSet> => ({
  id: `views-test/eds/${upstream}`,
  compute: (r): ResourceSet => {
    const mine = r.derive(perService(EDS, `demo/${upstream}`));
    return new Map<string, EncodedResource>(mine === null ? [] : [[mine.name, mine]]);
  },
  hash: setHash,
});

const viewsAdapter: ProxyAdapter = {
  kind: 'grpc',
  typeUrls: base.typeUrls,
  resources: (proxy, typeUrl) => {
    const views = viewsAdapter.views!(proxy);
    const id = `views-test/own/${typeUrl}/${proxy.uuid}`;
    return { id, compute: (r) => (ran(id), r.derive(r.derive(views).get(typeUrl)!)), hash: setHash };
  },
  views: (proxy): DerivationSpec<ProxyViews> => ({
    id: `views-test/views/${proxy.uuid}`,
    compute: (r) => {
      ran(`views-test/views/${proxy.uuid}`);
      const upstream = r.get('Service', `demo/${proxy.serviceAccount}`)?.meta.annotations[UPSTREAM] ?? 'none';
      return new Map(base.typeUrls.map((t) => [t, t === EDS ? edsOf(upstream) : base.resources(proxy, t)] as const));
    },
    hash: (views) => [...views.values()].map((s) => s.id).join('\n'),
  }),
};

const node = (id: string) => ({ id, metadata: { kind: 'grpc', serviceAccount: `sa-${id}`, namespace: 'demo' } });
const svc = serviceEvent;
const calling = (id: string, upstream: string) => svc(`sa-${id}`, { [UPSTREAM]: upstream });

describe('proxies served from shared sets (adapter views)', () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await startMesh({ adapters: new Map([['grpc', viewsAdapter]]) });
    await mesh.append([svc('a'), svc('b'), endpointsEvent('a', 1001), endpointsEvent('b', 2001), calling('x', 'a'), calling('y', 'a')]);
  });
  after(async () => {
    await mesh.close();
  });

  it('a change to a shared set reaches its proxies with no per-proxy run; a moved proxy follows its new set and the old one is freed', async () => {
    const clients = ['x', 'y'].map((id) => new DeltaClient(mesh.address, node(id)).ackEach());
    const [x, y] = clients as [DeltaClient, DeltaClient];
    const eds = (c: DeltaClient): string[] => [...c.held(EDS).keys()].sort();
    try {
      for (const c of clients) c.request({ typeUrl: EDS, subscribe: ['demo/a', 'demo/b'] });
      await waitFor('both proxies hold the load assignment of a', () => eds(x).join() === 'demo/a' && eds(y).join() === 'demo/a');
      assert.ok(mesh.engine.has('views-test/eds/a'));
      const runs = new Map(proxyRuns);

      // An endpoint change of a: both proxies get it; no proxy's views ran again.
      await mesh.append([endpointsEvent('a', 1002)]);
      assert.equal(mesh.lastTouched(), 2);
      await waitFor('both proxies got the new version', () => x.held(EDS).get('demo/a') === y.held(EDS).get('demo/a') && x.held(EDS).get('demo/a') !== undefined);
      const version = x.held(EDS).get('demo/a');
      await waitFor('the change reached both', () => [x, y].every((c) => c.held(EDS).get('demo/a') === version));
      assert.deepEqual(proxyRuns, runs, 'a change to a shared set runs no per-proxy derivation');

      // y now calls b: it moves to the shared set of b; a is still held by x.
      await mesh.append([calling('y', 'b')]);
      await waitFor('y holds b only', () => eds(y).join() === 'demo/b');
      assert.deepEqual(eds(x), ['demo/a']);
      assert.ok(mesh.engine.has('views-test/eds/a'), 'x still holds the set of a');

      // A change to b reaches y alone; a change to a, x alone.
      await mesh.append([endpointsEvent('b', 2002)]);
      assert.equal(mesh.lastTouched(), 1, 'the change to b is routed to y, which now listens on it');
      await mesh.append([endpointsEvent('a', 1003)]);
      assert.equal(mesh.lastTouched(), 1, 'the change to a is routed to x only');

      // x moves too: nobody holds the set of a any more, and the engine lets it go.
      await mesh.append([calling('x', 'b')]);
      await waitFor('x holds b only', () => eds(x).join() === 'demo/b');
      assert.equal(mesh.engine.has('views-test/eds/a'), false, 'the set nobody names is freed');
      await mesh.append([endpointsEvent('a', 1004)]);
      assert.equal(mesh.lastTouched(), 0, 'a change to a reaches nobody');
    } finally {
      for (const c of clients) c.close();
    }
    await waitFor('the proxies left', () => mesh.server.stats().proxies === 0);
    assert.equal(mesh.engine.stats().roots, 0, 'every view and shared set was released');
    assert.equal(mesh.engine.has('views-test/eds/b'), false);
  });
});
