/**
 * Micro-benchmark of the projection and the engine (not a test): `node core/dist/derive/engine.bench.js`.
 * Shapes follow the design's target: thousands of proxies sharing per-service derivations.
 */
import { performance } from 'node:perf_hooks';
import { Catalog } from '../catalog/catalog.js';
import { EventFactory, serviceBody, workloadBody } from '../catalog/fixtures.js';
import type { MeshEvent } from '../log/types.js';
import type { Service } from '../model/types.js';
import { Engine } from './engine.js';
import type { DerivationSpec } from './types.js';

const SERVICES = Number(process.env['BENCH_SERVICES'] ?? 200);
const PROXIES = Number(process.env['BENCH_PROXIES'] ?? 10_000);

function time<T>(label: string, n: number, fn: () => T): T {
  const t0 = performance.now();
  const out = fn();
  const ms = performance.now() - t0;
  const per = (ms * 1e6) / n;
  console.log(`${label.padEnd(58)} ${ms.toFixed(1).padStart(9)} ms  ${per.toFixed(0).padStart(9)} ns/op  (n=${n})`);
  return out;
}

const f = new EventFactory();
const catalog = new Catalog();
const initial: MeshEvent[] = [];
for (let s = 0; s < SERVICES; s++) initial.push(f.upsert('Service', serviceBody('ns', `svc-${s}`, { app: `app-${s}` })));
for (let p = 0; p < PROXIES; p++) {
  initial.push(
    f.upsert(
      'Workload',
      workloadBody('ns', `pod-${p}`, { app: `app-${p % SERVICES}` }, `sa-${p % SERVICES}`, {
        ip: `10.${(p >> 16) & 255}.${(p >> 8) & 255}.${p & 255}`,
        proxyUuid: `uuid-${p}`,
      }),
    ),
  );
}
time('catalog: initial list as one batch (per event)', initial.length, () => catalog.apply({ events: initial }));
time('catalog: 1000 single-workload relabel batches (per batch)', 1000, () => {
  for (let i = 0; i < 1000; i++) {
    const p = i % PROXIES;
    catalog.apply(
      f.batch(f.upsert('Workload', workloadBody('ns', `pod-${p}`, { app: `app-${(p + 1) % SERVICES}` }, `sa-${p % SERVICES}`, { proxyUuid: `uuid-${p}` }))),
    );
  }
});

const engine = new Engine(catalog);
const cluster = (svc: string): DerivationSpec<unknown> => ({
  id: `cluster/${svc}`,
  compute: (r) => ({ port: r.get('Service', svc)?.ports[0]?.port, eps: r.lookup('workloadsByService', svc).length }),
});
const proxy = (uuid: string): DerivationSpec<unknown> => ({
  id: `proxy/${uuid}`,
  compute: (r) => {
    const wl = r.lookup('workloadByProxyUuid', uuid)[0] ?? '';
    const svcs = r.lookup('servicesByWorkload', wl);
    // Each proxy talks to its own service and 10 others: shared cluster derivations.
    const out: unknown[] = [];
    const base = Number((svcs[0] ?? 'ns/svc-0').split('-')[1]);
    for (let k = 0; k < 10; k++) out.push(r.derive(cluster(`ns/svc-${(base + k) % SERVICES}`)));
    return out;
  },
});
const specs = Array.from({ length: PROXIES }, (_, p) => proxy(`uuid-${p}`));
for (let p = 0; p < PROXIES; p++) engine.retain(`proxy/uuid-${p}`);
time('engine: first get of every proxy root (per root)', PROXIES, () => {
  for (const s of specs) engine.get(s);
});
const HITS = 1_000_000;
time('engine: clean get (hit path)', HITS, () => {
  for (let i = 0; i < HITS; i++) engine.get(specs[i % PROXIES] as DerivationSpec<unknown>);
});
const svcChange = catalog.apply(f.batch(f.upsert('Service', serviceBody('ns', 'svc-7', { app: 'app-7' }, 8080))));
const marked = time('engine: invalidate one service change (per marked id)', 1, () => engine.invalidate(svcChange.keys));
console.log(`  marked ${marked.size} ids`);
time('engine: get every root after it (per root)', PROXIES, () => {
  for (const s of specs) engine.get(s);
});
const svc8: Service = { ...serviceBody('ns', 'svc-8', { app: 'app-8' }), clusterIP: '10.96.0.8' };
const noop = catalog.apply(f.batch(f.upsert('Service', svc8)));
engine.invalidate(noop.keys);
time('engine: get every root after an unseen change (cut-off)', PROXIES, () => {
  for (const s of specs) engine.get(s);
});
console.log(JSON.stringify(engine.stats()));
time('engine: release every root (per root)', PROXIES, () => {
  for (let p = 0; p < PROXIES; p++) engine.release(`proxy/uuid-${p}`);
});
console.log(JSON.stringify(engine.stats()));
