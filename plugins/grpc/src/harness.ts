/**
 * Test harness: manifests -> the real catalog and derivation engine -> every gRPC proxy's resources, as
 * readable YAML (goldens). Used by tests only; the adapter-neutral part is core's golden-test helper, what is
 * gRPC's here is the adapter options of a case, the YAML sections and the notices.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { testing, type EncodedResource, type ProxyIdentity } from '@weft/core';
import { GRPC_TYPE_URLS, GrpcAdapter, type GrpcAdapterOptions } from './adapter.js';

export const TESTDATA = path.resolve(__dirname, '..', 'testdata');

export type Mesh = testing.TestMesh<GrpcAdapter>;

export function loadMesh(files: readonly testing.ManifestFile[], options: GrpcAdapterOptions = {}): Mesh {
  return testing.loadTestMesh(files, { adapter: new GrpcAdapter(options) });
}

export function proxyResources(mesh: Mesh, proxy: ProxyIdentity): Map<string, EncodedResource[]> {
  return testing.proxyResourceLists(mesh, proxy);
}

const SECTION = ['clusters', 'endpoints', 'listeners', 'routes'];

/** The readable golden form of one proxy's configuration, with the policies it cannot carry out. */
export function goldenYaml(mesh: Mesh, proxy: ProxyIdentity): string {
  const resources = proxyResources(mesh, proxy);
  const doc: Record<string, unknown> = {};
  GRPC_TYPE_URLS.forEach((t, i) => (doc[SECTION[i] ?? t] = (resources.get(t) ?? []).map((r) => r.dump)));
  doc.notices = mesh.adapter.notices(proxy.uuid).map((n) => ({ policy: n.policy, message: n.message }));
  return testing.goldenYaml(doc);
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
