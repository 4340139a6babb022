import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@weft/core';
import { DeltaClient } from '../support/delta-client.js';
import { assertProxiesLoad, heldResources, holdEverything } from '../support/load-check.js';
import { waitFor, type TestMesh } from '../support/mesh.js';
import {
  countReplies,
  docs,
  endpointsYaml,
  loadXds,
  manifestEvents,
  NAMESPACE,
  podYaml,
  proxy,
  sayHello,
  serviceYaml,
  startGrpcMesh,
  startPlainBackend,
  xdsClient,
  type Backend,
} from './workloads.js';
import type { GrpcAdapter } from '@weft/plugin-grpc';

/**
 * Real @grpc/grpc-js-xds clients on config from the gRPC adapter: a TrafficSplit's weights over 1,000 RPCs,
 * a weight change on the live channel (no new ADS stream), endpoints added and drained.
 *
 * Tolerance: each RPC picks a backend independently, so a backend of weight share p over n RPCs has a
 * binomial count with standard deviation sqrt(n p (1-p)), at most 15.8 RPCs (1.6 points) for n = 1,000.
 * The test accepts 5 points, more than 3 standard deviations.
 */
const N = 1000;
const TOLERANCE = 0.05;
const CLIENT = proxy('grpc-split-client', 'demo', 'client');

function split(v1: number, v2: number): string {
  return `
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata:
  name: greeter-split
  namespace: demo
spec:
  service: greeter
  backends:
    - service: greeter-v1
      weight: ${v1}
    - service: greeter-v2
      weight: ${v2}
`;
}

describe('traffic split and endpoints with real gRPC clients', () => {
  let mesh: TestMesh;
  let adapter: GrpcAdapter;
  let v1: Backend;
  let v1b: Backend;
  let v2: Backend;
  let client: grpc.Client;

  const routesAcked = (): string | null => {
    const t = mesh.server.proxy(CLIENT.uuid)?.types.find((x) => x.typeUrl === TypeUrl.RouteConfiguration);
    return t !== undefined && t.ackedVersion === t.lastVersionSent && t.inFlightNonce === null ? t.ackedVersion : null;
  };
  const endpointsAcked = (): string | null => {
    const t = mesh.server.proxy(CLIENT.uuid)?.types.find((x) => x.typeUrl === TypeUrl.ClusterLoadAssignment);
    return t !== undefined && t.ackedVersion === t.lastVersionSent && t.inFlightNonce === null ? t.ackedVersion : null;
  };

  before(async () => {
    const xds = await loadXds();
    ({ mesh, adapter } = await startGrpcMesh({ mtls: false }));
    [v1, v1b, v2] = await Promise.all([startPlainBackend('v1'), startPlainBackend('v1b'), startPlainBackend('v2')]);
    await mesh.append(
      manifestEvents(
        docs(
          NAMESPACE('demo'),
          serviceYaml('demo', 'greeter', { app: 'greeter' }),
          serviceYaml('demo', 'greeter-v1', { app: 'greeter', version: 'v1' }),
          serviceYaml('demo', 'greeter-v2', { app: 'greeter', version: 'v2' }),
          podYaml('demo', 'client-0', 'client', { app: 'client' }, CLIENT.uuid),
          podYaml('demo', 'greeter-v1-0', 'greeter', { app: 'greeter', version: 'v1' }, 'g-v1-0', v1.port),
          podYaml('demo', 'greeter-v1-1', 'greeter', { app: 'greeter', version: 'v1' }, 'g-v1-1', v1b.port),
          podYaml('demo', 'greeter-v2-0', 'greeter', { app: 'greeter', version: 'v2' }, 'g-v2-0', v2.port),
          endpointsYaml('demo', 'greeter-v1', [{ pod: 'greeter-v1-0', port: v1.port }]),
          endpointsYaml('demo', 'greeter-v2', [{ pod: 'greeter-v2-0', port: v2.port }]),
          split(80, 20),
        ),
      ),
    );
    client = xdsClient(xds, 'xds:///greeter.demo', adapter.bootstrap(CLIENT, { host: '127.0.0.1', port: mesh.port }), false);
  });

  after(async () => {
    client?.close();
    await mesh?.close();
    for (const b of [v1, v1b, v2]) b?.close();
  });

  it(`spreads ${N} RPCs by the split weights within ${TOLERANCE * 100} points, and follows a weight change on the same stream`, async () => {
    await sayHello(client);
    const streamId = mesh.server.proxy(CLIENT.uuid)?.id;
    const connects = await mesh.metrics.value('osm_proxy_connect_count');
    assert.ok(streamId !== undefined);

    let counts = await countReplies(client, N);
    const share1 = (counts.get('v1') ?? 0) / N;
    assert.equal((counts.get('v1') ?? 0) + (counts.get('v2') ?? 0), N, `only v1 and v2 answer: ${JSON.stringify([...counts])}`);
    assert.ok(Math.abs(share1 - 0.8) <= TOLERANCE, `v1 got ${share1 * 100}% of ${N} RPCs, expected 80% +- ${TOLERANCE * 100}`);

    await waitFor('routes acked', () => routesAcked() !== null);
    const before = routesAcked();
    await mesh.append(manifestEvents(split(20, 80)));
    await waitFor('new routes acked', () => routesAcked() !== null && routesAcked() !== before);
    counts = await countReplies(client, N);
    const share2 = (counts.get('v2') ?? 0) / N;
    assert.ok(Math.abs(share2 - 0.8) <= TOLERANCE, `after the change v2 got ${share2 * 100}% of ${N} RPCs, expected 80% +- ${TOLERANCE * 100}`);

    assert.equal(mesh.server.proxy(CLIENT.uuid)?.id, streamId, 'the same ADS stream carried the change');
    assert.equal(await mesh.metrics.value('osm_proxy_connect_count'), connects, 'no new ADS connection');
  });

  it('brings traffic to an added endpoint and drains a removed one', async () => {
    await mesh.append(manifestEvents(split(100, 0)));
    await waitFor('all traffic on v1', async () => (await sayHello(client)).server === 'v1' && (await sayHello(client)).server === 'v1');
    await mesh.append(manifestEvents(endpointsYaml('demo', 'greeter-v1', [{ pod: 'greeter-v1-0', port: v1.port }, { pod: 'greeter-v1-1', port: v1b.port }])));
    await waitFor('traffic on the added endpoint', async () => (await sayHello(client)).server === 'v1b');
    let counts = await countReplies(client, 200);
    assert.ok((counts.get('v1') ?? 0) > 40 && (counts.get('v1b') ?? 0) > 40, `both v1 endpoints serve: ${JSON.stringify([...counts])}`);

    const acked = endpointsAcked();
    await mesh.append(manifestEvents(endpointsYaml('demo', 'greeter-v1', [{ pod: 'greeter-v1-1', port: v1b.port }])));
    await waitFor('endpoints acked', () => endpointsAcked() !== null && endpointsAcked() !== acked);
    const callsBefore = v1.calls;
    counts = await countReplies(client, 200);
    assert.equal(counts.get('v1b'), 200, `the removed endpoint gets nothing: ${JSON.stringify([...counts])}`);
    assert.equal(v1.calls, callsBefore, 'v1 served no RPC after its removal was acknowledged');

    // After the split and endpoint changes, everything the gRPC adapter serves the client's identity, as one
    // configuration, passes Envoy's load-time rules (a proxyless client reads the same fields).
    const everything = new DeltaClient(`127.0.0.1:${mesh.port}`, { id: 'grpc-split-check', metadata: { kind: 'grpc', namespace: 'demo', serviceAccount: 'client' } });
    try {
      const held = await holdEverything(everything, [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration]);
      assert.ok(held.get(TypeUrl.Listener)?.has('greeter.demo'), 'it holds the listener the real client resolves');
      assertProxiesLoad([{ proxy: 'grpc-split/demo/client', resources: heldResources(held) }]);
    } finally {
      everything.close();
    }
  });
});
