/**
 * Test harness: manifests -> the real catalog and derivation engine -> every gRPC proxy's resources, as
 * YAML decoded from the wire (goldens). Used by tests only; the adapter-neutral part is core's golden-test
 * helper, what is gRPC's here is the adapter options of a case, the golden files and the notices.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EncodedResource, ProxyIdentity } from '@weft/core';
import * as testing from '@weft/core/testing';
import { GRPC_TYPE_URLS, GrpcAdapter, type GrpcAdapterOptions } from './adapter.js';

export const TESTDATA = path.resolve(__dirname, '..', 'testdata');

/** Negative cases: `<case>/input.yaml` (a mesh with invalid manifests) and `<case>/errors.yaml`. */
export const INVALID_TESTDATA = path.resolve(__dirname, '..', 'testdata-invalid');

export type Mesh = testing.TestMesh<GrpcAdapter>;

export function loadMesh(files: readonly testing.ManifestFile[], options: GrpcAdapterOptions = {}): Mesh {
  return testing.loadTestMesh(files, { adapter: new GrpcAdapter(options) });
}

export function proxyResources(mesh: Mesh, proxy: ProxyIdentity): Map<string, EncodedResource[]> {
  return testing.proxyResourceLists(mesh, proxy);
}

const SECTION = ['clusters', 'endpoints', 'listeners', 'routes'];

/** The golden file suffixes: one per resource type, and the policies the proxy cannot carry out. */
export const GOLDEN_SUFFIXES: readonly string[] = [...SECTION, 'notices'];

/**
 * One proxy's goldens: per resource type the resources it is served, sorted by name, each decoded from its
 * wire bytes, and `notices` with the policies it cannot carry out.
 */
export function goldenFiles(mesh: Mesh, proxy: ProxyIdentity): Record<string, string> {
  const resources = proxyResources(mesh, proxy);
  const files: Record<string, string> = {};
  GRPC_TYPE_URLS.forEach((t, i) => (files[SECTION[i] ?? t] = testing.goldenYaml((resources.get(t) ?? []).map(testing.decodeResource))));
  files.notices = testing.goldenYaml(mesh.adapter.notices(proxy.uuid).map((n) => ({ policy: n.policy, message: n.message })));
  return files;
}

export function caseDirs(): string[] {
  return testing.goldenCaseDirs(TESTDATA);
}

/** A case's manifests (core's rules: `input.yaml` or a `source` directory) plus an optional `adapter.json` with adapter options. */
export function loadCase(name: string): Mesh {
  const optionsFile = path.join(TESTDATA, name, 'adapter.json');
  const options = fs.existsSync(optionsFile) ? (JSON.parse(fs.readFileSync(optionsFile, 'utf8')) as GrpcAdapterOptions) : {};
  return loadMesh(testing.caseManifests(TESTDATA, name), options);
}

/** Negative cases: the gRPC adapter with its defaults, resource types under their file names. */
export function invalidCaseOptions(): testing.InvalidCaseOptions<GrpcAdapter> {
  const sections: Record<string, string> = {};
  GRPC_TYPE_URLS.forEach((t, i) => (sections[t] = SECTION[i] ?? t));
  return { adapter: new GrpcAdapter(), sections };
}
