/**
 * A mesh's manifests -> every proxy's whole configuration from both proxy adapters, as the Envoy checker's
 * whole-proxy input (test/envoy-validate, `-proxy`). One catalog and one engine serve both adapters, as in a
 * running Weft, so derivations they share (mesh services, splits, policies) are computed once.
 *
 * What is checked for gRPC: the checker's rules are Envoy's, and a proxyless gRPC client applies the same
 * ones where it reads the same fields (gRFC A27/A28/A36/A39): resources decode and pass ValidateAll; each is
 * served under its own name, once; every RouteConfiguration an HttpConnectionManager names, every cluster a
 * route names and every EDS cluster's assignment is served (else the client's watch never resolves);
 * virtual-host domains are unique; the router is the last HTTP filter; a server listener's filter chains do
 * not overlap and its HCM is its terminal filter; server listeners' addresses differ; EDS clusters have an
 * EDS config. None of those is Envoy-only, so the gRPC output goes through every rule; `GRPC_EXEMPT` is
 * where a rule would be waived, with the reason, and is empty.
 */
import { createHash } from 'node:crypto';
import { CertExternals, type EncodedResource, type ProxyAdapter, type ProxyIdentity, type ServiceCertificate } from '@weft/core';
import { Catalog, Engine } from '@weft/core/testing';
import * as testing from '@weft/core/testing';
import { EnvoyAdapter } from '@weft/plugin-envoy';
import { GrpcAdapter } from '@weft/plugin-grpc';
import { proxyConfig, type LoadViolation, type ProxyConfigInput } from '@weft/plugin-envoy/dist/load-check.js';

/** Rules of the Envoy checker that do not apply to proxyless gRPC output, with why. None today. */
export const GRPC_EXEMPT: ReadonlyMap<string, string> = new Map();

/** A deterministic stand-in PEM: the checker does not parse certificates. */
function fakePem(label: string): string {
  return `-----BEGIN CERTIFICATE-----\n${createHash('sha256').update(label).digest('base64')}\n-----END CERTIFICATE-----\n`;
}

function fakeServiceCert(ns: string, sa: string): ServiceCertificate {
  const certPem = fakePem(`cert ${ns}/${sa}`);
  return {
    certPem,
    keyPem: `-----BEGIN PRIVATE KEY-----\n${createHash('sha256').update(`key ${ns}/${sa}`).digest('base64')}\n-----END PRIVATE KEY-----\n`,
    chainPem: [],
    serial: createHash('sha256').update(`serial ${ns}/${sa}`).digest('hex').slice(0, 16),
    notAfter: '2030-01-01T00:00:00.000Z',
    fingerprint: createHash('sha256').update(certPem).digest('hex'),
  };
}

export interface TranslatedProxy {
  readonly adapter: 'envoy' | 'grpc';
  readonly input: ProxyConfigInput;
}

const ENVOY = new EnvoyAdapter();
/** mTLS on (the default): server listeners carry DownstreamTlsContexts the TLS rules look at. */
const GRPC = new GrpcAdapter();

function served(engine: Engine, adapter: ProxyAdapter, proxy: ProxyIdentity): EncodedResource[] {
  const out: EncodedResource[] = [];
  for (const typeUrl of adapter.typeUrls) out.push(...engine.get(adapter.resources(proxy, typeUrl)).value.values());
  return out;
}

/**
 * Every proxy of the mesh, once as an Envoy sidecar and once as a proxyless gRPC workload, labelled
 * `<label>/<adapter>/<namespace>/<pod>`.
 */
export function translateMesh(file: testing.ManifestFile, label: string): TranslatedProxy[] {
  const events = testing.manifestEvents([file]);
  const catalog = new Catalog();
  catalog.apply(testing.testBatch(events, 0));
  const engine = new Engine(catalog);
  engine.setExternal(CertExternals.trustBundle, [fakePem('mesh root')]);
  const out: TranslatedProxy[] = [];
  const workloads = catalog.list('Workload').filter((w) => w.proxyUuid !== null);
  for (const w of workloads) engine.setExternal(CertExternals.serviceCert(w.meta.namespace, w.serviceAccount), fakeServiceCert(w.meta.namespace, w.serviceAccount));
  for (const w of workloads) {
    for (const adapter of [ENVOY, GRPC]) {
      const proxy: ProxyIdentity = { uuid: w.proxyUuid as string, kind: adapter.kind, namespace: w.meta.namespace, serviceAccount: w.serviceAccount, trustDomain: 'cluster.local' };
      const name = `${label}/${adapter.kind}/${w.meta.namespace}/${w.meta.name}`;
      out.push({ adapter: adapter.kind === 'grpc' ? 'grpc' : 'envoy', input: proxyConfig(name, served(engine, adapter, proxy)) });
    }
  }
  return out;
}

/** The violations that count: all of them for Envoy, all but `GRPC_EXEMPT`'s rules for gRPC. */
export function counted(violations: readonly LoadViolation[]): LoadViolation[] {
  return violations.filter((v) => !(v.proxy.includes('/grpc/') && GRPC_EXEMPT.has(v.rule)));
}
