import { createHash, X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { captureLogger, proxyCertificateRequest, TypeUrl, type ProxyAdapter } from '@weft/core';
import {
  Catalog,
  CertificateManager,
  countIssuedCertificates,
  Engine,
  ManualClock,
  MemoryEventLog,
  pushCertificateChanges,
  WeftMetrics,
  XdsServer,
} from '@weft/core/testing';
import { LocalCa } from '@weft/plugin-ca-local';
import { EnvoyAdapter } from '@weft/plugin-envoy';
import { DeltaClient, SotwClient, type DecodedResource, type DeltaResponseView } from '../support/delta-client.js';

/**
 * The certificate path end to end in one process, on a test clock: the local CA, the certificate manager
 * feeding the engine, the real Envoy adapter's SDS derivations, the ADS server over mTLS with its serving
 * certificate from the manager, and the runtime's wiring (pushCertificateChanges) between them.
 */

export const DAY = 24 * 3600_000;
export const SERVING_NAMES = ['localhost'];
export const ROOT_INBOUND = 'root-cert-for-mtls-inbound';
export const serviceCertName = (id: Identity): string => `service-cert:${id.namespace}/${id.serviceAccount}`;

export interface Identity {
  readonly namespace: string;
  readonly serviceAccount: string;
}

export interface SdsMesh {
  readonly ca: LocalCa;
  readonly clock: ManualClock;
  readonly manager: CertificateManager;
  readonly server: XdsServer;
  readonly metrics: WeftMetrics;
  readonly logger: ReturnType<typeof captureLogger>;
  readonly port: number;
  readonly rootPem: string;
  /** A delta ADS client presenting a proxy certificate of `identity` (kind envoy unless told). */
  connect(uuid: string, identity: Identity, kind?: string): Promise<DeltaClient>;
  /** The same with a state-of-the-world stream. */
  connectSotw(uuid: string, identity: Identity, kind?: string): Promise<SotwClient>;
  close(): Promise<void>;
}

/**
 * `rotationPoints` are the fractions of the lifetime at which successive issuances rotate (in issuance
 * order: the rotation window is squeezed so each value lands where the test says), then 0.95 for the rest.
 */
export async function startSdsMesh(
  rotationPoints: readonly number[],
  options: { readonly adapters?: readonly ProxyAdapter[] } = {},
): Promise<SdsMesh> {
  const logger = captureLogger('info');
  const log = new MemoryEventLog({ logger });
  const catalog = new Catalog();
  const metrics = new WeftMetrics({ defaultMetrics: false });
  const engine = new Engine(catalog, { onEvent: metrics.engineListener() });
  const clock = new ManualClock();
  const ca = await LocalCa.open({});
  const points = [...rotationPoints];
  // Window 0.5-0.99: random r lands at 0.5 + 0.49 r.
  const manager = new CertificateManager({
    issuer: ca,
    engine,
    log,
    logger,
    clock,
    rotationWindow: { from: 0.5, to: 0.99 },
    random: () => ((points.shift() ?? 0.95) - 0.5) / 0.49,
  });
  const uncount = countIssuedCertificates(manager, metrics);
  const serving = await manager.serverCertificate(SERVING_NAMES, { ipAddresses: ['127.0.0.1'] });
  const server = new XdsServer({
    engine,
    adapters: new Map([new EnvoyAdapter(), ...(options.adapters ?? [])].map((a) => [a.kind, a])),
    tls: { mode: 'mtls', key: serving.keyPem, cert: [serving.certPem, ...serving.chainPem].join('\n'), ca: manager.trustBundle() },
    certificates: manager,
    coalesceMs: 2,
    metrics,
    logger,
  });
  const unwire = pushCertificateChanges(manager, server, { servingDnsNames: SERVING_NAMES });
  const sub = log.follow(0, (batch) => {
    const changes = catalog.apply(batch);
    const ids = engine.invalidate(changes.keys);
    server.notify(ids, { offsets: changes.offsets });
  });
  const port = await server.listen('127.0.0.1', 0);
  const rootPem = manager.trustBundle()[0]!;
  const clients: (DeltaClient | SotwClient)[] = [];
  const credentials = async (uuid: string, identity: Identity, kind: string): Promise<grpc.ChannelCredentials> => {
    const leaf = await ca.issue(proxyCertificateRequest({ uuid, kind, ...identity }));
    return grpc.credentials.createSsl(Buffer.from(rootPem), Buffer.from(leaf.keyPem), Buffer.from([leaf.certPem, ...leaf.chainPem].join('\n')));
  };
  return {
    ca,
    clock,
    manager,
    server,
    metrics,
    logger,
    port,
    rootPem,
    async connect(uuid, identity, kind = 'envoy') {
      const client = new DeltaClient(`127.0.0.1:${port}`, { id: uuid }, await credentials(uuid, identity, kind));
      clients.push(client);
      return client;
    },
    async connectSotw(uuid, identity, kind = 'envoy') {
      const client = new SotwClient(`127.0.0.1:${port}`, { id: uuid }, await credentials(uuid, identity, kind));
      clients.push(client);
      return client;
    },
    async close() {
      for (const c of clients) c.close();
      unwire();
      uncount();
      manager.close();
      await server.close();
      await sub.close();
      await log.close();
    },
  };
}

/** The certificate a service-cert secret carries (leaf first in the chain), as sha256 of its DER. */
export function secretCertFingerprint(r: DecodedResource): string {
  const tls = r.message['tlsCertificate'] as { certificateChain?: { inlineBytes?: Uint8Array } } | undefined;
  const chain = tls?.certificateChain?.inlineBytes;
  if (chain === undefined) throw new Error(`secret ${r.name} carries no certificate chain`);
  const leaf = new X509Certificate(Buffer.from(chain).toString('utf8'));
  return createHash('sha256').update(leaf.raw).digest('hex');
}

/** Subscribes to `names` on the SDS type and returns the first answer (ACKed). */
export async function subscribeSecrets(client: DeltaClient, names: readonly string[]): Promise<DeltaResponseView> {
  client.request({ typeUrl: TypeUrl.Secret, subscribe: [...names] });
  const first = await client.next(5000);
  client.ack(first);
  return first;
}
