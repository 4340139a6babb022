/**
 * Test harness: manifests -> the real catalog and derivation engine -> every proxy's resources, as YAML
 * decoded from the wire (goldens) and as encoded Anys (the Envoy validation checker). Used by tests only;
 * the adapter-neutral part is core's golden-test helper, what is Envoy's here is the certificate material
 * and the golden files per resource type.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { CertExternals, type EncodedResource, type ProxyIdentity, type ServiceCertificate } from '@weft/core';
import type { Engine, EngineOptions } from '@weft/core/testing';
import * as testing from '@weft/core/testing';
import { EnvoyAdapter, ENVOY_TYPE_URLS } from './adapter.js';
import { TYPE_SHORT } from './sets.js';

export const TESTDATA = path.resolve(__dirname, '..', 'testdata');

/** Negative cases: `<case>/input.yaml` (a mesh with invalid manifests) and `<case>/errors.yaml`. */
export const INVALID_TESTDATA = path.resolve(__dirname, '..', 'testdata-invalid');

export type Mesh = testing.TestMesh<EnvoyAdapter>;

/** A deterministic stand-in PEM (validation of the config does not parse certificates). */
export function fakePem(label: string): string {
  const body = createHash('sha256').update(label).digest('base64');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

export function fakeServiceCert(ns: string, sa: string): ServiceCertificate {
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

function withCertificates(engine: Engine, proxies: readonly testing.TestProxy[]): void {
  engine.setExternal(CertExternals.trustBundle, [fakePem('mesh root')]);
  for (const p of proxies) engine.setExternal(CertExternals.serviceCert(p.namespace, p.serviceAccount), fakeServiceCert(p.namespace, p.serviceAccount));
}

function loadFiles(files: readonly testing.ManifestFile[], engine: EngineOptions = {}): Mesh {
  return testing.loadTestMesh(files, { adapter: new EnvoyAdapter(), engine, prepare: withCertificates });
}

/** Loads manifests into a fresh catalog + engine; every Workload with a proxy uuid becomes a proxy. */
export function loadMesh(yamlText: string, file: string, options: EngineOptions = {}): Mesh {
  return loadFiles([{ text: yamlText, name: file }], options);
}

export const apply: (mesh: Mesh, events: readonly testing.TestEvent[]) => ReadonlySet<string> = testing.applyTestEvents;

export function proxyResources(mesh: Mesh, proxy: ProxyIdentity): Map<string, EncodedResource[]> {
  return testing.proxyResourceLists(mesh, proxy);
}

const SECTION: Readonly<Record<string, string>> = { lds: 'listeners', rds: 'routes', cds: 'clusters', eds: 'endpoints', sds: 'secrets' };

/** The golden file suffixes, one per resource type, as Envoy Gateway's xds-ir goldens name them. */
export const GOLDEN_SUFFIXES: readonly string[] = ENVOY_TYPE_URLS.map((t) => SECTION[TYPE_SHORT[t] ?? ''] ?? t);

/**
 * One proxy's goldens: per resource type (`listeners`, `routes`, `clusters`, `endpoints`, `secrets`) the
 * resources it is served, sorted by name, each decoded from its wire bytes.
 */
export function goldenFiles(resources: Map<string, EncodedResource[]>): Record<string, string> {
  const files: Record<string, string> = {};
  for (const typeUrl of ENVOY_TYPE_URLS) {
    files[SECTION[TYPE_SHORT[typeUrl] ?? ''] ?? typeUrl] = testing.goldenYaml((resources.get(typeUrl) ?? []).map(testing.decodeResource));
  }
  return files;
}

export function caseDirs(): string[] {
  return testing.goldenCaseDirs(TESTDATA);
}

export function loadCase(name: string): Mesh {
  return loadFiles(testing.caseManifests(TESTDATA, name));
}

/** Negative cases: the Envoy adapter with the test certificates, resource types under their file names. */
export function invalidCaseOptions(): testing.InvalidCaseOptions<EnvoyAdapter> {
  const sections: Record<string, string> = {};
  for (const typeUrl of ENVOY_TYPE_URLS) sections[typeUrl] = SECTION[TYPE_SHORT[typeUrl] ?? ''] ?? typeUrl;
  return { adapter: new EnvoyAdapter(), prepare: withCertificates, sections };
}
