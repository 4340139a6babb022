import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '@weft/core';
import { CertificateManager, ManualClock } from '@weft/core/testing';
import { LocalCa } from '@weft/plugin-ca-local';
import { grpcBootstrap, writeCertificateFiles } from '@weft/plugin-grpc';
import { DeltaClient } from '../support/delta-client.js';
import { assertProxiesLoad, heldResources, holdEverything, type HeldProxy } from '../support/load-check.js';
import { waitFor, type TestMesh } from '../support/mesh.js';
import {
  docs,
  endpointsYaml,
  freePort,
  loadXds,
  manifestEvents,
  NAMESPACE,
  podYaml,
  proxy,
  sayHello,
  serviceYaml,
  startGrpcMesh,
  startXdsBackend,
  xdsClient,
  type Xds,
} from './workloads.js';

/**
 * xDS-enabled gRPC server and clients with mTLS between them: certificates from the local CA (through the
 * certificate manager) written to files the workloads' file_watcher certificate providers read, RBAC from
 * TrafficTargets enforced by the server, and a rotation picked up by live workloads with no failed RPC.
 */

const CLIENT = proxy('grpc-mtls-client', 'demo', 'client');
const INTRUDER = proxy('grpc-mtls-intruder', 'demo', 'intruder');
const GREETER = proxy('grpc-mtls-greeter', 'demo', 'greeter');

const ROUTES = `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata:
  name: greeter-routes
  namespace: demo
spec:
  matches:
    - name: greeter
      pathRegex: /weft\\.test\\.Greeter/.*
      methods: ["POST"]
`;
const TARGET = `
kind: TrafficTarget
apiVersion: access.smi-spec.io/v1alpha3
metadata:
  name: client-to-greeter
  namespace: demo
spec:
  destination:
    kind: ServiceAccount
    name: greeter
    namespace: demo
  rules:
    - kind: HTTPRouteGroup
      name: greeter-routes
  sources:
    - kind: ServiceAccount
      name: client
      namespace: demo
`;

async function code(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return grpc.status.OK;
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
}

describe('mTLS and RBAC between proxyless gRPC workloads', () => {
  let xds: Xds;
  let mesh: TestMesh;
  let manager: CertificateManager;
  let clock: ManualClock;
  let server: Awaited<ReturnType<typeof startXdsBackend>>;
  let client: grpc.Client;
  let intruder: grpc.Client;
  let tmp: string;
  const certDir = (id: { serviceAccount: string }): string => path.join(tmp, id.serviceAccount);

  before(async () => {
    xds = await loadXds();
    ({ mesh } = await startGrpcMesh({ mtls: true }));
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-grpc-mtls-'));
    clock = new ManualClock();
    const ca = await LocalCa.open({});
    manager = new CertificateManager({ issuer: ca, engine: mesh.engine, log: mesh.log, logger: mesh.logger, clock, random: () => 0 });
    // The workloads' certificate agent: every certificate issued for an identity lands in its files.
    manager.on('issued', (info) => {
      const [namespace = '', serviceAccount = ''] = info.key.split('/');
      const cert = manager.current({ namespace, serviceAccount });
      if (cert !== undefined) writeCertificateFiles(certDir({ serviceAccount }), cert, manager.trustBundle());
    });
    for (const id of [CLIENT, INTRUDER, GREETER]) await manager.ensure(id);

    const port = await freePort();
    await mesh.append(
      manifestEvents(
        docs(
          NAMESPACE('demo'),
          serviceYaml('demo', 'greeter', { app: 'greeter' }),
          podYaml('demo', 'greeter-0', 'greeter', { app: 'greeter' }, GREETER.uuid, port),
          podYaml('demo', 'client-0', 'client', { app: 'client' }, CLIENT.uuid),
          podYaml('demo', 'intruder-0', 'intruder', { app: 'intruder' }, INTRUDER.uuid),
          endpointsYaml('demo', 'greeter', [{ pod: 'greeter-0', port }]),
          ROUTES,
          TARGET,
        ),
      ),
    );
    const ads = { host: '127.0.0.1', port: mesh.port };
    const boot = (id: typeof CLIENT): unknown => grpcBootstrap(id, ads, { certDir: certDir(id), refreshInterval: '0.2s' });
    server = await startXdsBackend(xds, 'greeter', port, boot(GREETER), true);
    client = xdsClient(xds, 'xds:///greeter.demo', boot(CLIENT), true);
    intruder = xdsClient(xds, 'xds:///greeter.demo', boot(INTRUDER), true);
  });

  after(async () => {
    client?.close();
    intruder?.close();
    server?.close();
    manager?.close();
    await mesh?.close();
    if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('calls over mTLS with the mesh identities; RBAC admits the TrafficTarget source and denies others', async () => {
    const reply = await sayHello(client);
    assert.equal(reply.server, 'greeter');
    assert.equal(reply.peer, 'spiffe://cluster.local/ns/demo/sa/client', 'the server saw the client certificate from the local CA');
    assert.equal(await code(sayHello(intruder)), grpc.status.PERMISSION_DENIED, 'an identity no TrafficTarget names is denied');
  });

  it('removing the TrafficTarget denies the client with PERMISSION_DENIED; restoring it admits it again', async () => {
    await mesh.append(manifestEvents(TARGET, 'delete'));
    await waitFor('PERMISSION_DENIED', async () => (await code(sayHello(client))) === grpc.status.PERMISSION_DENIED);
    for (let i = 0; i < 5; i++) assert.equal(await code(sayHello(client)), grpc.status.PERMISSION_DENIED);
    await mesh.append(manifestEvents(TARGET));
    await waitFor('admitted again', async () => (await code(sayHello(client))) === grpc.status.OK);
    for (let i = 0; i < 5; i++) assert.equal(await code(sayHello(client)), grpc.status.OK);
    assert.equal(await code(sayHello(intruder)), grpc.status.PERMISSION_DENIED);

  });

  it('picks up rotated certificates with no failed RPC', async () => {
    const oldSerial = manager.current(CLIENT)?.serial;
    assert.ok(oldSerial !== undefined && server.peerSerials.size > 0);
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const load = (async () => {
      while (running) {
        await sayHello(client).then(
          () => ok++,
          (err: grpc.ServiceError) => failures.push(`${err.code} ${err.details}`),
        );
      }
    })();

    // Move the manager's clock past the rotation point: every identity gets a new certificate, written to files.
    clock.advance(23 * 3600_000);
    await manager.settled();
    const newSerial = manager.current(CLIENT)?.serial;
    assert.ok(newSerial !== undefined && newSerial !== oldSerial, 'the client certificate was rotated');
    // Let the file watchers (0.2 s) read the new files, then make the client open a new connection.
    await new Promise((r) => setTimeout(r, 600));
    server.xdsServer.drain(`127.0.0.1:${server.port}`, 2000);
    const hex = (s: string): string => s.replace(/^0+/, '').toUpperCase();
    await waitFor('the server sees the rotated client certificate', () => [...server.peerSerials].some((s) => hex(s) === hex(newSerial)), 10_000);
    running = false;
    await load;
    assert.deepEqual(failures, [], 'no RPC failed during the rotation');
    assert.ok(ok > 0);
  });

  it('serves each workload a configuration that passes Envoy\'s load-time rules', async () => {
    // Everything the gRPC adapter serves each workload after the changes and rotations above (the greeter's
    // server listener with its RBAC and mTLS, the clients' routes) passes Envoy's load-time rules. Each is
    // asked for again on a stream of its own under the workload's node id (last, as it may take over the
    // workload's stream): its wildcard types, and the listeners the workload asked for by name.
    const ids = [GREETER, CLIENT, INTRUDER];
    // The greeter's server listener is named by the address it binds (server_listener_resource_name_template).
    const listeners = new Map(ids.map((id) => [id, mesh.server.proxy(id.uuid)?.types.find((t) => t.typeUrl === TypeUrl.Listener)?.names ?? []]));
    const held: HeldProxy[] = [];
    for (const id of ids) {
      const asked = listeners.get(id)!;
      assert.ok(asked.length > 0, `${id.serviceAccount} asked for listeners`);
      const everything = new DeltaClient(`127.0.0.1:${mesh.port}`, { id: id.uuid, metadata: { kind: 'grpc', namespace: id.namespace, serviceAccount: id.serviceAccount } });
      try {
        everything.request({ typeUrl: TypeUrl.Listener, subscribe: [...asked] });
        const config = await holdEverything(everything, [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration]);
        assert.ok(asked.every((n) => config.get(TypeUrl.Listener)?.has(n) === true), `${id.serviceAccount} holds ${asked.join(', ')}`);
        held.push({ proxy: `grpc-rbac-mtls/${id.namespace}/${id.serviceAccount}`, resources: heldResources(config) });
      } finally {
        everything.close();
      }
    }
    assertProxiesLoad(held);
  });
});
