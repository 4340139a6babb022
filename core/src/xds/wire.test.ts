import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envoyType } from '@weft/protos';
import { TypeUrl } from './adapter.js';
import { encodeResource } from './encode.js';
import { decodeDeltaRequest, decodeSotwRequest, encodeDeltaResponse, encodeSotwResponse, fullDelta, fullSotw, MalformedNodeError, type AdsRequest, type MalformedRequest } from './wire.js';

describe('ADS wire format', () => {
  /** A seeded generator, so a failure names a case that can be run again. */
  const rng = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pick = <T>(next: () => number, xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const anyT = envoyType('google.protobuf.Any');
  const t2any = (bytes: Uint8Array): object => anyT.toObject(anyT.decode(bytes));
  const a = encodeResource(TypeUrl.Cluster, 'ns/a', { name: 'ns/a', connectTimeout: { seconds: 1 } });
  const b = encodeResource(TypeUrl.Cluster, 'ns/b', { name: 'ns/b' });

  it('writes a DiscoveryResponse protobufjs decodes to the same resources', () => {
    const bytes = encodeSotwResponse({ versionInfo: 'v1', typeUrl: TypeUrl.Cluster, nonce: '7', resources: [a, b] });
    const m = envoyType('envoy.service.discovery.v3.DiscoveryResponse').toObject(
      envoyType('envoy.service.discovery.v3.DiscoveryResponse').decode(bytes),
    ) as { versionInfo: string; typeUrl: string; nonce: string; resources: { type_url: string; value: Uint8Array }[]; controlPlane: { identifier: string } };
    assert.equal(m.versionInfo, 'v1');
    assert.equal(m.typeUrl, TypeUrl.Cluster);
    assert.equal(m.nonce, '7');
    assert.equal(m.controlPlane.identifier, 'weft');
    assert.deepEqual(m.resources.map((r) => r.type_url), [TypeUrl.Cluster, TypeUrl.Cluster]);
    const cluster = envoyType(TypeUrl.Cluster).decode(m.resources[0]!.value) as unknown as { name: string };
    assert.equal(cluster.name, 'ns/a');
  });

  it('writes a DeltaDiscoveryResponse with per-resource versions and removals', () => {
    const bytes = encodeDeltaResponse({ systemVersionInfo: 's', typeUrl: TypeUrl.Cluster, nonce: '3', resources: [a], removed: ['ns/x', 'ns/y'] });
    const t = envoyType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
    const m = t.toObject(t.decode(bytes)) as { resources: { name: string; version: string }[]; removedResources: string[]; nonce: string };
    assert.deepEqual(m.resources.map((r) => [r.name, r.version]), [['ns/a', a.version]]);
    assert.deepEqual(m.removedResources, ['ns/x', 'ns/y']);
    assert.equal(m.nonce, '3');
  });

  it('writes responses byte for byte as protobufjs encodes them, whatever the sizes and characters', () => {
    const sotwT = envoyType('envoy.service.discovery.v3.DiscoveryResponse');
    const deltaT = envoyType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
    const next = rng(7);
    const texts = ['', 'v', 'é-ü/名前', 'x'.repeat(200), String(2 ** 31)];
    // Resources whose Any spans one, two and three varint bytes of length.
    const pool = [a, b, ...[10, 130, 20_000].map((n, i) => encodeResource(TypeUrl.Cluster, `ns/${'é'.repeat(i)}big-${n}`, { name: `ns/big-${n}`, altStatName: 's'.repeat(n) }))];
    for (let i = 0; i < 200; i++) {
      const resources = pool.filter(() => next() < 0.5);
      const version = pick(next, texts);
      const nonce = pick(next, texts);
      // protobufjs writes a string it was given even when empty; proto3 (and Weft) leave empty strings out.
      const opt = (t: string): string | undefined => (t === '' ? undefined : t);
      const anys = resources.map((r) => t2any(r.any));
      const controlPlane = { identifier: 'weft' };
      const sotw = encodeSotwResponse({ versionInfo: version, typeUrl: TypeUrl.Cluster, nonce, resources });
      const sotwRef = sotwT.encode(sotwT.fromObject({ versionInfo: opt(version), resources: anys, typeUrl: TypeUrl.Cluster, nonce: opt(nonce), controlPlane })).finish();
      assert.deepEqual(Buffer.from(sotw), Buffer.from(sotwRef), `sotw case ${i}`);
      const removed = texts.filter((t) => t !== '' && next() < 0.4);
      const delta = encodeDeltaResponse({ systemVersionInfo: version, typeUrl: TypeUrl.ClusterLoadAssignment, nonce, resources, removed });
      const deltaRef = deltaT
        .encode(
          deltaT.fromObject({
            systemVersionInfo: opt(version),
            resources: resources.map((r, j) => ({ version: r.version, resource: anys[j], name: r.name })),
            typeUrl: TypeUrl.ClusterLoadAssignment,
            nonce: opt(nonce),
            removedResources: removed,
            controlPlane,
          }),
        )
        .finish();
      assert.deepEqual(Buffer.from(delta), Buffer.from(deltaRef), `delta case ${i}`);
    }
  });

  it('decodes requests, and turns garbage into a malformed value instead of throwing', () => {
    const t = envoyType('envoy.service.discovery.v3.DiscoveryRequest');
    const req = decodeSotwRequest(
      t.encode(
        t.fromObject({
          typeUrl: TypeUrl.Listener,
          resourceNames: ['x'],
          responseNonce: '1',
          node: { id: 'n', metadata: { fields: { kind: { stringValue: 'grpc' } } } },
          errorDetail: { code: 3, message: 'no' },
        }),
      ).finish(),
    );
    assert.equal(req.kind, 'sotw');
    if (req.kind !== 'sotw') return;
    assert.deepEqual(req.resourceNames, ['x']);
    assert.equal(req.node?.metadata['kind'], 'grpc');
    assert.equal(req.errorDetail?.message, 'no');
    const bad = decodeDeltaRequest(Buffer.from([0xff, 0xff, 0xff]));
    assert.equal(bad.kind, 'malformed');
  });

  const plain = (r: AdsRequest | MalformedRequest): unknown => {
    if (r.kind === 'malformed') return 'malformed';
    let node: unknown;
    try {
      node = r.node;
    } catch {
      node = 'bad node';
    }
    // Copied field by field: a spread or a rest pattern would read the node's getter again.
    const rest: Record<string, unknown> = {};
    for (const k of Object.keys(r)) if (k !== 'node') rest[k] = (r as unknown as Record<string, unknown>)[k];
    return { ...rest, node, ...(r.kind === 'delta' ? { initialResourceVersions: [...r.initialResourceVersions] } : {}) };
  };

  it('the lean envelope reader decodes what protobufjs decodes, and never refuses what protobufjs accepts', () => {
    const sotwT = envoyType('envoy.service.discovery.v3.DiscoveryRequest');
    const deltaT = envoyType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
    const next = rng(16);
    const names = ['a', 'ns/b', 'outbound|8080||svc.ns', 'é', ''];
    let agreed = 0;
    for (let i = 0; i < 400; i++) {
      const node = next() < 0.7 ? { id: `p-${i}`, cluster: 'c', metadata: { fields: { kind: { stringValue: 'envoy' }, n: { numberValue: i }, b: { boolValue: true } } } } : undefined;
      const errorDetail = next() < 0.3 ? { code: Math.floor(next() * 20) - 2, message: pick(next, names) } : undefined;
      const sotwBytes = sotwT
        .encode(sotwT.fromObject({ versionInfo: pick(next, names), node, resourceNames: names.filter(() => next() < 0.5), typeUrl: pick(next, [TypeUrl.Cluster, TypeUrl.Listener]), responseNonce: String(i), errorDetail }))
        .finish();
      const deltaBytes = deltaT
        .encode(
          deltaT.fromObject({
            node,
            typeUrl: TypeUrl.ClusterLoadAssignment,
            resourceNamesSubscribe: names.filter(() => next() < 0.5),
            resourceNamesUnsubscribe: names.filter(() => next() < 0.2),
            initialResourceVersions: next() < 0.3 ? { a: '1', 'ns/b': '2' } : {},
            responseNonce: String(i),
            errorDetail,
          }),
        )
        .finish();
      for (const [bytes, lean, full] of [
        [sotwBytes, decodeSotwRequest, fullSotw],
        [deltaBytes, decodeDeltaRequest, fullDelta],
      ] as const) {
        assert.deepEqual(plain(lean(bytes)), plain(full(bytes)), `case ${i}`);
        // The same bytes damaged: a byte changed, or cut short.
        const bad = Buffer.from(bytes);
        if (bad.length === 0) continue;
        if (next() < 0.5) bad[Math.floor(next() * bad.length)] = Math.floor(next() * 256);
        const damaged = next() < 0.5 ? bad : bad.subarray(0, Math.floor(next() * bad.length));
        const l = plain(lean(damaged));
        const f = plain(full(damaged));
        if (f !== 'malformed') {
          assert.notEqual(l, 'malformed', `case ${i}: lean refused what protobufjs accepts`);
          assert.deepEqual(l, f, `case ${i}: damaged`);
          agreed++;
        }
      }
    }
    assert.ok(agreed > 50, `only ${agreed} damaged cases were still valid: the comparison proved little`);
  });

  it('a node is decoded only when read, and a malformed one says so then', () => {
    const t = envoyType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
    // Field 1 (node) holding one byte: the tag of the node's id with no length after it.
    const bytes = Buffer.concat([Buffer.from([0x0a, 0x01, 0x0f]), t.encode(t.fromObject({ typeUrl: TypeUrl.Cluster })).finish()]);
    const r = decodeDeltaRequest(bytes);
    assert.equal(r.kind, 'delta');
    if (r.kind !== 'delta') return;
    assert.equal(r.typeUrl, TypeUrl.Cluster);
    assert.throws(() => r.node, (e: unknown) => e instanceof MalformedNodeError && e.size === 1);
    assert.equal(fullDelta(bytes).kind, 'malformed', 'protobufjs refuses the whole request');
  });
});
