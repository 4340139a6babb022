import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Catalog } from '../catalog/catalog.js';
import { EventFactory, serviceBody, workloadBody } from '../catalog/fixtures.js';
import { Engine } from './engine.js';
import type { EngineEvent } from './engine.js';
import { DerivationCycleError, DerivationUsageError } from './errors.js';
import { canonicalJsonOf, contentHash } from './canonical.js';
import type { DerivationSpec, Reader } from './types.js';

/** Specs whose compute calls are counted per id. */
class Counter {
  readonly calls = new Map<string, number>();
  spec<T>(id: string, compute: (r: Reader) => T): DerivationSpec<T> {
    return {
      id,
      compute: (r) => {
        this.calls.set(id, (this.calls.get(id) ?? 0) + 1);
        return compute(r);
      },
    };
  }
  count(id: string): number {
    return this.calls.get(id) ?? 0;
  }
  total(): number {
    let n = 0;
    for (const v of this.calls.values()) n += v;
    return n;
  }
}

function setup(): { f: EventFactory; c: Catalog; e: Engine; n: Counter; events: EngineEvent[] } {
  const f = new EventFactory();
  const c = new Catalog();
  c.apply(
    f.batch(
      f.upsert('Service', serviceBody('shop', 'web', { app: 'web' }, 80)),
      f.upsert('Service', serviceBody('shop', 'db', { app: 'db' }, 5432)),
      f.upsert('Workload', workloadBody('shop', 'web-1', { app: 'web' }, 'web', { ip: '10.0.0.1', proxyUuid: 'u1' })),
      f.upsert('Workload', workloadBody('shop', 'db-1', { app: 'db' }, 'db', { ip: '10.0.0.2', proxyUuid: 'u2' })),
    ),
  );
  const events: EngineEvent[] = [];
  const e = new Engine(c, { onEvent: (ev) => events.push(ev) });
  return { f, c, e, n: new Counter(), events };
}

/** A small translator shape: per-service port, per-service endpoints, per-proxy config of both services. */
function specs(n: Counter) {
  const port = (svc: string) => n.spec(`port/${svc}`, (r) => r.get('Service', svc)?.ports[0]?.port ?? null);
  const endpoints = (svc: string) =>
    n.spec(`eps/${svc}`, (r) =>
      r
        .lookup('workloadsByService', svc)
        .map((w) => r.get('Workload', w)?.ips[0])
        .filter((ip) => ip !== undefined),
    );
  const proxy = (uuid: string) =>
    n.spec(`proxy/${uuid}`, (r) => {
      const services = ['shop/db', 'shop/web'];
      return services.map((s) => ({ s, port: r.derive(port(s)), eps: r.derive(endpoints(s)) }));
    });
  return { port, endpoints, proxy };
}

test('computes once, then hits without running', () => {
  const { e, n } = setup();
  const { proxy } = specs(n);
  const a = e.get(proxy('u1'));
  const b = e.get(proxy('u1'));
  assert.equal(a, b);
  assert.equal(n.count('proxy/u1'), 1);
  assert.equal(n.total(), 5);
  assert.deepEqual(a.value, [
    { s: 'shop/db', port: 5432, eps: ['10.0.0.2'] },
    { s: 'shop/web', port: 80, eps: ['10.0.0.1'] },
  ]);
  assert.equal(a.hash, contentHash(a.value));
  const st = e.stats();
  assert.equal(st.computes, 5);
  assert.equal(st.derivations, 5);
  assert.equal(st.hits, 1);
  assert.deepEqual([...e.readSet('proxy/u1')], ['d:port/shop/db', 'd:eps/shop/db', 'd:port/shop/web', 'd:eps/shop/web']);
  assert.deepEqual([...e.readSet('eps/shop/web')], ['i:workloadsByService/shop/web', 'r:Workload/shop/web-1']);
});

test('with the real catalog: a change re-runs exactly the derivations that read the changed keys', () => {
  const { f, c, e, n } = setup();
  const { proxy } = specs(n);
  e.get(proxy('u1'));
  e.get(proxy('u2'));
  n.calls.clear();

  // Move web-1 to another IP: only eps/shop/web reads r:Workload/shop/web-1.
  const cs = c.apply(f.batch(f.upsert('Workload', workloadBody('shop', 'web-1', { app: 'web' }, 'web', { ip: '10.0.0.9', proxyUuid: 'u1' }))));
  const marked = e.invalidate(cs.keys);
  assert.deepEqual([...marked].sort(), ['eps/shop/web', 'proxy/u1', 'proxy/u2']);
  assert.equal(n.total(), 0, 'invalidate never computes');
  const r1 = e.get(proxy('u1'));
  e.get(proxy('u2'));
  assert.deepEqual(Object.fromEntries(n.calls), { 'eps/shop/web': 1, 'proxy/u1': 1, 'proxy/u2': 1 });
  assert.deepEqual(r1.value[1]?.eps, ['10.0.0.9']);
  assert.equal(r1.changedAt, e.revision);
});

test('an unchanged output stops propagation (early cut-off)', () => {
  const { f, c, e, n, events } = setup();
  const { proxy } = specs(n);
  const before = e.get(proxy('u1'));
  n.calls.clear();
  events.length = 0;

  // Relabel nothing a reader sees: the service's clusterIP is not read by port/shop/web.
  const svc = { ...serviceBody('shop', 'web', { app: 'web' }, 80), clusterIP: '10.96.0.1' };
  const cs = c.apply(f.batch(f.upsert('Service', svc)));
  assert.deepEqual([...cs.keys].sort(), ['k:Service', 'r:Service/shop/web']);
  assert.deepEqual([...e.invalidate(cs.keys)].sort(), ['port/shop/web', 'proxy/u1']);
  const after = e.get(proxy('u1'));
  assert.deepEqual(Object.fromEntries(n.calls), { 'port/shop/web': 1 }, 'the parent did not run');
  assert.equal(after, before, 'same result object: value and changedAt kept');
  assert.deepEqual(
    events.map((ev) => `${ev.type} ${ev.id}`),
    ['unchanged port/shop/web', 'cutoff proxy/u1'],
  );
  assert.equal(e.stats().cutoffs, 1);
  assert.equal(e.stats().unchanged, 1);
});

test('a changed child re-runs its parents; unrelated siblings stay clean', () => {
  const { f, c, e, n } = setup();
  const { proxy } = specs(n);
  const first = e.get(proxy('u1'));
  n.calls.clear();
  const cs = c.apply(f.batch(f.upsert('Service', serviceBody('shop', 'web', { app: 'web' }, 8080))));
  e.invalidate(cs.keys);
  const next = e.get(proxy('u1'));
  assert.deepEqual(Object.fromEntries(n.calls), { 'port/shop/web': 1, 'proxy/u1': 1 });
  assert.notEqual(next.hash, first.hash);
  assert.ok(next.changedAt > first.changedAt);
});

test('shared ids compute once for many roots; release frees what no root reaches', () => {
  const { e, n } = setup();
  const { proxy } = specs(n);
  const root = (i: number) => n.spec(`root/${i}`, (r) => r.derive(proxy('u1')).length + i);
  for (let i = 0; i < 100; i++) {
    e.retain(`root/${i}`);
    e.get(root(i));
  }
  assert.equal(n.count('proxy/u1'), 1);
  assert.equal(n.count('eps/shop/web'), 1);
  assert.equal(e.stats().derivations, 105);
  assert.deepEqual(e.readersOf('r:Service/shop/web'), ['port/shop/web']);
  for (let i = 0; i < 99; i++) e.release(`root/${i}`);
  assert.equal(e.stats().derivations, 6, 'one root and its five shared derivations remain');
  e.release('root/99');
  assert.equal(e.stats().derivations, 0);
  assert.deepEqual(e.readersOf('r:Service/shop/web'), [], 'key index entries are freed too');
  assert.deepEqual(e.readersOf('i:workloadsByService/shop/web'), []);
  assert.equal(e.invalidate(['r:Service/shop/web', 'k:Service']).size, 0);
  assert.throws(() => e.release('root/0'), DerivationUsageError);
});

test('retain counts references; a derivation dropped from a read set is freed', () => {
  const { e, n } = setup();
  let which = 'a';
  const child = (x: string) => n.spec(`child/${x}`, () => x);
  const root = n.spec('root', (r) => r.derive(child(which)) + String(r.external('flag') ?? ''));
  e.retain('root');
  e.retain('root');
  e.get(root);
  assert.ok(e.has('child/a'));
  which = 'b';
  e.setExternal('flag', 1);
  assert.equal(e.get(root).value, 'b1');
  assert.ok(!e.has('child/a'), 'no longer read by anyone');
  e.release('root');
  assert.ok(e.has('root'), 'still retained once');
  e.release('root');
  assert.ok(!e.has('root') && !e.has('child/b'));
});

test('externals invalidate their readers; setting the same value does nothing', () => {
  const { e, n } = setup();
  const cert = n.spec('cert/web', (r) => r.external<Uint8Array>('cert:shop/web') ?? new Uint8Array());
  const wrap = n.spec('wrap', (r) => ({ pem: r.derive(cert) }));
  assert.deepEqual(e.get(wrap).value, { pem: new Uint8Array() });
  const v1 = new Uint8Array([1, 2, 3]);
  assert.deepEqual([...e.setExternal('cert:shop/web', v1)].sort(), ['cert/web', 'wrap']);
  assert.equal(e.setExternal('cert:shop/web', v1).size, 0);
  assert.equal(e.get(wrap).value.pem, v1);
  assert.equal(n.count('cert/web'), 2);
  assert.equal(n.count('wrap'), 2);
  assert.deepEqual([...e.readSet('cert/web')], ['x:cert:shop/web']);
});

test('invalidate returns exactly the transitive dependents, roots included, and computes nothing', () => {
  const { e, n } = setup();
  const leaf1 = n.spec('leaf1', (r) => r.get('Service', 'shop/web')?.meta.name);
  const leaf2 = n.spec('leaf2', (r) => r.list('Workload').length);
  const mid = n.spec('mid', (r) => [r.derive(leaf1), r.derive(leaf2)]);
  const top1 = n.spec('top1', (r) => r.derive(mid));
  const top2 = n.spec('top2', (r) => r.derive(leaf2));
  const other = n.spec('other', (r) => r.lookup('workloadByProxyUuid', 'u1'));
  for (const s of [top1, top2, other] as DerivationSpec<unknown>[]) e.get(s);
  const before = n.total();
  assert.deepEqual([...e.invalidate(['r:Service/shop/web'])].sort(), ['leaf1', 'mid', 'top1']);
  assert.deepEqual([...e.invalidate(['k:Workload'])].sort(), ['leaf2', 'mid', 'top1', 'top2']);
  assert.deepEqual([...e.invalidate(['i:workloadByProxyUuid/u1', 'r:Nothing/x'])], ['other']);
  assert.deepEqual([...e.invalidate([])], []);
  assert.equal(n.total(), before);
});

test('a derivation reading itself transitively fails with the cycle named', () => {
  const { e, n } = setup();
  const specsById = new Map<string, DerivationSpec<number>>();
  const mk = (id: string, next: string) => {
    const s = n.spec(id, (r) => r.derive(specsById.get(next) as DerivationSpec<number>) + 1);
    specsById.set(id, s);
    return s;
  };
  const a = mk('a', 'b');
  mk('b', 'c');
  mk('c', 'a');
  assert.throws(
    () => e.get(a),
    (err: unknown) => err instanceof DerivationCycleError && err.code === 'DERIVE_CYCLE' && err.cycle.join(' ') === 'a b c a',
  );
  assert.equal(e.stats().derivations, 0, 'nothing half-built is kept');
  const self = n.spec('self', (r): number => r.derive(self));
  assert.throws(() => e.get(self), (err: unknown) => err instanceof DerivationCycleError && err.cycle.join(' ') === 'self self');
});

test('a failing compute keeps the last good value state and retries on the next get', () => {
  const { f, c, e, n } = setup();
  let fail = false;
  const s = n.spec('s', (r) => {
    const port = r.get('Service', 'shop/web')?.ports[0]?.port;
    if (fail) throw new Error('boom');
    return port;
  });
  assert.equal(e.get(s).value, 80);
  fail = true;
  e.invalidate(c.apply(f.batch(f.upsert('Service', serviceBody('shop', 'web', { app: 'web' }, 81)))).keys);
  assert.throws(() => e.get(s), /boom/);
  fail = false;
  assert.equal(e.get(s).value, 81);
  assert.deepEqual([...e.readSet('s')], ['r:Service/shop/web']);
});

test('misuse is reported: reader after compute, engine.get inside compute', () => {
  const { e, n } = setup();
  let leaked: Reader | undefined;
  e.get(
    n.spec('leak', (r) => {
      leaked = r;
      return 1;
    }),
  );
  assert.throws(() => leaked?.get('Service', 'shop/web'), DerivationUsageError);
  assert.throws(() => e.get(n.spec('nested', () => e.get(n.spec('inner', () => 1)).value)), DerivationUsageError);
});

test('sweep frees derivations computed by a top-level get that were never retained', () => {
  const { e, n } = setup();
  const { proxy } = specs(n);
  e.retain('proxy/u2');
  e.get(proxy('u1'));
  e.get(proxy('u2'));
  assert.equal(e.stats().derivations, 6);
  assert.equal(e.sweep(), 1);
  assert.deepEqual(
    e.derivations().map((d) => d.id),
    ['eps/shop/db', 'eps/shop/web', 'port/shop/db', 'port/shop/web', 'proxy/u2'],
  );
  assert.equal(e.info('eps/shop/web')?.dependents, 1);
});

test('canonical JSON: sorted keys, Maps, Sets, bytes as hex', () => {
  assert.equal(canonicalJsonOf({ b: 1, a: [undefined, 2], c: undefined }), '{"a":[null,2],"b":1}');
  assert.equal(canonicalJsonOf(new Map<unknown, unknown>([['z', 1], ['a', new Uint8Array([0, 255])]])), '[["a","00ff"],["z",1]]');
  assert.equal(canonicalJsonOf(new Set(['b', 'a'])), '["a","b"]');
  assert.equal(canonicalJsonOf(Buffer.from('hi')), '"6869"');
  assert.equal(contentHash({ x: 1, y: 2 }), contentHash({ y: 2, x: 1 }));
  const cyc: { self?: unknown } = {};
  cyc.self = cyc;
  assert.throws(() => canonicalJsonOf(cyc), /cycle/);
});

test('a run that reads the same keys again, fewer, more, repeated or reordered keeps exactly its readers indexed', () => {
  const { e, n } = setup();
  // The externals a run reads, as a list the test changes between runs (repeats included).
  let reads = ['a', 'b', 'c'];
  const root = n.spec('root', (r) => reads.map((x) => String(r.external(x) ?? '-')).join(''));
  e.retain('root');
  let runs = 0;
  const check = (expected: readonly string[], label: string): void => {
    // Every list read so far starts with or holds "a": changing it makes the root run with the new list.
    e.setExternal('a', `rerun${++runs}`);
    e.get(root);
    assert.deepEqual([...e.readSet('root')].sort(), expected.map((x) => `x:${x}`).sort(), label);
    for (const x of ['a', 'b', 'c', 'd']) {
      const invalidated = e.setExternal(x, `${x}${n.count('root')}`).has('root');
      assert.equal(invalidated, expected.includes(x), `${label}: root is invalidated by "${x}" exactly when it read it`);
      e.get(root);
    }
  };
  check(['a', 'b', 'c'], 'first run');
  reads = ['a', 'b'];
  check(['a', 'b'], 'fewer (a prefix of the last run)');
  reads = ['a', 'b', 'd'];
  check(['a', 'b', 'd'], 'more');
  reads = ['a', 'a', 'b', 'd', 'b'];
  check(['a', 'b', 'd'], 'repeats');
  reads = ['d', 'a', 'b', 'c'];
  check(['a', 'b', 'c', 'd'], 'reordered and more');
  reads = Array.from({ length: 40 }, (_, i) => ['a', 'b', 'c', 'd'][i % 4]!);
  check(['a', 'b', 'c', 'd'], 'repeats past the scan window');
});
