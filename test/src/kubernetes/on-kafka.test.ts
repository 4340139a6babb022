import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { captureLogger, TypeUrl } from '@weft/core';
import { normalizeConfig, startWeft, type RunningWeft, type WeftConfig } from '@weft/core/testing';
import { findBroker, type BrokerLookup } from '@weft/plugin-kafka/dist/testing.js';
import { Admin, findApiServer, type ApiServerLookup } from '@weft/plugin-kubernetes/dist/testing.js';
import { DeltaClient, type DeltaResponseView } from '../support/delta-client.js';
import { applyDelta, assertProxiesLoad, heldResources, partialExcept, type Held } from '../support/load-check.js';

/**
 * The deployment the mission names: Weft reading a real Kubernetes API server, keeping its log on a real
 * Kafka topic, serving an Envoy-kind proxy over ADS. A change made in the cluster travels apiserver ->
 * kubernetes source -> Kafka -> catalog -> derivations -> the proxy; a restart rebuilds the state from the
 * topic and appends nothing for a cluster that did not change.
 */

const ci = process.env['CI'] === 'true';
const run = Date.now().toString(36);
const ns = `weft-kk-${run}`;
const buyerUuid = randomUUID();
const shopUuid = randomUUID();

const pod = (name: string, app: string, sa: string, uuid: string): object => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { app, 'osm-proxy-uuid': uuid } },
  spec: {
    serviceAccountName: sa,
    automountServiceAccountToken: false,
    containers: [{ name: 'app', image: 'example.invalid/app:1', ports: [{ name: 'http', containerPort: 8080 }] }],
  },
});
const podIp = (ip: string): object => ({ status: { podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] } });
// The source reads EndpointSlices (its default), written here as the endpoint-slice controller would.
const slice = (ip: string): object => ({
  addressType: 'IPv4',
  endpoints: [{ addresses: [ip], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'shop-0', namespace: ns } }],
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
});

/** The next response of a type, ACKed; others in between are ACKed and skipped. */
/** The next response of a type, ACKing (and recording in `held`, what the client holds) every one on the way. */
async function nextOf(client: DeltaClient, typeUrl: string, held: Held = new Map()): Promise<DeltaResponseView> {
  for (;;) {
    const res = await client.next(15_000);
    client.ack(res);
    applyDelta(held, res);
    if (res.typeUrl === typeUrl) return res;
  }
}

function endpointIps(res: DeltaResponseView): string[] {
  const ips: string[] = [];
  for (const r of res.resources) {
    for (const group of (r.message['endpoints'] as Record<string, unknown>[] | undefined) ?? []) {
      for (const lb of (group['lbEndpoints'] as Record<string, unknown>[] | undefined) ?? []) {
        const address = ((lb['endpoint'] as Record<string, unknown>)['address'] as Record<string, unknown>)['socketAddress'] as Record<string, unknown>;
        ips.push(String(address['address']));
      }
    }
  }
  return ips.sort();
}

describe('Weft on Kubernetes with its log on Kafka', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-k8s-kafka-'));
  let broker: BrokerLookup;
  let apiserver: ApiServerLookup;
  let admin: Admin;
  let config: WeftConfig;
  let weft: RunningWeft | undefined;
  let client: DeltaClient | undefined;

  before(async () => {
    [broker, apiserver] = await Promise.all([findBroker(), findApiServer()]);
  });

  after(async () => {
    client?.close();
    await weft?.close();
    await broker?.stop?.();
    await apiserver?.stop?.();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pushes a change made in the cluster to a connected proxy, and restarts from the topic', async (t) => {
    const missing = [broker.brokers === null ? broker.reason : null, apiserver.kubeconfig === null ? apiserver.reason : null].filter((r) => r !== null);
    if (missing.length > 0) {
      if (ci) assert.fail(`CI=true and a peer is missing: ${missing.join('; ')}`);
      t.skip(missing.join('; '));
      return;
    }
    admin = await Admin.open(apiserver.kubeconfig!);
    const nsPath = `/api/v1/namespaces/${ns}`;
    const slicesPath = `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;
    await admin.create('/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, labels: { 'openservicemesh.io/monitored-by': 'osm' } },
    });
    for (const sa of ['buyer', 'shop']) await admin.create(`${nsPath}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa } });
    await admin.create(`${nsPath}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'shop' },
      spec: { selector: { app: 'shop' }, ports: [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'http' }] },
    });
    await admin.create(`${nsPath}/pods`, pod('buyer-0', 'buyer', 'buyer', buyerUuid));
    await admin.patch(`${nsPath}/pods/buyer-0/status`, podIp('10.9.0.1'));
    await admin.create(`${nsPath}/pods`, pod('shop-0', 'shop', 'shop', shopUuid));
    await admin.patch(`${nsPath}/pods/shop-0/status`, podIp('10.9.0.2'));
    await admin.create(`${slicesPath}`, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'shop-x1', labels: { 'kubernetes.io/service-name': 'shop' } },
      ...slice('10.9.0.2'),
    });
    await admin.create(`/apis/specs.smi-spec.io/v1alpha4/namespaces/${ns}/httproutegroups`, {
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: { name: 'shop-routes' },
      spec: { matches: [{ name: 'all', pathRegex: '.*', methods: ['*'] }] },
    });
    await admin.create(`/apis/access.smi-spec.io/v1alpha3/namespaces/${ns}/traffictargets`, {
      apiVersion: 'access.smi-spec.io/v1alpha3',
      kind: 'TrafficTarget',
      metadata: { name: 'buyer-to-shop' },
      spec: {
        destination: { kind: 'ServiceAccount', name: 'shop', namespace: ns },
        rules: [{ kind: 'HTTPRouteGroup', name: 'shop-routes', matches: ['all'] }],
        sources: [{ kind: 'ServiceAccount', name: 'buyer', namespace: ns }],
      },
    });

    config = normalizeConfig(
      {
        log: `kafka://${broker.brokers!}/weft-k8s-${run}`,
        xds: { host: '127.0.0.1', port: 0, insecure: true, coalesceMs: 0 },
        debug: { enabled: false },
        metrics: { enabled: false },
        plugins: [
          { name: '@weft/plugin-kafka' },
          { name: '@weft/plugin-kubernetes', config: { kubeconfig: apiserver.kubeconfig!, watchTimeoutSeconds: 30 } },
          { name: '@weft/plugin-envoy' },
        ],
      },
      { file: path.join(dir, 'weft.yaml'), label: 'weft.yaml', configDir: dir },
    );
    weft = await startWeft(config, { logger: captureLogger('info') });
    assert.equal(weft.catalog.get('Workload', `${ns}/buyer-0`)?.proxyUuid, buyerUuid, 'the cluster is in the catalog once Weft is ready');

    // The buyer's proxy is allowed to reach the shop: its cluster and endpoint arrive.
    const cluster = `${ns}/shop|8080`;
    client = new DeltaClient(`127.0.0.1:${weft.xdsAddress.port}`, { id: `${buyerUuid}.envoy.buyer.${ns}.cluster.local` });
    client.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'] });
    const held: Held = new Map();
    const cds = await nextOf(client, TypeUrl.Cluster, held);
    assert.ok(
      cds.resources.some((r) => r.name === cluster),
      `CDS holds ${cluster} (got ${cds.resources.map((r) => r.name).join(', ')})`,
    );
    client.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: [cluster] });
    assert.deepEqual(endpointIps(await nextOf(client, TypeUrl.ClusterLoadAssignment, held)), ['10.9.0.2']);

    // An endpoint moves in the cluster: the proxy gets the new address on the same stream.
    await admin.patch(`${slicesPath}/shop-x1`, slice('10.9.0.3'));
    assert.deepEqual(endpointIps(await nextOf(client, TypeUrl.ClusterLoadAssignment, held)), ['10.9.0.3']);
    // What it holds loads in Envoy: every cluster (wildcard CDS) and the one assignment it asked for.
    assertProxiesLoad([{ proxy: `on-kafka/${ns}/buyer`, resources: heldResources(held), partial: partialExcept(TypeUrl.Cluster) }]);
    client.close();
    client = undefined;

    // Restart: the state comes back from the topic, and an unchanged namespace appends nothing.
    const mine = (): unknown =>
      (['Service', 'Workload', 'Endpoints', 'TrafficTarget', 'HTTPRouteGroup'] as const).map((k) =>
        weft!.catalog.list(k).filter((r) => r.meta.namespace === ns),
      );
    const stateBefore = mine();
    const head = weft.log.head();
    await weft.close();
    const logger = captureLogger('info');
    weft = await startWeft(config, { logger });
    const replayed = logger.records.find((r) => r.msg === 'log replayed into the catalog');
    assert.ok(typeof replayed?.events === 'number' && replayed.events >= head, `the restart folded the topic (${JSON.stringify(replayed)})`);
    assert.deepEqual(mine(), stateBefore);
    const appended: string[] = [];
    for await (const batch of weft.log.read(head)) {
      for (const e of batch.events) if (e.key.startsWith(`${ns}/`)) appended.push(`${e.op} ${e.kind} ${e.key}`);
    }
    assert.deepEqual(appended, [], 'a restart over an unchanged namespace appends nothing for it');
  });
});
