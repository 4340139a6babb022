import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypeUrl, type EncodedResource } from './adapter.js';
import { gcFunction } from '../testing/gc.js';
import { XdsSession, type DesiredSet } from './protocol.js';
import type { DeltaRequest, SotwRequest, SotwResponse, DeltaResponse, AdsResponse } from './wire.js';

const res = (typeUrl: string, name: string, version: string): EncodedResource => ({
  name,
  typeUrl,
  version,
  any: new Uint8Array([1, 2, 3]),
  dump: { name },
});

function desiredOf(sets: Record<string, EncodedResource[]>): (t: string) => DesiredSet {
  return (t) => {
    const list = sets[t] ?? [];
    return { set: new Map(list.map((r) => [r.name, r])), hash: list.map((r) => `${r.name}@${r.version}`).join(',') };
  };
}

const sotw = (typeUrl: string, resourceNames: string[] = [], responseNonce = '', versionInfo = '', error?: string): SotwRequest => ({
  kind: 'sotw',
  node: undefined,
  versionInfo,
  resourceNames,
  typeUrl,
  responseNonce,
  errorDetail: error === undefined ? undefined : { code: 3, message: error },
});

const delta = (typeUrl: string, r: Partial<Omit<DeltaRequest, 'kind' | 'typeUrl'>> = {}): DeltaRequest => ({
  kind: 'delta',
  node: undefined,
  typeUrl,
  subscribe: r.subscribe ?? [],
  unsubscribe: r.unsubscribe ?? [],
  initialResourceVersions: r.initialResourceVersions ?? new Map(),
  responseNonce: r.responseNonce ?? '',
  errorDetail: r.errorDetail,
});

const ALL = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration];
const C = TypeUrl.Cluster;
const E = TypeUrl.ClusterLoadAssignment;
const L = TypeUrl.Listener;
const R = TypeUrl.RouteConfiguration;

const namesOf = (r: AdsResponse): string[] => r.resources.map((x) => x.name);

describe('XdsSession (SotW)', () => {
  it('treats an empty first CDS/LDS request as wildcard, and an empty EDS request as nothing', () => {
    const s = new XdsSession({ mode: 'sotw', typeUrls: ALL });
    const want = desiredOf({ [C]: [res(C, 'a', '1'), res(C, 'b', '1')], [E]: [res(E, 'a', '1')] });
    s.onRequest(sotw(C));
    s.onRequest(sotw(E));
    const out = s.push(want) as SotwResponse[];
    assert.deepEqual(out.map((r) => r.typeUrl), [C, E]);
    assert.deepEqual(namesOf(out[0]!), ['a', 'b']);
    assert.deepEqual(namesOf(out[1]!), [], 'empty EDS subscription gets an empty first answer');
    assert.match(out[0]!.versionInfo, /^[0-9a-f]{16}$/);
    assert.notEqual(out[0]!.nonce, out[1]!.nonce);
  });

  it('ACKs only the nonce in flight; a stale nonce is ignored for ACK but its subscription is honoured', () => {
    const s = new XdsSession({ mode: 'sotw', typeUrls: ALL });
    const want = desiredOf({ [E]: [res(E, 'a', '1'), res(E, 'b', '1')] });
    s.onRequest(sotw(E, ['a']));
    const [first] = s.push(want) as SotwResponse[];
    const stale = s.onRequest(sotw(E, ['a', 'b'], 'bogus', ''));
    assert.equal(stale.stale, true);
    assert.equal(stale.subscriptionChanged, true);
    assert.equal(s.hasInflight, true);
    assert.deepEqual(s.push(want), [], 'one response in flight per type');
    const ack = s.onRequest(sotw(E, ['a', 'b'], first!.nonce, first!.versionInfo));
    assert.equal(ack.ack?.version, first!.versionInfo);
    assert.equal(s.needsPush, true);
    const [second] = s.push(want) as SotwResponse[];
    // A named type's response carries only what the client does not have yet; 'a' stays as it was.
    assert.deepEqual(namesOf(second!), ['b']);
    assert.notEqual(second!.versionInfo, first!.versionInfo);
  });

  it('a named type (EDS) sends only the resource that changed; CDS resends the whole state', () => {
    const s = new XdsSession({ mode: 'sotw', typeUrls: ALL });
    s.onRequest(sotw(C));
    s.onRequest(sotw(E, ['a', 'b']));
    const v1 = desiredOf({ [C]: [res(C, 'a', '1'), res(C, 'b', '1')], [E]: [res(E, 'a', '1'), res(E, 'b', '1')] });
    const [c1, e1] = s.push(v1) as SotwResponse[];
    assert.deepEqual([namesOf(c1!), namesOf(e1!)], [['a', 'b'], ['a', 'b']]);
    s.onRequest(sotw(C, [], c1!.nonce, c1!.versionInfo));
    s.onRequest(sotw(E, ['a', 'b'], e1!.nonce, e1!.versionInfo));
    s.invalidate({ offsets: [3], appendedAt: 1 });
    const [e2] = s.push(desiredOf({ [C]: [res(C, 'a', '1'), res(C, 'b', '1')], [E]: [res(E, 'a', '1'), res(E, 'b', '2')] })) as SotwResponse[];
    assert.equal(e2!.typeUrl, E);
    assert.deepEqual(namesOf(e2!), ['b']);
    s.onRequest(sotw(E, ['a', 'b'], e2!.nonce, e2!.versionInfo));
    s.invalidate({ offsets: [4], appendedAt: 2 });
    const [c2] = s.push(desiredOf({ [C]: [res(C, 'a', '2'), res(C, 'b', '1')], [E]: [res(E, 'a', '1'), res(E, 'b', '2')] })) as SotwResponse[];
    assert.equal(c2!.typeUrl, C);
    assert.deepEqual(namesOf(c2!), ['a', 'b']);
  });

  it('records a NACK, keeps the last good version and does not resend the rejected set', () => {
    const s = new XdsSession({ mode: 'sotw', typeUrls: ALL });
    s.onRequest(sotw(C));
    const [v1] = s.push(desiredOf({ [C]: [res(C, 'a', '1')] })) as SotwResponse[];
    s.onRequest(sotw(C, [], v1!.nonce, v1!.versionInfo));
    const bad = desiredOf({ [C]: [res(C, 'a', '2')] });
    s.invalidate({ offsets: [7], appendedAt: 1 });
    const [v2] = s.push(bad) as SotwResponse[];
    const nack = s.onRequest(sotw(C, [], v2!.nonce, v1!.versionInfo, 'bad cluster'));
    assert.equal(nack.nack?.message, 'bad cluster');
    assert.deepEqual(nack.nack?.cause.offsets, [7]);
    assert.equal(s.holdingNack, true);
    const snap = s.snapshot()[0]!;
    assert.equal(snap.ackedVersion, v1!.versionInfo);
    assert.equal(snap.lastNack?.version, v2!.versionInfo);
    assert.deepEqual(s.push(bad), [], 'same rejected set is not resent');
    const [v3] = s.push(desiredOf({ [C]: [res(C, 'a', '3')] })) as SotwResponse[];
    assert.ok(v3);
    s.onRequest(sotw(C, [], v3.nonce, v3.versionInfo));
    assert.equal(s.holdingNack, false);
  });

  it('holds back a CDS removal until the routes moved off it (make before break)', () => {
    const s = new XdsSession({ mode: 'sotw', typeUrls: ALL });
    s.onRequest(sotw(C));
    s.onRequest(sotw(R, ['r']));
    const start = desiredOf({ [C]: [res(C, 'old', '1')], [R]: [res(R, 'r', 'to-old')] });
    for (const r of s.push(start)) s.onRequest(sotw(r.typeUrl, r.typeUrl === R ? ['r'] : [], r.nonce, (r as SotwResponse).versionInfo));
    const next = desiredOf({ [C]: [res(C, 'new', '1')], [R]: [res(R, 'r', 'to-new')] });
    s.invalidate({ offsets: [1], appendedAt: undefined });
    const out = s.push(next) as SotwResponse[];
    assert.deepEqual(out.map((r) => r.typeUrl), [C, R]);
    assert.deepEqual(namesOf(out[0]!), ['new', 'old'], 'old cluster kept while the route still points at it');
    s.onRequest(sotw(R, ['r'], out[1]!.nonce, out[1]!.versionInfo));
    assert.deepEqual(s.push(next), [], 'CDS still in flight');
    s.onRequest(sotw(C, [], out[0]!.nonce, out[0]!.versionInfo));
    assert.equal(s.needsPush, true, 'the ACK frees the held-back removal');
    const [final] = s.push(next) as SotwResponse[];
    assert.equal(final!.typeUrl, C);
    assert.deepEqual(namesOf(final!), ['new']);
  });
});

describe('XdsSession (delta)', () => {
  it('sends only changed resources, removes deleted ones and orders adds CDS, EDS, LDS, RDS', () => {
    const s = new XdsSession({ mode: 'delta', typeUrls: ALL });
    for (const t of [R, L, E, C]) s.onRequest(delta(t, t === E ? { subscribe: ['a'] } : t === R ? { subscribe: ['r'] } : {}));
    const one = desiredOf({ [C]: [res(C, 'a', '1')], [E]: [res(E, 'a', '1')], [L]: [res(L, 'l', '1')], [R]: [res(R, 'r', '1')] });
    const out = s.push(one) as DeltaResponse[];
    assert.deepEqual(out.map((r) => r.typeUrl), [C, E, L, R]);
    for (const r of out) s.onRequest(delta(r.typeUrl, { responseNonce: r.nonce }));
    const two = desiredOf({ [C]: [res(C, 'a', '1'), res(C, 'b', '1')], [E]: [res(E, 'a', '2')], [L]: [res(L, 'l', '1')], [R]: [res(R, 'r', '1')] });
    const out2 = s.push(two) as DeltaResponse[];
    assert.deepEqual(out2.map((r) => [r.typeUrl, namesOf(r), r.removed]), [
      [C, ['b'], []],
      [E, ['a'], []],
    ]);
  });

  it('skips what initial_resource_versions says the client has, and removes what it has but should not', () => {
    const s = new XdsSession({ mode: 'delta', typeUrls: ALL });
    s.onRequest(delta(C, { initialResourceVersions: new Map([['a', '1'], ['b', 'old'], ['gone', 'x']]) }));
    const [r] = s.push(desiredOf({ [C]: [res(C, 'a', '1'), res(C, 'b', '2')] })) as DeltaResponse[];
    assert.deepEqual(namesOf(r!), ['b']);
    assert.deepEqual(r!.removed, ['gone']);
  });

  it('asks only for the types an invalidation named, and for all of them when it named none', () => {
    const s = new XdsSession({ mode: 'delta', typeUrls: [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment], invalidationsNameTypes: true });
    const sets: Record<string, EncodedResource[]> = {
      [TypeUrl.Cluster]: [res(TypeUrl.Cluster, 'a', '1')],
      [TypeUrl.ClusterLoadAssignment]: [res(TypeUrl.ClusterLoadAssignment, 'a', '1')],
    };
    const asked: string[] = [];
    const desired = (t: string): DesiredSet => {
      asked.push(t);
      return desiredOf(sets)(t);
    };
    const ackAll = (out: AdsResponse[]) => {
      for (const r of out) s.onRequest(delta(r.typeUrl, { responseNonce: r.nonce }));
    };
    s.onRequest(delta(TypeUrl.Cluster));
    s.onRequest(delta(TypeUrl.ClusterLoadAssignment, { subscribe: ['a'] }));
    ackAll(s.push(desired));
    assert.deepEqual(asked.sort(), [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment].sort());

    asked.length = 0;
    sets[TypeUrl.ClusterLoadAssignment] = [res(TypeUrl.ClusterLoadAssignment, 'a', '2')];
    s.invalidate({ offsets: [1], appendedAt: undefined }, [TypeUrl.ClusterLoadAssignment]);
    const out = s.push(desired);
    assert.deepEqual(asked, [TypeUrl.ClusterLoadAssignment], 'the clean CDS set is not asked for');
    assert.deepEqual(
      out.map((r) => r.typeUrl),
      [TypeUrl.ClusterLoadAssignment],
    );
    ackAll(out);

    asked.length = 0;
    sets[TypeUrl.Cluster] = [res(TypeUrl.Cluster, 'a', '2')];
    s.invalidate({ offsets: [2], appendedAt: undefined });
    const all = s.push(desired);
    assert.deepEqual(asked.sort(), [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment].sort(), 'an invalidation naming no type looks at all');
    assert.deepEqual(
      all.map((r) => r.typeUrl),
      [TypeUrl.Cluster],
    );
  });
});

describe('XdsSession history', () => {
  it('keeps the last historySize pushes and ACKs, oldest first, naming what each push sent', () => {
    const s = new XdsSession({ mode: 'delta', typeUrls: ALL, historySize: 3 });
    s.onRequest(delta(E, { subscribe: ['a', 'b'] }));
    for (let v = 1; v <= 5; v++) {
      const [out] = s.push(desiredOf({ [E]: v % 2 === 0 ? [res(E, 'a', String(v))] : [res(E, 'a', String(v)), res(E, 'b', String(v))] })) as DeltaResponse[];
      assert.ok(out !== undefined);
      s.onRequest(delta(E, { responseNonce: out.nonce }));
    }
    const pushes = s.pushHistory();
    assert.deepEqual(pushes.map((p) => p.nonce), ['3', '4', '5']);
    assert.deepEqual(pushes.map((p) => p.sent), [['a', 'b'], ['a'], ['a', 'b']]);
    assert.deepEqual(pushes.map((p) => p.removed), [[], ['b'], []]);
    assert.deepEqual(s.ackHistory().map((a) => [a.nonce, a.ack]), [['3', true], ['4', true], ['5', true]]);
  });

  it('names what it sent without holding it: a resource the session moved off can be collected', async () => {
    // The history outlives many changes; holding the resources (their trees and bytes) in it kept every
    // proxy's last pushes alive long enough to be promoted, and the old generation filled with them.
    const gc = gcFunction();
    const s = new XdsSession({ mode: 'delta', typeUrls: ALL, historySize: 32 });
    s.onRequest(delta(E, { subscribe: ['a'] }));
    let first: WeakRef<EncodedResource> | undefined;
    for (let v = 1; v <= 3; v++) {
      const r = res(E, 'a', String(v));
      first ??= new WeakRef(r);
      const [out] = s.push(desiredOf({ [E]: [r] })) as DeltaResponse[];
      s.onRequest(delta(E, { responseNonce: out!.nonce }));
    }
    // A WeakRef's target stays alive until the end of the turn that created or dereferenced it.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    assert.equal(first!.deref(), undefined, 'the first push\'s resource is still held');
    assert.deepEqual(s.pushHistory().map((p) => p.sent), [['a'], ['a'], ['a']]);
  });
});
