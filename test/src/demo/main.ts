/**
 * `npm run demo`: Weft on deploy/examples/grpc-bookstore with real proxyless gRPC workloads in this process
 * (two xDS-enabled bookstore servers, one bookbuyer client, mTLS with certificates from the local CA), printing
 * per-backend traffic counts every second while it changes the TrafficSplit and removes and restores the
 * TrafficTarget by editing the manifest files Weft watches.
 *
 * Options: --phase-seconds <n> (default 5).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadConfigFile, startWeft, type ProxyIdentity, type RunningWeft } from '@weft/core';
import { grpcBootstrap, writeCertificateFiles } from '@weft/plugin-grpc';

const REPO = path.resolve(__dirname, '..', '..', '..');
const EXAMPLE = path.join(REPO, 'deploy', 'examples', 'grpc-bookstore');
const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';
const METHOD = '/bookstore.Bookstore/BuyBook';

const json = {
  serialize: (o: unknown): Buffer => Buffer.from(JSON.stringify(o)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString('utf8')) as unknown,
};

interface Workload extends ProxyIdentity {
  readonly pod: string;
  readonly port?: number;
}

const bookstore = (version: string, uuid: string, port: number): Workload => ({
  pod: `bookstore-${version}-0`,
  uuid,
  kind: 'grpc',
  namespace: 'bookstore',
  serviceAccount: 'bookstore',
  trustDomain: 'cluster.local',
  port,
});
const WORKLOADS = {
  v1: bookstore('v1', '7b1d6a2e-5c3f-4e8a-9f10-000000000011', 15101),
  v2: bookstore('v2', '7b1d6a2e-5c3f-4e8a-9f10-000000000012', 15102),
  buyer: { pod: 'bookbuyer-0', uuid: '7b1d6a2e-5c3f-4e8a-9f10-000000000001', kind: 'grpc', namespace: 'bookbuyer', serviceAccount: 'bookbuyer', trustDomain: 'cluster.local' } as Workload,
};

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  const v = i < 0 ? undefined : Number(process.argv[i + 1]);
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number of seconds`);
  return v;
}

/** Rewrites the policy file the files source watches: split weights, and the TrafficTarget present or not. */
function writePolicy(file: string, original: string, weights: { v1: number; v2: number }, target: boolean): void {
  const docs = original.split(/\n---\n/).flatMap((doc) => {
    if (/kind: TrafficTarget/.test(doc)) return target ? [doc] : [];
    if (/kind: TrafficSplit/.test(doc)) {
      return [doc.replace(/(service: bookstore-v1\n\s+weight: )\d+/, `$1${weights.v1}`).replace(/(service: bookstore-v2\n\s+weight: )\d+/, `$1${weights.v2}`)];
    }
    return [doc];
  });
  fs.writeFileSync(file, docs.join('\n---\n'));
}

async function main(): Promise<void> {
  const phaseMs = arg('--phase-seconds', 5) * 1000;
  process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] = 'true';
  const xds = await import('@grpc/grpc-js-xds');
  xds.register();

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-demo-'));
  const manifests = path.join(tmp, 'manifests');
  fs.cpSync(EXAMPLE, manifests, { recursive: true });
  const policyFile = path.join(manifests, 'policy.yaml');
  const originalPolicy = fs.readFileSync(policyFile, 'utf8');
  fs.writeFileSync(
    path.join(tmp, 'weft.yaml'),
    `log: "memory:"
logLevel: warn
xds: { host: 127.0.0.1, port: 0, insecure: true, coalesceMs: 5 }
debug: { enabled: true, host: 127.0.0.1, port: 0 }
metrics: { enabled: false }
plugins:
  - name: "@weft/plugin-files"
    config: { dir: manifests, debounceMs: 50 }
  - name: "@weft/plugin-ca-local"
  - name: "@weft/plugin-grpc"
`,
  );

  let weft: RunningWeft | undefined;
  const closers: (() => void)[] = [];
  const stop = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) c();
    await weft?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));

  try {
    weft = await startWeft(loadConfigFile(path.join(tmp, 'weft.yaml'), {}, tmp));
    const certs = weft.certificates;
    if (certs === undefined) throw new Error('no certificate manager: @weft/plugin-ca-local did not load');
    const ads = { host: '127.0.0.1', port: weft.xdsAddress.port };
    console.log(`Weft is serving ADS on 127.0.0.1:${ads.port} (debug: http://127.0.0.1:${weft.debug?.port ?? '?'}/debug/proxies)`);

    // The workloads' certificate agent: certificates from the local CA, written where file_watcher reads them.
    const certDir = (w: Workload): string => path.join(tmp, 'certs', w.pod);
    const write = (w: Workload): void => {
      const cert = certs.current(w);
      if (cert !== undefined) writeCertificateFiles(certDir(w), cert, certs.trustBundle());
    };
    for (const w of Object.values(WORKLOADS)) {
      await certs.ensure(w);
      write(w);
    }
    closers.push(certs.on('issued', () => Object.values(WORKLOADS).forEach(write)));
    const bootstrap = (w: Workload): string => JSON.stringify(grpcBootstrap(w, ads, { certDir: certDir(w), refreshInterval: '1s' }));

    const counts = new Map<string, number>();
    for (const [name, w] of [['bookstore-v1', WORKLOADS.v1], ['bookstore-v2', WORKLOADS.v2]] as const) {
      const server = new xds.XdsServer({ [BOOTSTRAP_OPTION]: bootstrap(w) } as grpc.ServerOptions);
      server.addService(
        { BuyBook: { path: METHOD, requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize } },
        { BuyBook: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { servedBy: name }) },
      );
      await new Promise<void>((resolve, reject) =>
        server.bindAsync(`127.0.0.1:${w.port ?? 0}`, new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) =>
          err ? reject(new Error(`${name} could not serve on 127.0.0.1:${w.port}: ${err.message}; is the port free?`)) : resolve(),
        ),
      );
      closers.push(() => server.forceShutdown());
      console.log(`${name}: xDS-enabled gRPC server on 127.0.0.1:${w.port}, mTLS, RBAC from TrafficTargets`);
    }
    const client = new grpc.Client('xds:///bookstore.bookstore', new xds.XdsChannelCredentials(grpc.credentials.createInsecure()), { [BOOTSTRAP_OPTION]: bootstrap(WORKLOADS.buyer) });
    closers.push(() => client.close());
    console.log('bookbuyer: gRPC client of xds:///bookstore.bookstore\n');

    let running = true;
    const buy = (): Promise<void> =>
      new Promise((resolve) => {
        client.makeUnaryRequest(METHOD, json.serialize, (b: Buffer) => json.deserialize(b) as { servedBy: string }, {}, { deadline: Date.now() + 2000 }, (err, res) => {
          const key = err ? `error ${grpc.status[err.code] ?? err.code}` : (res?.servedBy ?? '?');
          counts.set(key, (counts.get(key) ?? 0) + 1);
          resolve();
        });
      });
    const loops = Array.from({ length: 4 }, async () => {
      while (running) {
        await buy();
        await new Promise((r) => setTimeout(r, 5));
      }
    });

    const phases: { title: string; apply: () => void }[] = [
      { title: 'split bookstore-v1 50 / bookstore-v2 50, TrafficTarget bookbuyer -> bookstore present', apply: () => undefined },
      { title: 'TrafficSplit changed to v1 90 / v2 10 (expect ~9:1)', apply: () => writePolicy(policyFile, originalPolicy, { v1: 90, v2: 10 }, true) },
      { title: 'TrafficTarget removed (expect PERMISSION_DENIED)', apply: () => writePolicy(policyFile, originalPolicy, { v1: 90, v2: 10 }, false) },
      { title: 'TrafficTarget restored, split back to 50 / 50', apply: () => writePolicy(policyFile, originalPolicy, { v1: 50, v2: 50 }, true) },
    ];
    const started = Date.now();
    for (const phase of phases) {
      phase.apply();
      console.log(`== ${phase.title}`);
      for (let t = 0; t < phaseMs; t += 1000) {
        counts.clear();
        await new Promise((r) => setTimeout(r, 1000));
        const line = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}: ${v}`).join('   ');
        console.log(`  t=${String(Math.round((Date.now() - started) / 1000)).padStart(3)}s  ${line === '' ? '(no RPC completed)' : line}`);
      }
    }
    running = false;
    await Promise.all(loops);
  } finally {
    await stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
