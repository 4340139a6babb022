/**
 * `weft demo`: real proxyless gRPC workloads (@grpc/grpc-js-xds: two bookstore servers, one bookbuyer
 * client) connect to the Weft the user started, and the demo shows the traffic split, then policy changes
 * applied live, then a summary. `weft demo` in the core's CLI loads this module by package name at run time
 * (the core depends on no plugin and not on grpc-js-xds); `npm run demo` runs it against a Weft of its own.
 *
 * How it joins the running mesh:
 * - it writes its workloads and policy as one manifest file, weft-demo.yaml (namespace weft-demo), into the
 *   folder the running Weft's files source watches, waits until the debug server's /debug/log shows them
 *   applied, and deletes the file at the end (Weft then deletes the resources);
 * - certificates come from the certificate issuer of the same config (the local CA's keys under the data
 *   directory), as `weft bootstrap --write-certs` issues them: the workloads' mesh certificates for mTLS
 *   between them, and a proxy certificate per workload for the ADS connection;
 * - @grpc/grpc-js-xds 1.14 cannot present a client certificate to the xDS server (its bootstrap knows only
 *   the "insecure" and "google_default" channel credentials). So each workload talks plaintext to a local
 *   forwarder of its own that opens the mTLS connection to Weft's ADS port with that workload's proxy
 *   certificate (as Istio's agent does for proxyless gRPC): Weft sees each workload's own identity.
 * - the policy changes are edits of weft-demo.yaml; the time to converge is from the write to the ACK, by
 *   the proxies the change concerns, of the push that event caused (from /debug/proxies/<uuid>).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import {
  createLogger,
  proxyCertificateRequest,
  serviceCertificateRequest,
  Tokens,
  WeftError,
  type CertificateIssuer,
} from '@weft/core';
import { loadConfiguredPlugins, readTokenFile, type WeftConfig } from '@weft/core/testing';
import { grpcBootstrap, writeCertificateFiles } from '@weft/plugin-grpc';

export interface DemoOptions {
  /** The config `weft start` runs with (same lookup): its issuer signs the workloads' certificates. */
  readonly config: WeftConfig;
  /** host:port of the running Weft's debug server. */
  readonly debug: string;
  /** How long each phase sends RPCs. */
  readonly phaseMs: number;
  readonly stdout: (text: string) => void;
  /** Resolves on Ctrl-C: the demo stops early and cleans up. */
  readonly interrupted?: Promise<unknown>;
}

export class DemoError extends WeftError {
  constructor(message: string) {
    super('DEMO_FAILED', message);
  }
}

const NAMESPACE = 'weft-demo';
/** The repository's example meshes (tracked files): never a folder to write into. */
const EXAMPLES = path.resolve(__dirname, '..', '..', '..', 'deploy', 'examples');
const FILE = 'weft-demo.yaml';
const METHOD = '/bookstore.Bookstore/BuyBook';
const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';
const WAIT_MS = 20_000;

interface Workload {
  readonly name: string;
  readonly pod: string;
  readonly uuid: string;
  readonly serviceAccount: string;
  readonly version?: string;
}
const BUYER: Workload = { name: 'bookbuyer', pod: 'bookbuyer-0', uuid: 'de300000-0000-4000-8000-000000000001', serviceAccount: 'bookbuyer' };
const V1: Workload = { name: 'bookstore-v1', pod: 'bookstore-v1-0', uuid: 'de300000-0000-4000-8000-000000000011', serviceAccount: 'bookstore', version: 'v1' };
const V2: Workload = { name: 'bookstore-v2', pod: 'bookstore-v2-0', uuid: 'de300000-0000-4000-8000-000000000012', serviceAccount: 'bookstore', version: 'v2' };
const WORKLOADS = [BUYER, V1, V2];

interface Policy {
  readonly v1: number;
  readonly v2: number;
  readonly access: boolean;
}

/** A policy edit: the event it appends (kind, name in the demo's namespace) and the proxies it concerns. */
interface Change {
  readonly policy: Policy;
  readonly kind: string;
  readonly name: string;
  readonly watch: readonly Workload[];
  /** An RPC outcome (a backend's name or a status name) only the new policy gives, when there is one. */
  readonly shows?: (outcome: string) => boolean;
}

/** The demo's slice of the mesh: its own namespace, so it never touches the example's resources. */
export function demoManifests(meshName: string, ports: { v1: number; v2: number }, policy: Policy): string {
  const pod = (w: Workload, port?: number): string => `apiVersion: v1
kind: Pod
metadata:
  name: ${w.pod}
  namespace: ${NAMESPACE}
  labels: { app: ${w.serviceAccount},${w.version === undefined ? '' : ` version: ${w.version},`} osm-proxy-uuid: ${w.uuid} }
spec:
  serviceAccountName: ${w.serviceAccount}
  containers:
    - name: ${w.name}
      image: example/${w.name}:demo${port === undefined ? '' : `\n      ports: [{ name: grpc, containerPort: ${port} }]`}
status: { podIP: 127.0.0.1 }`;
  const service = (name: string, selector: string): string => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${NAMESPACE} }
spec:
  selector: { ${selector} }
  ports: [{ name: grpc, port: 50051, targetPort: grpc, appProtocol: grpc }]`;
  const endpoints = (name: string, subsets: [Workload, number][]): string => `apiVersion: v1
kind: Endpoints
metadata: { name: ${name}, namespace: ${NAMESPACE} }
subsets:
${subsets.map(([w, port]) => `  - addresses: [{ ip: 127.0.0.1, targetRef: { kind: Pod, name: ${w.pod}, namespace: ${NAMESPACE} } }]\n    ports: [{ name: grpc, port: ${port} }]`).join('\n')}`;
  const docs = [
    `# Written by weft demo while it runs, deleted when it ends.
apiVersion: v1
kind: Namespace
metadata: { name: ${NAMESPACE}, labels: { openservicemesh.io/monitored-by: ${meshName} } }`,
    `apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: bookstore, namespace: ${NAMESPACE} }`,
    `apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: bookbuyer, namespace: ${NAMESPACE} }`,
    service('bookstore', 'app: bookstore'),
    service('bookstore-v1', 'app: bookstore, version: v1'),
    service('bookstore-v2', 'app: bookstore, version: v2'),
    pod(BUYER),
    pod(V1, ports.v1),
    pod(V2, ports.v2),
    endpoints('bookstore', [[V1, ports.v1], [V2, ports.v2]]),
    endpoints('bookstore-v1', [[V1, ports.v1]]),
    endpoints('bookstore-v2', [[V2, ports.v2]]),
    `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: { name: bookstore-routes, namespace: ${NAMESPACE} }
spec:
  matches: [{ name: buy-book, pathRegex: '/bookstore\\.Bookstore/BuyBook', methods: [POST] }]`,
    `apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: { name: bookstore-split, namespace: ${NAMESPACE} }
spec:
  service: bookstore
  backends: [{ service: bookstore-v1, weight: ${policy.v1} }, { service: bookstore-v2, weight: ${policy.v2} }]`,
  ];
  if (policy.access) {
    docs.push(`apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: bookbuyer-access-bookstore, namespace: ${NAMESPACE} }
spec:
  destination: { kind: ServiceAccount, name: bookstore, namespace: ${NAMESPACE} }
  rules: [{ kind: HTTPRouteGroup, name: bookstore-routes, matches: [buy-book] }]
  sources: [{ kind: ServiceAccount, name: bookbuyer, namespace: ${NAMESPACE} }]`);
  }
  return `${docs.join('\n---\n')}\n`;
}

/** The files source's folder in the config (what `weft start --manifests` sets). */
function watchedFolder(config: WeftConfig): string | undefined {
  const entry = config.plugins.find((p) => p.name === '@weft/plugin-files');
  const dir = (entry?.config as { dir?: unknown } | undefined)?.dir;
  return typeof dir === 'string' ? path.resolve(config.configDir, dir) : undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

interface ProxyRow {
  readonly id: number;
  readonly uuid: string;
  readonly mode: string;
  readonly peer: string;
}
interface ProxyDetail extends ProxyRow {
  readonly pushes: readonly { readonly typeUrl: string; readonly nonce: string; readonly offsets: readonly number[] }[];
  readonly acks: readonly { readonly nonce: string; readonly ack: boolean; readonly time: number }[];
}
interface LogPage {
  readonly head: number;
  readonly applied: number;
  readonly events: readonly { readonly offset: number; readonly kind: string; readonly key: string }[];
}

/** A running Weft, through its debug server (with the bearer token of debug.tokenFile when it has one). */
class DebugClient {
  constructor(
    readonly address: string,
    private readonly token: string | undefined,
  ) {}

  async get<T>(p: string): Promise<T> {
    const res = await fetch(`http://${this.address}${p}`, this.token === undefined ? {} : { headers: { authorization: `Bearer ${this.token}` } });
    if (!res.ok) throw new DemoError(`GET http://${this.address}${p}: HTTP ${res.status}: ${await res.text()}`);
    return (await res.json()) as T;
  }

  async until<T>(what: string, check: () => Promise<T | undefined>, hint: string): Promise<T> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const v = await check();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new DemoError(`${what} did not happen within ${WAIT_MS / 1000} s; ${hint}`);
      await sleep(25);
    }
  }
}

/**
 * Plaintext on 127.0.0.1 in, mTLS with the workload's proxy certificate out, to the ADS port. Resolves with
 * the local port and a close() that also ends the open connections (the xDS clients would keep them).
 */
async function forwarder(
  ads: { host: string; port: number },
  cert: { certPem: string; keyPem: string; ca: string[] },
): Promise<{ port: number; close: () => void }> {
  const open = new Set<net.Socket>();
  const server = net.createServer((local) => {
    const upstream = tls.connect({ host: ads.host, port: ads.port, cert: cert.certPem, key: cert.keyPem, ca: cert.ca, ALPNProtocols: ['h2'] });
    open.add(local).add(upstream);
    local.pipe(upstream).pipe(local);
    const close = (): void => {
      local.destroy();
      upstream.destroy();
      open.delete(local);
      open.delete(upstream);
    };
    local.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      server.close();
      for (const s of open) s.destroy();
    },
  };
}

const json = {
  serialize: (o: unknown): Buffer => Buffer.from(JSON.stringify(o)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString('utf8')) as unknown,
};

type Counts = Map<string, number>;
const total = (c: Counts): number => [...c.values()].reduce((a, b) => a + b, 0);
const countLine = (c: Counts): string =>
  c.size === 0
    ? '(no RPC completed)'
    : [...c.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => `${k}: ${v}`)
        .join('   ');
const share = (c: Counts, key: string): number => (total(c) === 0 ? 0 : (c.get(key) ?? 0) / total(c));
const pct = (x: number): string => `${Math.round(x * 100)}%`;

export async function runDemo(o: DemoOptions): Promise<number> {
  const out = (line = ''): void => o.stdout(`${line}\n`);
  const tokenFile = o.config.debug.tokenFile;
  const debug = new DebugClient(o.debug, tokenFile === null ? undefined : readTokenFile(tokenFile));
  const startHint = 'start Weft in another terminal first (npx weft start --manifests mesh) or pass --debug <host:port>';

  // 1. The folder the running Weft watches: the demo adds a file there, so never a tracked example.
  const folder = watchedFolder(o.config);
  if (folder === undefined || !fs.statSync(folder, { throwIfNoEntry: false })?.isDirectory()) {
    throw new DemoError(
      folder === undefined
        ? `${o.config.label} has no files source; give weft demo the folder the running Weft watches (--manifests <dir>)`
        : `the manifests folder ${folder} does not exist; give weft demo the --manifests that weft start has`,
    );
  }
  const inExamples = path.relative(EXAMPLES, folder);
  if (inExamples === '' || !(inExamples.startsWith('..') || path.isAbsolute(inExamples))) {
    throw new DemoError(
      `the demo adds its workloads as a file in the watched folder, and ${folder} is one of the repository's examples; ` +
        'run Weft on a copy (cp -r deploy/examples/bookstore mesh && npx weft start --manifests mesh) and give weft demo --manifests mesh',
    );
  }

  // 2. The running Weft: reachable, serving proxyless gRPC, and where its ADS port is.
  let xdsAddress: string;
  let kinds: string[];
  try {
    kinds = (await debug.get<{ kind: string }[]>('/debug/adapters')).map((a) => a.kind);
    xdsAddress = (await debug.get<{ address: string }>('/debug/xds')).address;
  } catch (err) {
    if (err instanceof DemoError) throw err;
    // fetch says "fetch failed"; what happened (ECONNREFUSED ...) is its cause.
    const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error) : (err as Error);
    throw new DemoError(`no Weft answers at http://${o.debug} (the debug address of ${o.config.label}): ${cause.message}; ${startHint}`);
  }
  if (!kinds.includes('grpc')) {
    throw new DemoError(
      `the Weft at ${o.debug} serves the proxy kinds ${kinds.join(', ') || 'none'}; the demo's workloads are proxyless gRPC (kind grpc): add '@weft/plugin-grpc' to the plugins of its config and restart it`,
    );
  }
  const colon = xdsAddress.lastIndexOf(':');
  const adsHost = xdsAddress.slice(0, colon).replace(/^\[|\]$/g, '');
  const ads = { host: adsHost === '0.0.0.0' || adsHost === '::' ? '127.0.0.1' : adsHost, port: Number(xdsAddress.slice(colon + 1)) };
  const mtls = !o.config.xds.insecure;
  out(`Weft at ${o.debug}: ADS on ${ads.host}:${ads.port} (${mtls ? 'mTLS' : 'insecure'}), watching ${folder}`);

  // 3. Certificates from the config's issuer: the same CA as the running Weft's when the config is the same.
  const { container } = await loadConfiguredPlugins(o.config, createLogger({ level: 'warn' }));
  const issuer = container.isRegistered(Tokens.CertificateIssuer, true) ? container.resolveAll<CertificateIssuer>(Tokens.CertificateIssuer)[0] : undefined;
  if (issuer === undefined) throw new DemoError(`${o.config.label} has no certificate issuer plugin; the workloads need mesh certificates`);
  const ca = issuer.trustBundle().map((p) => p.trim() + '\n');

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-demo-'));
  const file = path.join(folder, FILE);
  const closers: (() => void)[] = [];
  let wrote = false;
  const ports = { v1: await freePort(), v2: await freePort() };
  const write = (policy: Policy): void => {
    // Files starting with "." are not read: the rename makes the change one complete file.
    const staged = path.join(folder, `.${FILE}.tmp`);
    fs.writeFileSync(staged, demoManifests(o.config.meshName, ports, policy));
    fs.renameSync(staged, file);
    wrote = true;
  };
  let stopped = false;
  void o.interrupted?.then(() => {
    stopped = true;
  });

  try {
    // 4. The workloads join the mesh: their manifests, then Weft has them on the log and applied.
    const head = async (): Promise<number> => (await debug.get<LogPage>('/debug/log?limit=0')).head;
    // The offset of the event of one demo resource at or after `from`, once Weft's catalog has applied it.
    const applied = async (from: number, kind: string, name: string): Promise<number> => {
      return debug.until(
        `the demo's manifests (${file}) reaching the Weft at ${o.debug}`,
        async () => {
          const page = await debug.get<LogPage>(`/debug/log?from=${from}&limit=1000`);
          const ev = page.events.find((e) => e.kind === kind && e.key === `${NAMESPACE}/${name}`);
          return ev !== undefined && page.applied >= ev.offset ? ev.offset : undefined;
        },
        `is it watching ${folder}? Give weft demo the --manifests (or --config) that weft start has`,
      );
    };
    if (fs.existsSync(file)) {
      // Left by a demo that was killed: removed first, so that the write below is a change Weft logs.
      const from = await head();
      fs.rmSync(file);
      await applied(from, 'TrafficSplit', 'bookstore-split');
    }
    const from = await head();
    write({ v1: 50, v2: 50, access: true });
    await applied(from, 'TrafficSplit', 'bookstore-split');
    out(`wrote ${file}: namespace ${NAMESPACE} with bookbuyer, bookstore-v1 and bookstore-v2 (ports ${ports.v1}, ${ports.v2}), a TrafficTarget and a 50/50 TrafficSplit`);

    const bootstraps = new Map<string, string>();
    for (const w of WORKLOADS) {
      const identity = { uuid: w.uuid, kind: 'grpc', serviceAccount: w.serviceAccount, namespace: NAMESPACE };
      const certDir = path.join(tmp, w.pod);
      writeCertificateFiles(certDir, await issuer.issue(serviceCertificateRequest(identity, { trustDomain: o.config.trustDomain })), issuer.trustBundle());
      let server = ads;
      if (mtls) {
        const proxyCert = await issuer.issue(proxyCertificateRequest(identity, { trustDomain: o.config.trustDomain }));
        const fwd = await forwarder(ads, { certPem: [proxyCert.certPem, ...proxyCert.chainPem].join('\n'), keyPem: proxyCert.keyPem, ca });
        closers.push(fwd.close);
        server = { host: '127.0.0.1', port: fwd.port };
      }
      bootstraps.set(w.uuid, JSON.stringify(grpcBootstrap({ ...identity, trustDomain: o.config.trustDomain }, server, { certDir, refreshInterval: '1s' })));
    }

    // 5. Real proxyless gRPC: two xDS-enabled servers (mTLS and RBAC from Weft) and an xDS client.
    process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] = 'true';
    const xds = await import('@grpc/grpc-js-xds');
    xds.register();
    const connectStart = Date.now();
    for (const [w, port] of [[V1, ports.v1], [V2, ports.v2]] as const) {
      const server = new xds.XdsServer({ [BOOTSTRAP_OPTION]: bootstraps.get(w.uuid) } as grpc.ServerOptions);
      server.addService(
        { BuyBook: { path: METHOD, requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize } },
        { BuyBook: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { servedBy: w.name }) },
      );
      await new Promise<void>((resolve, reject) =>
        server.bindAsync(`127.0.0.1:${port}`, new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) =>
          err ? reject(new DemoError(`${w.name} could not serve on 127.0.0.1:${port}: ${err.message}`)) : resolve(),
        ),
      );
      closers.push(() => server.forceShutdown());
    }
    const client = new grpc.Client(`xds:///bookstore.${NAMESPACE}`, new xds.XdsChannelCredentials(grpc.credentials.createInsecure()), {
      [BOOTSTRAP_OPTION]: bootstraps.get(BUYER.uuid),
    });
    closers.push(() => client.close());

    let counts: Counts = new Map();
    let running = true;
    let onOutcome: ((outcome: string) => void) | undefined;
    const buy = (): Promise<void> =>
      new Promise((resolve) => {
        client.makeUnaryRequest(METHOD, json.serialize, (b: Buffer) => json.deserialize(b) as { servedBy: string }, {}, { deadline: Date.now() + 2000 }, (err, res) => {
          const key = err ? (grpc.status[err.code] ?? `code ${err.code}`) : (res?.servedBy ?? '?');
          counts.set(key, (counts.get(key) ?? 0) + 1);
          onOutcome?.(key);
          resolve();
        });
      });
    const loops = Array.from({ length: 4 }, async () => {
      while (running) {
        await buy();
        await sleep(2);
      }
    });

    try {
      const connected = await debug.until(
        'the three workloads connecting',
        async () => {
          const rows = (await debug.get<{ proxies: ProxyRow[] }>('/debug/proxies')).proxies;
          const ours = WORKLOADS.map((w) => rows.find((r) => r.uuid === w.uuid));
          return ours.every((r) => r !== undefined) ? (ours as ProxyRow[]) : undefined;
        },
        'the workloads could not open their ADS streams (see the Weft log for a refused stream)',
      );
      const connectMs = Date.now() - connectStart;
      for (const [i, w] of WORKLOADS.entries()) {
        out(`connected: ${w.pod} (uuid ${w.uuid}, stream ${connected[i]!.id}, ${connected[i]!.mode}${mtls ? ', mTLS' : ''})`);
      }
      out(`all three in http://${o.debug}/debug/proxies after ${seconds(connectMs)}`);

      // Time to converge: from the write to the ACK, by each proxy concerned, of a push the change caused.
      const converge = async (change: Change): Promise<{ ackMs: number; trafficMs?: number }> => {
        const from = await head();
        let firstSeen: Promise<number> | undefined;
        const t0 = Date.now();
        if (change.shows !== undefined) {
          const shows = change.shows;
          firstSeen = new Promise((resolve) => {
            onOutcome = (outcome) => {
              if (!shows(outcome)) return;
              onOutcome = undefined;
              resolve(Date.now());
            };
          });
        }
        write(change.policy);
        const offset = await applied(from, change.kind, change.name);
        const acked = await Promise.all(
          change.watch.map((w) =>
            debug.until(
              `${w.pod} acknowledging the change`,
              async () => {
                const d = await debug.get<ProxyDetail>(`/debug/proxies/${w.uuid}`);
                const nonces = new Set(d.pushes.filter((p) => p.offsets.some((x) => x >= offset)).map((p) => p.nonce));
                return d.acks.find((a) => a.ack && nonces.has(a.nonce))?.time;
              },
              'the proxy did not accept the new config (a NACK shows in /debug/proxies/<uuid>)',
            ),
          ),
        );
        const ackMs = Math.max(...acked) - t0;
        if (firstSeen === undefined) return { ackMs };
        let timer: NodeJS.Timeout | undefined;
        const seen = await Promise.race([firstSeen, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), WAIT_MS)))]);
        clearTimeout(timer);
        if (seen === undefined) {
          onOutcome = undefined;
          throw new DemoError(`the proxies accepted the change, but no RPC showed it within ${WAIT_MS / 1000} s`);
        }
        return { ackMs, trafficMs: seen - t0 };
      };

      // Each change names the event it waits for on the log and the proxies whose config it changes. The
      // demo ends on the denial and does not restore the TrafficTarget live: a grpc-js-xds 1.14 server
      // now and then keeps denying after it ACKed the restored RBAC (Weft's pushed config is the allowing
      // one; `weft replay --diff` shows it), which would make the demo's outcome a matter of luck.
      const phases: { title: string; change?: Change }[] = [
        { title: 'TrafficSplit bookstore-v1 50 / bookstore-v2 50' },
        {
          title: 'TrafficSplit changed to 90 / 10',
          change: { policy: { v1: 90, v2: 10, access: true }, kind: 'TrafficSplit', name: 'bookstore-split', watch: [BUYER] },
        },
        {
          title: 'TrafficTarget bookbuyer -> bookstore deleted: the servers deny (RBAC)',
          change: {
            policy: { v1: 90, v2: 10, access: false },
            kind: 'TrafficTarget',
            name: 'bookbuyer-access-bookstore',
            watch: [V1, V2],
            shows: (outcome) => outcome === 'PERMISSION_DENIED',
          },
        },
      ];
      const results: { counts: Counts; ackMs?: number; trafficMs?: number }[] = [];
      const started = Date.now();
      for (const phase of phases) {
        if (stopped) break;
        out(`\n== ${phase.title}`);
        let converged: { ackMs?: number; trafficMs?: number } = {};
        if (phase.change !== undefined) {
          converged = await converge(phase.change);
          const seen = converged.trafficMs === undefined ? '' : `; the first RPC showing it ${seconds(converged.trafficMs)} after the write`;
          out(`  applied: ${FILE} written -> on the log -> ACKed by ${phase.change.watch.map((w) => w.pod).join(', ')} in ${seconds(converged.ackMs!)}${seen}`);
        }
        const phaseCounts: Counts = new Map();
        for (let t = 0; t < o.phaseMs && !stopped; t += 1000) {
          counts = new Map();
          await sleep(Math.min(1000, o.phaseMs - t));
          for (const [k, v] of counts) phaseCounts.set(k, (phaseCounts.get(k) ?? 0) + v);
          out(`  t=${String(Math.round((Date.now() - started) / 1000)).padStart(3)}s  ${countLine(counts)}`);
        }
        results.push({ counts: phaseCounts, ...converged });
      }
      running = false;
      await Promise.all(loops);
      if (stopped) {
        out('\ninterrupted');
        return 130;
      }

      // 6. The summary, and whether the mesh did what the policy said.
      const all: Counts = new Map();
      for (const r of results) for (const [k, v] of r.counts) all.set(k, (all.get(k) ?? 0) + v);
      const ok = (all.get(V1.name) ?? 0) + (all.get(V2.name) ?? 0);
      const [before, after, denied] = results as [(typeof results)[0], (typeof results)[0], (typeof results)[0]];
      const splitOf = (c: Counts): string => `bookstore-v1 ${pct(share(c, V1.name))} / bookstore-v2 ${pct(share(c, V2.name))} of ${total(c)} RPCs`;
      out('\n== summary');
      out(`proxies connected:  3 (${WORKLOADS.map((w) => w.pod).join(', ')}) over ${mtls ? 'mTLS' : 'plaintext'}, listed in /debug/proxies after ${seconds(connectMs)}`);
      out(`RPCs:               ${total(all)} (${ok} served, ${total(all) - ok} refused or failed: ${countLine(new Map([...all].filter(([k]) => k !== V1.name && k !== V2.name)))})`);
      out(`split before:       ${splitOf(before.counts)} (TrafficSplit 50/50)`);
      out(`split after:        ${splitOf(after.counts)} (TrafficSplit 90/10)`);
      out(`access removed:     ${denied.counts.get('PERMISSION_DENIED') ?? 0} of ${total(denied.counts)} RPCs PERMISSION_DENIED`);
      out(
        `time to converge:   split ${seconds(after.ackMs!)}, access removed ${seconds(denied.ackMs!)} (manifest written -> the proxies ACKed); ` +
          `the first call denied ${seconds(denied.trafficMs!)} after the write`,
      );
      const problems = [
        share(before.counts, V1.name) > 0 && share(before.counts, V2.name) > 0 ? null : 'the 50/50 split did not reach both backends',
        share(after.counts, V1.name) > share(after.counts, V2.name) ? null : 'the 90/10 split did not favour bookstore-v1',
        (denied.counts.get('PERMISSION_DENIED') ?? 0) > 0 ? null : 'no RPC was denied without the TrafficTarget',
      ].filter((p): p is string => p !== null);
      if (problems.length > 0) throw new DemoError(`the mesh did not follow the policy: ${problems.join('; ')}`);
      return 0;
    } finally {
      running = false;
      await Promise.all(loops);
    }
  } finally {
    for (const c of closers.splice(0).reverse()) c();
    if (wrote) {
      fs.rmSync(file, { force: true });
      out(`removed ${file}: Weft deletes the demo's resources`);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
