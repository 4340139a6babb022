import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Catalog } from './catalog.js';
import { CompactingFold } from './compact.js';
import { EventFactory, meta, serviceBody, workloadBody } from './fixtures.js';
import type { Endpoints, Service, Workload } from '../model/types.js';

function namedPortService(ns: string, name: string, selector: Record<string, string>): Service {
  return {
    meta: meta(ns, name),
    ports: [
      { name: 'http', port: 80, targetPort: 'web', protocol: 'TCP', appProtocol: 'http' },
      { name: 'admin', port: 9000, targetPort: 9901, protocol: 'TCP', appProtocol: 'http' },
    ],
    selector,
    clusterIP: null,
  };
}

function pod(name: string, ip: string, opts: { ready?: boolean; webPort?: number | null; labels?: Record<string, string> } = {}): Workload {
  const w = workloadBody('shop', name, opts.labels ?? { app: 'web' }, 'web', { ip, ready: opts.ready ?? true });
  const webPort = opts.webPort === undefined ? 8080 : opts.webPort;
  return { ...w, ports: webPort === null ? [] : [{ name: 'web', containerPort: webPort, protocol: 'TCP' }] };
}

test('a service without Endpoints gets those of its ready pods, target ports resolved by number or by name', () => {
  const f = new EventFactory();
  const c = new Catalog();
  const cs = c.apply(
    f.batch(
      f.upsert('Service', namedPortService('shop', 'web', { app: 'web' })),
      f.upsert('Workload', pod('web-2', '10.0.0.2')),
      f.upsert('Workload', pod('web-1', '10.0.0.1')),
      // Not ready: the endpoint controller lists it under notReadyAddresses, which the mesh does not route to.
      f.upsert('Workload', pod('web-3', '10.0.0.3', { ready: false })),
      // No container port named "web": an endpoint of the admin port (a number) only.
      f.upsert('Workload', pod('web-4', '10.0.0.4', { webPort: null })),
      f.upsert('Workload', pod('other', '10.0.0.9', { labels: { app: 'other' } })),
    ),
  );
  const want: Endpoints = {
    meta: meta('shop', 'web'),
    subsets: [
      {
        addresses: [{ ip: '10.0.0.4', workload: 'shop/web-4' }],
        ports: [{ name: 'admin', port: 9901, protocol: 'TCP', appProtocol: 'http' }],
      },
      {
        addresses: [
          { ip: '10.0.0.1', workload: 'shop/web-1' },
          { ip: '10.0.0.2', workload: 'shop/web-2' },
        ],
        ports: [
          { name: 'http', port: 8080, protocol: 'TCP', appProtocol: 'http' },
          { name: 'admin', port: 9901, protocol: 'TCP', appProtocol: 'http' },
        ],
      },
    ],
  };
  assert.deepEqual(c.get('Endpoints', 'shop/web'), want);
  assert.deepEqual(c.list('Endpoints'), [want]);
  assert.ok(cs.keys.has('r:Endpoints/shop/web') && cs.keys.has('k:Endpoints'));
  assert.equal(c.sourceOf('Endpoints', 'shop/web'), undefined, 'no source wrote it');
  assert.equal(c.size('Endpoints'), 0, 'size counts resources on the log');
  assert.deepEqual(c.snapshot().resources.filter((r) => r.kind === 'Endpoints'), [], 'derived, so never in a snapshot');
  assert.deepEqual(c.endpointsDerivation('shop/web'), {
    service: 'shop/web',
    workloads: ['shop/web-1', 'shop/web-2', 'shop/web-3', 'shop/web-4'],
    endpoints: ['shop/web-1', 'shop/web-2', 'shop/web-4'],
  });
  assert.equal(c.provenance('r:Endpoints/shop/web')?.offset, 4, 'the last event that changed them');
  assert.ok(c.versionOf('Endpoints', 'shop/web')?.match(/^[0-9a-f]{64}$/));
});

test('derived Endpoints follow their pods and service; an unrelated change reports nothing', () => {
  const f = new EventFactory();
  const c = new Catalog();
  c.apply(f.batch(f.upsert('Service', serviceBody('shop', 'web', { app: 'web' })), f.upsert('Workload', pod('web-1', '10.0.0.1'))));
  assert.deepEqual(c.get('Endpoints', 'shop/web')?.subsets.map((s) => s.addresses.map((a) => a.ip)), [['10.0.0.1']]);

  // The pod turns not ready: it leaves; the Endpoints stay, with no subsets.
  let cs = c.apply(f.batch(f.upsert('Workload', pod('web-1', '10.0.0.1', { ready: false }))));
  assert.ok(cs.keys.has('r:Endpoints/shop/web'));
  assert.deepEqual(c.get('Endpoints', 'shop/web')?.subsets, []);
  assert.equal(c.provenance('r:Endpoints/shop/web')?.offset, 2);

  // A label no selector reads: the pod changes, its endpoint does not.
  c.apply(f.batch(f.upsert('Workload', pod('web-1', '10.0.0.1'))));
  cs = c.apply(f.batch(f.upsert('Workload', pod('web-1', '10.0.0.1', { labels: { app: 'web', extra: 'x' } }))));
  assert.ok(!cs.keys.has('r:Endpoints/shop/web') && !cs.keys.has('k:Endpoints'));

  // The pod moves to a new IP and back inside one batch: nothing to report.
  cs = c.apply(f.batch(f.upsert('Workload', pod('web-1', '10.0.0.7')), f.upsert('Workload', pod('web-1', '10.0.0.1'))));
  assert.ok(!cs.keys.has('r:Endpoints/shop/web'));

  // The service's port changes: every endpoint's port does.
  cs = c.apply(f.batch(f.upsert('Service', serviceBody('shop', 'web', { app: 'web' }, 8080))));
  assert.ok(cs.keys.has('r:Endpoints/shop/web'));
  assert.equal(c.get('Endpoints', 'shop/web')?.subsets[0]?.ports[0]?.port, 8080);

  // No selector: endpoints managed by hand, none derived.
  cs = c.apply(f.batch(f.upsert('Service', serviceBody('shop', 'web', null))));
  assert.ok(cs.keys.has('r:Endpoints/shop/web'));
  assert.equal(c.get('Endpoints', 'shop/web'), undefined);
  assert.equal(c.provenance('r:Endpoints/shop/web'), undefined);
  assert.equal(c.endpointsDerivation('shop/web'), undefined);
});

test('Endpoints on the log win over derived ones; deleting them lets the derived ones show', () => {
  const f = new EventFactory();
  const c = new Catalog();
  c.apply(f.batch(f.upsert('Service', serviceBody('shop', 'web', { app: 'web' })), f.upsert('Workload', pod('web-1', '10.0.0.1'))));
  const explicit: Endpoints = {
    meta: meta('shop', 'web'),
    subsets: [{ addresses: [{ ip: '10.9.9.9', workload: null }], ports: [{ name: 'http', port: 80, protocol: 'TCP', appProtocol: null }] }],
  };
  let cs = c.apply(f.batch(f.upsert('Endpoints', explicit, 'k8s')));
  assert.ok(cs.keys.has('r:Endpoints/shop/web'));
  assert.deepEqual(c.get('Endpoints', 'shop/web'), explicit);
  assert.deepEqual(c.list('Endpoints'), [explicit]);
  assert.equal(c.endpointsDerivation('shop/web'), undefined);
  assert.equal(c.provenance('r:Endpoints/shop/web')?.offset, 2);

  // Pods change under explicit Endpoints: what readers see does not.
  cs = c.apply(f.batch(f.upsert('Workload', pod('web-2', '10.0.0.2'))));
  assert.ok(!cs.keys.has('r:Endpoints/shop/web') && !cs.keys.has('k:Endpoints'));

  cs = c.apply(f.batch(f.delete('Endpoints', 'shop/web')));
  assert.ok(cs.keys.has('r:Endpoints/shop/web'));
  assert.deepEqual(c.get('Endpoints', 'shop/web')?.subsets[0]?.addresses.map((a) => a.workload), ['shop/web-1', 'shop/web-2']);
  assert.equal(c.provenance('r:Endpoints/shop/web')?.offset, 4, 'the delete that let them show');
});

test('deleted and re-created alike within one batch, derived Endpoints keep their provenance', () => {
  const f = new EventFactory();
  const c = new Catalog();
  c.apply(f.batch(f.upsert('Service', serviceBody('shop', 'web', { app: 'web' })), f.upsert('Workload', pod('web-1', '10.0.0.1'))));
  const cs = c.apply(f.batch(f.delete('Service', 'shop/web'), f.upsert('Service', serviceBody('shop', 'web', { app: 'web' }))));
  assert.ok(!cs.keys.has('r:Endpoints/shop/web'));
  assert.equal(c.provenance('r:Endpoints/shop/web')?.offset, 1);
});

test('the start-up fold derives the same Endpoints', () => {
  const f = new EventFactory();
  const batches = [
    f.batch(f.upsert('Service', namedPortService('shop', 'web', { app: 'web' })), f.upsert('Workload', pod('web-1', '10.0.0.1'))),
    f.batch(f.upsert('Workload', pod('web-2', '10.0.0.2')), f.upsert('Workload', pod('web-1', '10.0.0.1', { ready: false }))),
  ];
  const live = new Catalog();
  const fold = new CompactingFold();
  for (const b of batches) {
    live.apply(b);
    fold.add(b.events);
  }
  const started = fold.finish();
  assert.deepEqual(started.get('Endpoints', 'shop/web'), live.get('Endpoints', 'shop/web'));
  assert.deepEqual(started.list('Endpoints'), live.list('Endpoints'));
  assert.deepEqual(started.endpointsDerivation('shop/web'), live.endpointsDerivation('shop/web'));
});
