import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envoyType } from '@weft/protos';
import { TypeUrl } from './adapter.js';
import { encodeResource } from './encode.js';
import { decodeDeltaRequest, decodeSotwRequest, encodeDeltaResponse, encodeSotwResponse } from './wire.js';

describe('ADS wire format', () => {
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
});
