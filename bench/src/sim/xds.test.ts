import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeAnyBytes, envoyType } from '@weft/core';
import { clusterRefs, decodeRequest, decodeResources, decodeResponse, encodeDeltaRequest, encodeDeltaResponse, encodeNode, encodeSotwRequest, encodeSotwResponse, listenerRefs, T } from './xds.js';
import { envoyProtos } from '@weft/protos';

function any(typeUrl: string, obj: object): Uint8Array {
  const type = envoyType(typeUrl);
  return encodeAnyBytes(typeUrl, type.encode(type.fromObject(obj)).finish());
}

test('SotW request round trip through the walker', () => {
  const buf = encodeSotwRequest({ nodeId: 'n1', typeUrl: T.EDS, version: 'v1', names: ['a', 'b'], nonce: '7' });
  assert.deepEqual(decodeRequest(buf, false), { nodeId: 'n1', typeUrl: T.EDS, nonce: '7', names: ['a', 'b'], error: false });
  // The real codec reads the same message.
  const decoded = envoyProtos().lookupType('envoy.service.discovery.v3.DiscoveryRequest').decode(buf).toJSON();
  assert.deepEqual(decoded, { versionInfo: 'v1', node: { id: 'n1' }, resourceNames: ['a', 'b'], typeUrl: T.EDS, responseNonce: '7' });
  const nack = encodeSotwRequest({ typeUrl: T.CDS, nonce: '8', error: 'bad' });
  assert.equal(decodeRequest(nack, false).error, true);
});

test('delta request carries subscriptions and the NACK status', () => {
  const buf = encodeDeltaRequest({ nodeId: 'n', typeUrl: T.RDS, subscribe: ['r1'], unsubscribe: ['r0'], nonce: '3', error: 'x' });
  const decoded = envoyProtos().lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest').decode(buf).toJSON();
  assert.deepEqual(decoded, {
    node: { id: 'n' },
    typeUrl: T.RDS,
    resourceNamesSubscribe: ['r1'],
    resourceNamesUnsubscribe: ['r0'],
    responseNonce: '3',
    errorDetail: { code: 3, message: 'x' },
  });
});

test('responses: envelope, names and a wrong Any type is reported', () => {
  const cla = any(T.EDS, { clusterName: 'ns/a|80' });
  const sotw = decodeResponse(encodeSotwResponse(T.EDS, '5', '9', [cla]), false);
  assert.equal(sotw.typeUrl, T.EDS);
  assert.equal(sotw.version, '5');
  assert.equal(sotw.nonce, '9');
  assert.deepEqual(sotw.resources.map((r) => r.name), ['ns/a|80']);
  assert.equal(sotw.problem, undefined);
  const wrong = decodeResponse(encodeSotwResponse(T.CDS, '1', '1', [cla]), false);
  assert.match(wrong.problem ?? '', /ClusterLoadAssignment/);
  const delta = decodeResponse(encodeDeltaResponse(T.EDS, '4', [{ name: 'ns/a|80', version: 'h1', any: cla }], ['gone']), true);
  assert.deepEqual(delta.resources.map((r) => [r.name, r.version]), [['ns/a|80', 'h1']]);
  assert.deepEqual(delta.removed, ['gone']);
});

test('clusters and listeners name what Envoy subscribes to next', () => {
  const tls = {
    typeUrl: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
    commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: 'cert' }], validationContextSdsSecretConfig: { name: 'root' } },
  };
  const upstream = envoyType(tls.typeUrl);
  const cluster = any(T.CDS, {
    name: 'c1',
    type: 'EDS',
    edsClusterConfig: { serviceName: 'eds-1' },
    transportSocket: { name: 'tls', typedConfig: { type_url: tls.typeUrl, value: upstream.encode(upstream.fromObject({ commonTlsContext: tls.commonTlsContext })).finish() } },
  });
  const resp = encodeSotwResponse(T.CDS, '1', '1', [cluster]);
  const env = decodeResponse(resp, false);
  assert.deepEqual(clusterRefs(resp, env.resources[0]!.value), { eds: 'eds-1', secrets: ['cert', 'root'] });

  const hcmUrl = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
  const hcm = envoyType(hcmUrl);
  const hcmBytes = hcm.encode(hcm.fromObject({ statPrefix: 's', rds: { routeConfigName: 'rds-1', configSource: { ads: {} } } })).finish();
  const listener = any(T.LDS, { name: 'l1', filterChains: [{ filters: [{ name: 'hcm', typedConfig: { type_url: hcmUrl, value: hcmBytes } }] }] });
  const lresp = encodeSotwResponse(T.LDS, '1', '1', [listener]);
  const lenv = decodeResponse(lresp, false);
  assert.deepEqual(listenerRefs(lresp, lenv.resources[0]!.value), { routes: ['rds-1'], secrets: [] });
});

test('simulated proxies send the whole node on every request, as Envoy does by default', () => {
  const node = encodeNode('uuid.envoy.sa.ns.cluster.local', 'sa');
  for (const buf of [encodeSotwRequest({ node, typeUrl: T.EDS, nonce: '3', version: '2' }), encodeSotwRequest({ node, typeUrl: T.CDS })]) {
    const decoded = envoyProtos().lookupType('envoy.service.discovery.v3.DiscoveryRequest').decode(buf).toJSON() as { node: Record<string, unknown> };
    assert.equal(decoded.node.id, 'uuid.envoy.sa.ns.cluster.local');
    assert.equal(decoded.node.cluster, 'sa');
    assert.equal(decoded.node.userAgentName, 'envoy');
    assert.ok(Array.isArray(decoded.node.clientFeatures));
  }
  const delta = envoyProtos().lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest').decode(encodeDeltaRequest({ node, typeUrl: T.RDS, nonce: '1' })).toJSON() as { node: { id: string } };
  assert.equal(delta.node.id, 'uuid.envoy.sa.ns.cluster.local');
});

test('simulated proxies decode every resource into its Envoy type, nested Anys included, and fail on garbage', () => {
  const hcmUrl = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
  const hcm = envoyType(hcmUrl);
  const hcmBytes = hcm.encode(hcm.fromObject({ statPrefix: 's', rds: { routeConfigName: 'rds-1', configSource: { ads: {} } } })).finish();
  const listener = any(T.LDS, { name: 'l1', filterChains: [{ filters: [{ name: 'hcm', typedConfig: { type_url: hcmUrl, value: hcmBytes } }] }] });
  const resp = encodeSotwResponse(T.LDS, '1', '1', [listener, listener]);
  // Two listeners, each with one HttpConnectionManager inside.
  assert.equal(decodeResources(resp, decodeResponse(resp, false)), 4);
  const bad = encodeSotwResponse(T.EDS, '1', '1', [encodeAnyBytes(T.EDS, Uint8Array.from([0x0a, 0x05, 0x61]))]);
  assert.throws(() => decodeResources(bad, decodeResponse(bad, false)));
});
