import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { EventFactory, certificateIssuedBody, namespaceBody, serviceBody, workloadBody } from '../catalog/fixtures.js';
import { INDEX_NAMES } from '../catalog/indexes.js';
import { CertExternals, type ServiceCertificate } from '../certs/types.js';
import type { DerivationSpec } from '../derive/types.js';
import { FileEventLog } from '../log/file-log.js';
import type { LogBatch, MeshEvent } from '../log/types.js';
import { silentLogger } from '../observe/logger.js';
import { TypeUrl, type EncodedResource, type ProxyAdapter, type ProxyIdentity, type ResourceSet } from '../xds/adapter.js';
import { encodeResource } from '../xds/encode.js';
import { render } from './dump.js';
import { Replay } from './replay.js';
import type { ReplayState } from './state.js';
import { Timeline } from './timeline.js';

/**
 * A config dump folds only the last event of each resource (ReplayState.advanceTo `compact`); these tests
 * hold it to the full fold: same resources, sources, indexes and certificate externals at every point, and
 * byte-identical dumps, from memory and from a file log.
 */

/** Clusters from what the indexes say the proxy's identity serves and reaches, plus its certificate. */
const adapter: ProxyAdapter = {
  kind: 'test',
  typeUrls: [TypeUrl.Secret, TypeUrl.Cluster],
  resources(proxy: ProxyIdentity, typeUrl: string): DerivationSpec<ResourceSet> {
    return {
      id: `c/set/${typeUrl}/${proxy.uuid}@${proxy.namespace}/${proxy.serviceAccount}`,
      compute(r) {
        const out = new Map<string, EncodedResource>();
        if (typeUrl === TypeUrl.Cluster) {
          const own = r.lookup('servicesByServiceAccount', `${proxy.namespace}/${proxy.serviceAccount}`);
          for (const s of r.list('Service')) {
            const key = `${s.meta.namespace}/${s.meta.name}`;
            const members = r.lookup('workloadsByService', key).join(',');
            const name = `${key}${own.includes(key) ? ' (own)' : ''}`;
            out.set(name, encodeResource(TypeUrl.Cluster, name, { name, altStatName: `${s.ports[0]!.port}:${members}` }));
          }
        } else {
          const cert = r.external<ServiceCertificate>(CertExternals.serviceCert(proxy.namespace, proxy.serviceAccount));
          if (cert !== undefined) {
            const name = `service-cert:${proxy.namespace}/${proxy.serviceAccount}`;
            out.set(name, encodeResource(TypeUrl.Secret, name, { name }, { name, sha256: cert.fingerprint }));
          }
        }
        return out;
      },
    };
  },
};

/** Upserts, deletes, re-creates, A -> B -> A within a batch and across batches, certificates issued and revoked. */
function history(): LogBatch[] {
  const f = new EventFactory('files');
  const svcA80 = serviceBody('shop', 'a', { app: 'a' }, 80);
  const svcA81 = serviceBody('shop', 'a', { app: 'a' }, 81);
  const p1 = workloadBody('shop', 'p1', { app: 'a' }, 'sa1', { proxyUuid: 'uuid-1' });
  const p1moved = workloadBody('shop', 'p1', { app: 'b' }, 'sa2', { proxyUuid: 'uuid-1' });
  return [
    f.batch(f.upsert('Namespace', namespaceBody('shop')), f.upsert('Service', svcA80), f.upsert('Workload', p1)),
    f.batch(f.upsert('Service', serviceBody('shop', 'b', { app: 'b' }, 90))),
    f.batch(f.upsert('CertificateIssued', certificateIssuedBody('shop', 'sa1', 'ab'.repeat(32)), 'ca')),
    // A -> B -> A across batches, then within one batch.
    f.batch(f.upsert('Service', svcA81)),
    f.batch(f.upsert('Service', svcA80)),
    f.batch(f.upsert('Service', svcA81), f.upsert('Service', svcA80, 'kubernetes')),
    f.batch(f.upsert('Workload', workloadBody('shop', 'p2', { app: 'b' }, 'sa2', { proxyUuid: 'uuid-2' }))),
    // The workload changes identity and selection, and back.
    f.batch(f.upsert('Workload', p1moved)),
    f.batch(f.upsert('CertificateIssued', certificateIssuedBody('shop', 'sa1', 'cd'.repeat(32)), 'ca'), f.upsert('Workload', p1)),
    f.batch(f.delete('Service', 'shop/b')),
    f.batch(f.delete('Workload', 'shop/p1'), f.delete('CertificateIssued', 'shop/sa1')),
    // Re-created, differently, then deleted and re-created as before.
    f.batch(f.upsert('Service', serviceBody('shop', 'b', { app: 'a' }, 91))),
    f.batch(f.upsert('Workload', p1), f.upsert('CertificateIssued', certificateIssuedBody('shop', 'sa1', 'ef'.repeat(32)), 'ca')),
    f.batch(f.delete('Service', 'shop/b'), f.delete('Service', 'shop/missing')),
    f.batch(f.upsert('Service', serviceBody('shop', 'b', { app: 'b' }, 90))),
  ];
}

/** Everything a config dump can read from a state: resources with their sources, indexes, certificate externals. */
function observable(state: ReplayState): unknown {
  const { resources, lastOffset } = state.catalog.snapshot();
  return {
    lastOffset,
    resources,
    indexes: INDEX_NAMES.map((i) => [i, state.catalog.entries(i)]),
    certs: ['sa1', 'sa2'].map((sa) => state.external(CertExternals.serviceCert('shop', sa)) ?? null),
    at: state.at(),
  };
}

function compare(replay: Replay, label: string): void {
  const t = replay.timeline;
  for (let i = 0; i < t.length; i++) {
    const point = { type: 'offset', offset: t.bounds(i).firstOffset } as const;
    const full = replay.stateAt(point);
    const exact = replay.stateAt(point, { exact: true });
    const compact = replay.stateAt(point, { compact: true });
    assert.deepEqual(observable(compact), observable(full), `${label}: state after batch ${i}`);
    assert.deepEqual(observable(compact), observable(exact), `${label}: state after batch ${i} (batch by batch)`);
    for (const proxy of ['uuid-1', 'uuid-2', 'shop/sa1']) {
      let want: string;
      try {
        want = render(replay.dump(full, replay.resolve(full, proxy, point)), 'json', 'dump');
      } catch {
        // Not a proxy yet at this point; replay.config must fail the same way below.
        assert.throws(() => replay.config(proxy, point));
        continue;
      }
      assert.equal(render(replay.config(proxy, point), 'json', 'dump'), want, `${label}: ${proxy} after batch ${i}`);
    }
  }
}

describe('compacted replay fold (config dumps)', () => {
  it('leaves the same state and byte-identical dumps as the full fold at every point, from memory', () => {
    const replay = new Replay(Timeline.fromBatches(history(), 'memory'), { adapters: [adapter] });
    compare(replay, 'memory');
    // The history does exercise what it claims: the certificate and a cluster are in the head's dump.
    const head = replay.config('uuid-1');
    assert.deepEqual(
      head.types.map((x) => [x.type, x.resources.map((r) => r.name)]),
      [
        ['SDS', ['service-cert:shop/sa1']],
        ['CDS', ['shop/a (own)', 'shop/b']],
      ],
    );
  });

  it('does the same from a file log, whose bodies it parses only for the kept events', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-compact-'));
    try {
      const log = await FileEventLog.open(dir, { logger: silentLogger });
      for (const b of history()) {
        await log.append(b.events.map(({ source, op, kind, key, body, time }: MeshEvent) => ({ source, op, kind, key, time, ...(body === undefined ? {} : { body }) })));
      }
      await log.close();
      const ro = await FileEventLog.open(dir, { readOnly: true, logger: silentLogger });
      const replay = await Replay.open(ro, dir, { adapters: [adapter] });
      await ro.close();
      assert.ok(replay.timeline.bodiesFromJson, 'the timeline holds encoded records');
      const kept = replay.timeline.lastEvents(0, replay.timeline.length - 1);
      // The last event of each resource, in offset order (a delete of what never existed included).
      assert.deepEqual(
        kept.map((e) => `${e.offset} ${e.op} ${e.kind} ${e.key}`),
        [
          '0 upsert Namespace shop',
          '8 upsert Service shop/a',
          '9 upsert Workload shop/p2',
          '17 upsert Workload shop/p1',
          '18 upsert CertificateIssued shop/sa1',
          '20 delete Service shop/missing',
          '21 upsert Service shop/b',
        ],
      );
      assert.equal((kept.find((e) => e.key === 'shop/a')!.body as { ports: { port: number }[] }).ports[0]!.port, 80);
      compare(replay, 'file log');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
