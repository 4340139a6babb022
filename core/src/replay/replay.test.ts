import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventFactory, certificateIssuedBody, namespaceBody, serviceBody, workloadBody } from '../catalog/fixtures.js';
import { CertExternals, type ServiceCertificate } from '../certs/types.js';
import type { DerivationSpec, Reader } from '../derive/types.js';
import type { LogBatch } from '../log/types.js';
import { TypeUrl, type EncodedResource, type ProxyAdapter, type ProxyIdentity, type ResourceSet } from '../xds/adapter.js';
import { encodeResource, pemFingerprint } from '../xds/encode.js';
import { assertNoKeyMaterial, render } from './dump.js';
import { canonicalResource } from './envoy-dump.js';
import { ReplayError } from './errors.js';
import { formatStep } from './format.js';
import { parsePoint, parseRange } from './point.js';
import { Replay } from './replay.js';
import { ReplayState } from './state.js';
import { Timeline } from './timeline.js';

/**
 * A small adapter over the real catalog and engine: one cluster per service of the proxy's namespace (its
 * bytes depend on the service's port), and the proxy's service certificate as a secret (fingerprint dump).
 */
function cluster(svcKey: string): DerivationSpec<EncodedResource | null> {
  return {
    id: `t/cluster/${svcKey}`,
    compute(r: Reader) {
      const svc = r.get('Service', svcKey);
      if (svc === undefined) return null;
      return encodeResource(TypeUrl.Cluster, svcKey, { name: svcKey, altStatName: `${svcKey}:${svc.ports[0]!.port}` });
    },
  };
}

const testAdapter: ProxyAdapter = {
  kind: 'test',
  typeUrls: [TypeUrl.Secret, TypeUrl.Cluster],
  resources(proxy: ProxyIdentity, typeUrl: string): DerivationSpec<ResourceSet> {
    return {
      id: `t/set/${typeUrl}/${proxy.uuid}@${proxy.namespace}/${proxy.serviceAccount}`,
      compute(r) {
        const out = new Map<string, EncodedResource>();
        if (typeUrl === TypeUrl.Cluster) {
          for (const s of r.list('Service')) {
            if (s.meta.namespace !== proxy.namespace) continue;
            const c = r.derive(cluster(`${s.meta.namespace}/${s.meta.name}`));
            if (c !== null) out.set(c.name, c);
          }
        } else {
          const cert = r.external<ServiceCertificate>(CertExternals.serviceCert(proxy.namespace, proxy.serviceAccount));
          if (cert !== undefined) {
            const name = `service-cert:${proxy.namespace}/${proxy.serviceAccount}`;
            out.set(
              name,
              encodeResource(
                TypeUrl.Secret,
                name,
                { name, tlsCertificate: { privateKey: { inlineBytes: Buffer.from(cert.keyPem) } } },
                { name, sha256: cert.fingerprint },
              ),
            );
          }
        }
        return out;
      },
    };
  },
};

/** offsets: 0-2 batch (ns, svc a, pod p1), 3 svc b, 4 cert, 5 a's port, 6 pod p2, 7 delete b, 8 delete p1 */
function history(): LogBatch[] {
  const f = new EventFactory('files');
  return [
    f.batch(
      f.upsert('Namespace', namespaceBody('shop')),
      f.upsert('Service', serviceBody('shop', 'a', { app: 'a' }, 80)),
      f.upsert('Workload', workloadBody('shop', 'p1', { app: 'a' }, 'sa1', { proxyUuid: 'uuid-1' })),
    ),
    f.batch(f.upsert('Service', serviceBody('shop', 'b', { app: 'b' }, 90))),
    f.batch(f.upsert('CertificateIssued', certificateIssuedBody('shop', 'sa1', 'ab'.repeat(32)), 'ca')),
    f.batch(f.upsert('Service', serviceBody('shop', 'a', { app: 'a' }, 81))),
    f.batch(f.upsert('Workload', workloadBody('shop', 'p2', { app: 'b' }, 'sa2', { proxyUuid: 'uuid-2' }))),
    f.batch(f.delete('Service', 'shop/b')),
    f.batch(f.delete('Workload', 'shop/p1')),
  ];
}

const replay = (): Replay => new Replay(Timeline.fromBatches(history(), 'test-log'), { adapters: [testAdapter] });
const names = (dump: ReturnType<Replay['config']>, type: string): string[] => dump.types.find((t) => t.type === type)!.resources.map((r) => r.name);

describe('replay points', () => {
  it('parses offsets, RFC 3339 times, head and ranges; refuses anything else with what to write', () => {
    assert.deepEqual(parsePoint('42'), { type: 'offset', offset: 42 });
    assert.deepEqual(parsePoint('head'), { type: 'head' });
    assert.deepEqual(parsePoint('2026-11-02T10:00:00Z'), { type: 'time', time: Date.parse('2026-11-02T10:00:00Z'), text: '2026-11-02T10:00:00Z' });
    assert.deepEqual(parsePoint('2026-11-02T10:00:00.5+01:00').type, 'time');
    assert.deepEqual(parseRange('3..7'), { from: { type: 'offset', offset: 3 }, to: { type: 'offset', offset: 7 } });
    assert.deepEqual(parseRange('..head').from, { type: 'offset', offset: 0 });
    for (const bad of ['-1', 'yesterday', '2026-11-02', '12abc']) assert.throws(() => parsePoint(bad), /neither a log offset/);
    assert.throws(() => parseRange('3-7'), /must be two points written a\.\.b/);
  });

  it('resolves points to batches; a point inside a batch means after the whole batch; out of range is an error', () => {
    const t = Timeline.fromBatches(history(), 'test-log');
    assert.equal(t.batchIndex({ type: 'offset', offset: 1 }), 0);
    assert.equal(t.offsetOf({ type: 'offset', offset: 1 }), 2);
    assert.equal(t.offsetOf({ type: 'head' }), 8);
    assert.throws(() => t.batchIndex({ type: 'offset', offset: 9 }), (e: ReplayError) => e.code === 'REPLAY_POINT_OUT_OF_RANGE' && /its last event is at offset 8/.test(e.message));
    // Times: event i has time 1_700_000_000_000 + i + 1.
    assert.equal(t.offsetOf({ type: 'time', time: 1_700_000_000_004, text: 't' }), 3);
    assert.throws(() => t.batchIndex({ type: 'time', time: 1_600_000_000_000, text: '2020' }), /before the first event/);
    assert.throws(() => Timeline.fromBatches([], 'empty'), (e: ReplayError) => e.code === 'REPLAY_EMPTY_LOG');
  });
});

describe('replay', () => {
  it('gives the config at each point, deterministically, with secrets as fingerprints only', () => {
    const r = replay();
    const first = r.config('uuid-1', { type: 'offset', offset: 2 });
    assert.deepEqual(first.at.offset, 2);
    assert.deepEqual(names(first, 'CDS'), ['shop/a']);
    assert.deepEqual(names(first, 'SDS'), []);
    const later = r.config('uuid-1', { type: 'offset', offset: 4 });
    assert.deepEqual(names(later, 'CDS'), ['shop/a', 'shop/b']);
    assert.deepEqual(later.types.find((t) => t.type === 'SDS')!.resources, [
      { name: 'service-cert:shop/sa1', version: 'redacted', resource: { name: 'service-cert:shop/sa1', sha256: 'ab'.repeat(32) } },
    ]);
    assert.deepEqual(r.config('uuid-1', { type: 'offset', offset: 4 }), later, 'same answer twice');
    assert.deepEqual(r.config('shop/sa1', { type: 'offset', offset: 4 }), later, 'by identity');
    // The proxy's workload is gone at the head: it still resolves (a proxy may stay connected), without one.
    assert.equal(r.config('uuid-1').proxy.workload, null);
  });

  it('names unknown proxies, proxies that do not exist yet, and the proxies it knows', () => {
    const r = replay();
    assert.throws(() => r.config('nope'), (e: ReplayError) => e.code === 'REPLAY_UNKNOWN_PROXY' && /ever had osm-proxy-uuid=nope.*uuid-1 \(shop\/sa1\)/.test(e.message));
    assert.throws(() => r.config('uuid-2', { type: 'offset', offset: 3 }), /does not exist yet .*first appears at offset 6/);
    assert.throws(() => r.config('shop/sa9'), /no workload of service account shop\/sa9 ever had a proxy/);
    assert.throws(() => r.config('uuid-1', { type: 'head' }, 'grpc'), (e: ReplayError) => e.code === 'REPLAY_NO_ADAPTER' && /loaded: test/.test(e.message));
  });

  it('folding batches together gives the same state as one by one', () => {
    const r = replay();
    const merged = r.stateAt({ type: 'head' });
    const single = new ReplayState(r.timeline);
    while (!single.done) single.applyNext();
    assert.deepEqual(single.catalog.snapshot(), merged.catalog.snapshot());
  });

  it('an exact fold keeps provenance as it was live when a resource goes A -> B -> A', () => {
    const f = new EventFactory('files');
    const a = serviceBody('shop', 'x', { app: 'x' }, 80);
    const batches = [
      f.batch(f.upsert('Namespace', namespaceBody('shop')), f.upsert('Service', a)),
      f.batch(f.upsert('Service', serviceBody('shop', 'x', { app: 'x' }, 81))),
      f.batch(f.upsert('Service', a)),
    ];
    const r = new Replay(Timeline.fromBatches(batches, 'aba'), { adapters: [testAdapter] });
    const live = new ReplayState(r.timeline);
    while (!live.done) live.applyNext();
    // The merged step must start after A exists: created and changed in one step, A's provenance is right anyway.
    const exact = new ReplayState(r.timeline);
    exact.advanceTo(0);
    exact.advanceTo(2, { exact: true });
    const key = 'r:Service/shop/x';
    assert.equal(live.catalog.provenance(key)?.offset, 3);
    assert.deepEqual(exact.catalog.snapshot(), live.catalog.snapshot());
    assert.equal(exact.catalog.provenance(key)?.offset, 3);
  });

  it('diffs two points by resource and field', () => {
    const d = replay().diff('uuid-1', { type: 'offset', offset: 3 }, { type: 'offset', offset: 7 });
    const cds = d.types.find((t) => t.type === 'CDS')!;
    assert.deepEqual(cds.removed, ['shop/b']);
    assert.deepEqual(cds.added, []);
    assert.deepEqual(
      cds.changed.map((c) => [c.name, c.fields]),
      [['shop/a', [{ path: 'altStatName', before: 'shop/a:80', after: 'shop/a:81' }]]],
    );
    assert.deepEqual(d.types.find((t) => t.type === 'SDS')!.added, ['service-cert:shop/sa1']);
    assert.equal(replay().diff('uuid-1', { type: 'offset', offset: 5 }, { type: 'offset', offset: 5 }).identical, true);
    assert.throws(() => replay().diff('uuid-1', { type: 'offset', offset: 5 }, { type: 'offset', offset: 3 }), /comes before the first/);
  });

  it('explains a resource by the events its derivation read', () => {
    const r = replay();
    const why = r.explain('uuid-1', { type: 'offset', offset: 6 }, 'cluster/shop/a');
    assert.equal(why.derivation, 't/cluster/shop/a');
    assert.deepEqual(why.events.map((e) => [e.offset, e.kind, e.key]), [[5, 'Service', 'shop/a']]);
    const secret = r.explain('uuid-1', { type: 'offset', offset: 6 }, 'SDS/service-cert:shop/sa1');
    assert.deepEqual(secret.events.map((e) => [e.offset, e.kind, e.source]), [[4, 'CertificateIssued', 'ca']]);
    assert.equal(secret.resource.version, 'redacted');
    assert.throws(() => r.explain('uuid-1', { type: 'head' }, 'CDS/shop/zzz'), /has no CDS resource named "shop\/zzz".*"shop\/a"/);
    assert.throws(() => r.explain('uuid-1', { type: 'head' }, 'nonsense'), /must be <type>\/<resource-name>/);
  });

  it('steps batch by batch: which proxies and resources each changed, recomputing only dirtied roots', () => {
    const steps = [...replay().step()];
    const summary = steps.map((s) => [s.events[0]!.offset, s.proxiesChanged, s.proxies.map((p) => `${p.uuid}:${p.change}:${p.resources.map((x) => `${x.type}${x.change[0]}${x.name}`).join(',')}`)]);
    assert.deepEqual(summary, [
      [0, 1, ['uuid-1:appeared:CDSashop/a']],
      [3, 1, ['uuid-1:changed:CDSashop/b']],
      [4, 1, ['uuid-1:changed:SDSaservice-cert:shop/sa1']],
      [5, 1, ['uuid-1:changed:CDScshop/a']],
      [6, 1, ['uuid-2:appeared:CDSashop/a,CDSashop/b']],
      [7, 2, ['uuid-1:changed:CDSrshop/b', 'uuid-2:changed:CDSrshop/b']],
      [8, 1, ['uuid-1:gone:SDSrservice-cert:shop/sa1,CDSrshop/a']],
    ]);
    const one = [...replay().step({ proxy: 'uuid-2', from: { type: 'offset', offset: 5 } })];
    assert.deepEqual(one.map((s) => s.proxiesChanged), [0, 1, 1, 0]);
    assert.match(formatStep(steps[5]!), /^@7\t.*files delete Service shop\/b\t-> 2 proxies changed\n {4}uuid-1 \(shop\/sa1\) changed: CDS -shop\/b\n/);
  });

  it("prints Envoy's config dump: canonical JSON, last_updated from the event that produced each version, deterministic", () => {
    const r = replay();
    const dump = r.envoyConfig('uuid-1', { type: 'offset', offset: 6 });
    assert.deepEqual(r.envoyConfig('uuid-1', { type: 'offset', offset: 6 }), dump, 'same answer twice');
    const at = (offset: number): string => new Date(1_700_000_000_000 + offset + 1).toISOString();
    const [clusters, endpoints, listeners, routes, secrets] = dump.configs;
    const versions = new Map(r.config('uuid-1', { type: 'offset', offset: 6 }).types.flatMap((t) => t.resources.map((x) => [x.name, x.version] as const)));
    assert.deepEqual(clusters, {
      '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
      version_info: clusters!['version_info'],
      dynamic_active_clusters: [
        // shop/a changed port at offset 5, shop/b was created at offset 3.
        { version_info: versions.get('shop/a')!, cluster: { '@type': TypeUrl.Cluster, name: 'shop/a', alt_stat_name: 'shop/a:81' }, last_updated: at(5) },
        { version_info: versions.get('shop/b')!, cluster: { '@type': TypeUrl.Cluster, name: 'shop/b', alt_stat_name: 'shop/b:90' }, last_updated: at(3) },
      ],
    });
    assert.match(String(clusters!['version_info']), /^[0-9a-f]{16}$/);
    for (const [section, name] of [
      [endpoints, 'Endpoints'],
      [listeners, 'Listeners'],
      [routes, 'Routes'],
    ] as const) {
      assert.deepEqual(section, { '@type': `type.googleapis.com/envoy.admin.v3.${name}ConfigDump` }, 'empty lists are left out');
    }
    assert.deepEqual(secrets, {
      '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
      dynamic_active_secrets: [
        {
          name: 'service-cert:shop/sa1',
          version_info: 'redacted',
          // The certificate was issued at offset 4; the key reads as Envoy's admin shows it.
          last_updated: at(4),
          secret: {
            '@type': TypeUrl.Secret,
            name: 'service-cert:shop/sa1',
            tls_certificate: { private_key: { inline_bytes: Buffer.from('[redacted]').toString('base64') } },
          },
        },
      ],
    });
    // The earlier version of shop/a is dated by the event that made it, not by the point asked for.
    const earlier = r.envoyConfig('uuid-1', { type: 'offset', offset: 4 }).configs[0]!['dynamic_active_clusters'] as { last_updated: string }[];
    assert.deepEqual(
      earlier.map((c) => c.last_updated),
      // shop/a was created at offset 1 (in the first batch), shop/b at offset 3.
      [at(1), at(3)],
    );
  });

  it('never prints a key or a certificate: keys redacted, PEM certificates as their fingerprints', () => {
    const cert = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n';
    const key = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n';
    const message = {
      name: 's',
      tlsCertificate: { certificateChain: { inlineBytes: Buffer.from(cert + cert) }, privateKey: { inlineBytes: Buffer.from(key) } },
    };
    // An adapter that forgot to redact its dump: the bytes are fingerprinted all the same.
    const r = encodeResource(TypeUrl.Secret, 's', message, message);
    const json = canonicalResource(r);
    const text = JSON.stringify(json);
    assert.doesNotMatch(text, /PRIVATE KEY|BEGIN|MIGHAgEAMBMGByqGSM49|MIIBszCCAVmgAwIBAgIU/);
    assert.deepEqual(json['tls_certificate'], {
      certificate_chain: { inline_string: `sha256=${pemFingerprint(cert)},${pemFingerprint(cert)}` },
      private_key: { inline_bytes: Buffer.from('[redacted]').toString('base64') },
    });
    // An adapter's redacted stand-in is shown as it wrote it.
    const shadowed = canonicalResource(encodeResource(TypeUrl.Secret, 's', message, { name: 's', tlsCertificate: { certificateChain: { sha256: 'ab', serial: '01' } } }));
    assert.deepEqual((shadowed['tls_certificate'] as Record<string, unknown>)['certificate_chain'], { inline_string: 'sha256=ab serial=01' });
  });

  it('refuses to print PEM material, whatever an adapter dumps', () => {
    assert.throws(() => assertNoKeyMaterial('x -----BEGIN PRIVATE KEY----- y', 'the dump'), (e: ReplayError) => e.code === 'REPLAY_KEY_MATERIAL');
    assert.throws(() => render({ key: '-----BEGIN CERTIFICATE-----\nAAA' }, 'yaml', 'the dump'), /PEM material/);
    assert.match(render({ a: 1 }, 'yaml', 'x'), /^a: 1\n$/);
  });
});
