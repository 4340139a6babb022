import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { parseManifests, type EventInput, type ProxyIdentity } from '@weft/core';
import { GrpcAdapter, type GrpcAdapterOptions } from '@weft/plugin-grpc';
import { startMesh, type TestMesh } from '../support/mesh.js';

/**
 * Real proxyless gRPC workloads for the system tests: @grpc/grpc-js-xds clients and xDS-enabled servers,
 * each with its own bootstrap (node identity, certificate files) so that several workloads with different
 * identities share one test process, as they would share a network.
 */

/** grpc-js(-xds) option carrying a per-channel / per-server bootstrap instead of the process-wide one. */
export const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';

export type Xds = typeof import('@grpc/grpc-js-xds');

/** Loads grpc-js-xds with RBAC enabled (read once, when the package loads) and registers the xds: scheme. */
export async function loadXds(): Promise<Xds> {
  process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] = 'true';
  const xds = await import('@grpc/grpc-js-xds');
  xds.register();
  return xds;
}

const json = {
  serialize: (o: unknown): Buffer => Buffer.from(JSON.stringify(o)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString('utf8')) as unknown,
};
export const SAY_HELLO = '/weft.test.Greeter/SayHello';
export const GREETER: grpc.ServiceDefinition = {
  SayHello: {
    path: SAY_HELLO,
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

export interface Reply {
  readonly server: string;
  /** URI SAN of the client certificate the server saw (mTLS), or "". */
  readonly peer: string;
  readonly peerSerial: string;
}

export interface Backend {
  readonly name: string;
  readonly port: number;
  readonly server: grpc.Server;
  calls: number;
  readonly peerSerials: Set<string>;
  close(): void;
}

function handler(b: { name: string; calls: number; peerSerials: Set<string> }): grpc.UntypedServiceImplementation {
  return {
    SayHello: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      b.calls++;
      const cert = call.getAuthContext().sslPeerCertificate;
      const uri = (cert?.subjectaltname ?? '').split(', ').find((s) => s.startsWith('URI:'))?.slice(4) ?? '';
      if (cert !== undefined) b.peerSerials.add(cert.serialNumber);
      const reply: Reply = { server: b.name, peer: uri, peerSerial: cert?.serialNumber ?? '' };
      cb(null, reply);
    },
  };
}

/** A plain gRPC server (not xDS-enabled): a backend the client reaches through EDS. */
export async function startPlainBackend(name: string): Promise<Backend> {
  const server = new grpc.Server();
  const b = { name, calls: 0, peerSerials: new Set<string>() };
  server.addService(GREETER, handler(b));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return Object.assign(b, { port, server, close: () => server.forceShutdown() });
}

/** A free port: xDS-enabled servers must bind a concrete port, named in their Listener resource. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** An xDS-enabled server: it serves only once Weft sent its Listener (and routes). */
export async function startXdsBackend(xds: Xds, name: string, port: number, bootstrap: unknown, secure: boolean): Promise<Backend & { readonly xdsServer: InstanceType<Xds['XdsServer']> }> {
  const server = new xds.XdsServer({ [BOOTSTRAP_OPTION]: JSON.stringify(bootstrap) } as grpc.ServerOptions);
  const b = { name, calls: 0, peerSerials: new Set<string>() };
  server.addService(GREETER, handler(b));
  const creds = secure ? new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()) : grpc.ServerCredentials.createInsecure();
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, creds, (err) => (err ? reject(err) : resolve())));
  return Object.assign(b, { port, server, xdsServer: server, close: () => server.forceShutdown() });
}

export function xdsClient(xds: Xds, target: string, bootstrap: unknown, secure: boolean): grpc.Client {
  const creds = secure ? new xds.XdsChannelCredentials(grpc.credentials.createInsecure()) : grpc.credentials.createInsecure();
  return new grpc.Client(target, creds, { [BOOTSTRAP_OPTION]: JSON.stringify(bootstrap) });
}

export function sayHello(client: grpc.Client, timeoutMs = 5000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      SAY_HELLO,
      json.serialize,
      (b: Buffer) => json.deserialize(b) as Reply,
      { name: 'weft' },
      { deadline: Date.now() + timeoutMs },
      (err, res) => (err || res === undefined ? reject(err ?? new Error('no response')) : resolve(res)),
    );
  });
}

/** Makes `n` RPCs, `parallel` at a time, and counts replies per server; any failure rejects. */
export async function countReplies(client: grpc.Client, n: number, parallel = 50): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let done = 0; done < n; done += parallel) {
    const batch = await Promise.all(Array.from({ length: Math.min(parallel, n - done) }, () => sayHello(client)));
    for (const r of batch) counts.set(r.server, (counts.get(r.server) ?? 0) + 1);
  }
  return counts;
}

/** Manifests -> the events a source would append (normalized bodies). */
export function manifestEvents(yaml: string, op: 'upsert' | 'delete' = 'upsert'): EventInput[] {
  const parsed = parseManifests(yaml, 'test manifests');
  if (parsed.errors.length > 0) throw new Error(parsed.errors.map((e) => e.message).join('\n'));
  return parsed.resources.map((r) => (op === 'delete' ? { source: 'test', op, kind: r.kind, key: r.key } : { source: 'test', op, kind: r.kind, key: r.key, body: r.body }));
}

export async function startGrpcMesh(options: GrpcAdapterOptions): Promise<{ mesh: TestMesh; adapter: GrpcAdapter }> {
  const adapter = new GrpcAdapter(options);
  const mesh = await startMesh({ adapters: new Map([['grpc', adapter]]) });
  return { mesh, adapter };
}

export function proxy(uuid: string, namespace: string, serviceAccount: string): ProxyIdentity {
  return { uuid, kind: 'grpc', namespace, serviceAccount, trustDomain: 'cluster.local' };
}

export const NAMESPACE = (ns: string): string => `
apiVersion: v1
kind: Namespace
metadata:
  name: ${ns}
  labels:
    openservicemesh.io/monitored-by: osm
`;

/** A service with a named target port, so each pod (all on 127.0.0.1) can serve on its own port. */
export function serviceYaml(ns: string, name: string, selector: Record<string, string>): string {
  return `
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  selector: ${JSON.stringify(selector)}
  ports:
    - name: grpc
      port: 50051
      targetPort: grpc
      appProtocol: grpc
`;
}

export function podYaml(ns: string, name: string, sa: string, labels: Record<string, string>, uuid: string, port?: number): string {
  return `
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  labels: ${JSON.stringify({ ...labels, 'osm-proxy-uuid': uuid })}
spec:
  serviceAccountName: ${sa}
  containers:
    - name: app
      image: example/app
${port === undefined ? '' : `      ports:\n        - name: grpc\n          containerPort: ${port}\n`}status:
  podIP: 127.0.0.1
`;
}

export function endpointsYaml(ns: string, name: string, pods: readonly { pod: string; port: number }[]): string {
  const subsets = pods
    .map(
      (p) => `
  - addresses:
      - ip: 127.0.0.1
        targetRef: { kind: Pod, name: ${p.pod}, namespace: ${ns} }
    ports:
      - name: grpc
        port: ${p.port}`,
    )
    .join('');
  return `
apiVersion: v1
kind: Endpoints
metadata:
  name: ${name}
  namespace: ${ns}
subsets:${pods.length === 0 ? ' []' : subsets}
`;
}

export const docs = (...parts: string[]): string => parts.join('\n---\n');
