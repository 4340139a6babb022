/** `weft replay --explain` on a load assignment whose Endpoints the catalog derived from Pods. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventFactory, namespaceBody, serviceBody, workloadBody } from '../catalog/fixtures.js';
import type { DerivationSpec } from '../derive/types.js';
import type { Endpoints } from '../model/types.js';
import { TypeUrl, type EncodedResource, type ProxyAdapter, type ProxyIdentity, type ResourceSet } from '../xds/adapter.js';
import { encodeResource } from '../xds/encode.js';
import { Replay } from './replay.js';
import { Timeline } from './timeline.js';

/** One ClusterLoadAssignment per service of the proxy's namespace, its addresses from the Endpoints read. */
const edsAdapter: ProxyAdapter = {
  kind: 'test',
  typeUrls: [TypeUrl.ClusterLoadAssignment],
  resources(proxy: ProxyIdentity): DerivationSpec<ResourceSet> {
    return {
      id: `t/eds/${proxy.namespace}`,
      compute(r) {
        const out = new Map<string, EncodedResource>();
        for (const s of r.list('Service')) {
          if (s.meta.namespace !== proxy.namespace) continue;
          const key = `${s.meta.namespace}/${s.meta.name}`;
          const eps: Endpoints | undefined = r.get('Endpoints', key);
          const ips = (eps?.subsets ?? []).flatMap((sub) => sub.addresses.map((a) => a.ip));
          const lbEndpoints = ips.map((ip) => ({ endpoint: { address: { socketAddress: { address: ip, portValue: 80 } } } }));
          out.set(key, encodeResource(TypeUrl.ClusterLoadAssignment, key, { clusterName: key, endpoints: [{ lbEndpoints }] }));
        }
        return out;
      },
    };
  },
};

test('a load assignment built on derived Endpoints is explained by the Pods and Service they come from', () => {
  const f = new EventFactory('files');
  const batches = [
    f.batch(
      f.upsert('Namespace', namespaceBody('shop')),
      f.upsert('Service', serviceBody('shop', 'web', { app: 'web' })),
      f.upsert('Workload', workloadBody('shop', 'client', { app: 'client' }, 'client', { proxyUuid: 'uuid-1' })),
    ),
    f.batch(f.upsert('Workload', workloadBody('shop', 'web-1', { app: 'web' }, 'web', { ip: '10.0.0.1' }))),
    f.batch(f.upsert('Workload', workloadBody('shop', 'web-2', { app: 'web' }, 'web', { ip: '10.0.0.2', ready: false }))),
  ];
  const replay = new Replay(Timeline.fromBatches(batches, 'test-log'), { adapters: [edsAdapter] });
  const why = replay.explain('uuid-1', { type: 'head' }, 'EDS/shop/web');
  const derived = why.reads.find((r) => r.key === 'r:Endpoints/shop/web');
  assert.ok(derived !== undefined, 'the Endpoints read is listed');
  assert.equal(derived.event?.offset, 3, 'the event that last changed them: web-1 became an endpoint');
  assert.equal(
    derived.note,
    'derived from Pod shop/web-1, Service shop/web: no Endpoints for the service on the log, so they are the endpoint ' +
      "controller's, from the ready Pods it selects (not endpoints: Pod shop/web-2: not ready, no pod IP or no port of the service)",
  );
  // What they were derived from is listed as read, each with its event.
  assert.deepEqual(
    why.events.map((e) => [e.offset, e.kind, e.key]),
    [
      [1, 'Service', 'shop/web'],
      [3, 'Workload', 'shop/web-1'],
      [4, 'Workload', 'shop/web-2'],
    ],
  );
});
