/**
 * Test harness: manifests -> the real catalog and derivation engine -> every proxy's resources, as readable
 * YAML (goldens) and as encoded Anys (the Envoy validation checker). Used by tests only.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CertExternals,
  Catalog,
  Engine,
  parseManifests,
  type EncodedResource,
  type LogBatch,
  type MeshEvent,
  type ProxyIdentity,
  type ServiceCertificate,
} from '@weft/core';
import { stringify } from 'yaml';
import { EnvoyAdapter, ENVOY_TYPE_URLS } from './adapter.js';
import { TYPE_SHORT } from './sets.js';

export const TESTDATA = path.resolve(__dirname, '..', 'testdata');

export interface Mesh {
  readonly catalog: Catalog;
  readonly engine: Engine;
  readonly adapter: EnvoyAdapter;
  readonly proxies: readonly (ProxyIdentity & { readonly pod: string })[];
  nextOffset: number;
}

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

export function batchOf(events: readonly Omit<MeshEvent, 'v' | 'offset' | 'time' | 'source'>[], firstOffset: number): LogBatch {
  return { events: events.map((e, i) => ({ v: 1, offset: firstOffset + i, time: 0, source: 'test', ...e })) };
}

/** Loads manifests into a fresh catalog + engine; every Workload with a proxy uuid becomes a proxy. */
export function loadMesh(yamlText: string, file: string, options: ConstructorParameters<typeof Engine>[1] = {}): Mesh {
  const parsed = parseManifests(yamlText, file);
  if (parsed.errors.length > 0) throw new Error(`${file}: ${parsed.errors.map((e) => e.message).join('\n')}`);
  const catalog = new Catalog();
  const batch = batchOf(parsed.resources.map((r) => ({ op: 'upsert' as const, kind: r.kind, key: r.key, body: r.body })), 0);
  catalog.apply(batch);
  const engine = new Engine(catalog, options);
  engine.setExternal(CertExternals.trustBundle, [fakePem('mesh root')]);
  const proxies = catalog
    .list('Workload')
    .filter((w) => w.proxyUuid !== null)
    .map((w) => ({
      pod: w.meta.name,
      uuid: w.proxyUuid as string,
      kind: 'envoy',
      namespace: w.meta.namespace,
      serviceAccount: w.serviceAccount,
      trustDomain: 'cluster.local',
    }));
  for (const p of proxies) engine.setExternal(CertExternals.serviceCert(p.namespace, p.serviceAccount), fakeServiceCert(p.namespace, p.serviceAccount));
  return { catalog, engine, adapter: new EnvoyAdapter(), proxies, nextOffset: batch.events.length };
}

/** Applies events and lets the engine know what changed (what the runtime does for each batch). */
export function apply(mesh: Mesh, events: readonly Omit<MeshEvent, 'v' | 'offset' | 'time' | 'source'>[]): ReadonlySet<string> {
  const batch = batchOf(events, mesh.nextOffset);
  mesh.nextOffset += events.length;
  const changes = mesh.catalog.apply(batch);
  return mesh.engine.invalidate(changes.keys);
}

export function proxyResources(mesh: Mesh, proxy: ProxyIdentity): Map<string, EncodedResource[]> {
  const out = new Map<string, EncodedResource[]>();
  for (const typeUrl of ENVOY_TYPE_URLS) {
    const set = mesh.engine.get(mesh.adapter.resources(proxy, typeUrl)).value;
    out.set(typeUrl, [...set.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
  }
  return out;
}

const SECTION: Readonly<Record<string, string>> = { lds: 'listeners', rds: 'routes', cds: 'clusters', eds: 'endpoints', sds: 'secrets' };

/** The readable golden form of one proxy's configuration. */
export function goldenYaml(resources: Map<string, EncodedResource[]>): string {
  const doc: Record<string, unknown> = {};
  for (const typeUrl of ENVOY_TYPE_URLS) {
    doc[SECTION[TYPE_SHORT[typeUrl] ?? ''] ?? typeUrl] = (resources.get(typeUrl) ?? []).map((r) => r.dump);
  }
  return stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false });
}

export function caseDirs(): string[] {
  return fs
    .readdirSync(TESTDATA, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

export function loadCase(name: string): Mesh {
  const file = path.join(TESTDATA, name, 'input.yaml');
  return loadMesh(fs.readFileSync(file, 'utf8'), `${name}/input.yaml`);
}
