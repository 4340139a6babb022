import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Catalog } from '../catalog/catalog.js';
import { serviceBody, workloadBody } from '../catalog/fixtures.js';
import type { LogBatch, MeshEvent } from '../log/types.js';
import type { Service, Workload } from '../model/types.js';
import { Engine } from './engine.js';
import type { EngineEvent } from './engine.js';
import type { DerivationSpec } from './types.js';

// A small mesh (services and workloads of one namespace) so that selectors match and keys collide.
const NAMES = ['a', 'b', 'c'] as const;
const UUIDS = ['u1', 'u2', 'u3'] as const;

type Op =
  | { t: 'svc'; name: string; app: string | null; port: number }
  | { t: 'wl'; name: string; app: string; sa: string; ip: string; uuid: string | null }
  | { t: 'del'; kind: 'Service' | 'Workload'; name: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    t: fc.constant('svc' as const),
    name: fc.constantFrom(...NAMES),
    app: fc.constantFrom(null, 'p', 'q'),
    port: fc.constantFrom(80, 81),
  }),
  fc.record({
    t: fc.constant('wl' as const),
    name: fc.constantFrom(...NAMES),
    app: fc.constantFrom('p', 'q'),
    sa: fc.constantFrom('s1', 's2'),
    ip: fc.constantFrom('10.0.0.1', '10.0.0.2'),
    uuid: fc.constantFrom(null, ...UUIDS),
  }),
  fc.record({ t: fc.constant('del' as const), kind: fc.constantFrom('Service' as const, 'Workload' as const), name: fc.constantFrom(...NAMES) }),
);

function toBatches(ops: readonly (readonly Op[])[]): LogBatch[] {
  let offset = 0;
  const ev = (o: Op): MeshEvent => {
    const base = { v: 1, offset: offset++, time: 0, source: 'p' };
    if (o.t === 'del') return { ...base, op: 'delete', kind: o.kind, key: `n/${o.name}` };
    if (o.t === 'svc') {
      const body: Service = serviceBody('n', o.name, o.app === null ? null : { app: o.app }, o.port);
      return { ...base, op: 'upsert', kind: 'Service', key: `n/${o.name}`, body };
    }
    const body: Workload = workloadBody('n', o.name, { app: o.app }, o.sa, { ip: o.ip, proxyUuid: o.uuid });
    return { ...base, op: 'upsert', kind: 'Workload', key: `n/${o.name}`, body };
  };
  return ops.map((b) => ({ events: b.map(ev) }));
}

/** Derivations with dynamic read sets: what a proxy reads depends on which workload carries its uuid. */
function specs() {
  const port = (svc: string): DerivationSpec<number | null> => ({
    id: `port/${svc}`,
    compute: (r) => r.get('Service', svc)?.ports[0]?.port ?? null,
  });
  const eps = (svc: string): DerivationSpec<string[]> => ({
    id: `eps/${svc}`,
    compute: (r) => r.lookup('workloadsByService', svc).map((w) => r.get('Workload', w)?.ips[0] ?? '?'),
  });
  const cluster = (svc: string): DerivationSpec<{ port: number | null; eps: string[] }> => ({
    id: `cluster/${svc}`,
    compute: (r) => ({ port: r.derive(port(svc)), eps: r.derive(eps(svc)) }),
  });
  const proxy = (uuid: string): DerivationSpec<unknown> => ({
    id: `proxy/${uuid}`,
    compute: (r) => {
      const wl = r.lookup('workloadByProxyUuid', uuid)[0];
      if (wl === undefined) return null;
      const ids = r.lookup('serviceAccountsByService', r.lookup('servicesByWorkload', wl)[0] ?? '');
      return {
        ids,
        clusters: r.list('Service').map((s) => r.derive(cluster(`${s.meta.namespace}/${s.meta.name}`))),
      };
    },
  });
  return { proxy };
}

test('property: incremental results equal a from-scratch computation, and only readers of changed keys re-run', () => {
  fc.assert(
    fc.property(fc.array(fc.array(opArb, { maxLength: 4 }), { minLength: 1, maxLength: 10 }), fc.subarray([...UUIDS]), (ops, held) => {
      const catalog = new Catalog();
      const events: EngineEvent[] = [];
      const engine = new Engine(catalog, { onEvent: (e) => events.push(e) });
      const { proxy } = specs();
      for (const u of held) engine.retain(`proxy/${u}`);
      for (const batch of toBatches(ops)) {
        const readSets = new Map(engine.derivations().map((d) => [d.id, engine.readSet(d.id)]));
        const hashes = new Map(engine.derivations().map((d) => [d.id, d.hash]));
        const cs = catalog.apply(batch);
        events.length = 0;
        const marked = engine.invalidate(cs.keys);
        for (const u of UUIDS) {
          const got = engine.get(proxy(u));
          const fresh = new Engine(catalog).get(proxy(u));
          assert.deepEqual(got.value, fresh.value);
          assert.equal(got.hash, fresh.hash);
        }
        for (const e of events) {
          if (e.type === 'compute' || e.type === 'drop') continue;
          assert.ok(marked.has(e.id), `${e.type} ${e.id} was not marked`);
          if (e.type === 'cutoff') continue;
          // It ran: it read a changed key, or a derivation whose hash moved.
          const reads = readSets.get(e.id) ?? [];
          const why = reads.some((k) =>
            k.startsWith('d:') ? engine.info(k.slice(2))?.hash !== hashes.get(k.slice(2)) : cs.keys.has(k),
          );
          assert.ok(why, `${e.id} re-ran without a changed input`);
        }
        // The key index mirrors every read set.
        for (const d of engine.derivations()) {
          for (const k of engine.readSet(d.id)) if (!k.startsWith('d:')) assert.ok(engine.readersOf(k).includes(d.id));
        }
      }
      engine.sweep();
      for (const u of held) engine.release(`proxy/${u}`);
      assert.equal(engine.stats().derivations, 0);
      assert.equal(engine.stats().keys, 0);
    }),
    { numRuns: 150 },
  );
});
