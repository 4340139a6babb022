/**
 * Test harness: manifests -> the real catalog and derivation engine -> every gRPC proxy's resources, as
 * readable YAML (goldens). Used by tests only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Catalog, Engine, parseManifests, type EncodedResource, type LogBatch, type MeshEvent, type ProxyIdentity } from '@weft/core';
import { stringify } from 'yaml';
import { GRPC_TYPE_URLS, GrpcAdapter, type GrpcAdapterOptions } from './adapter.js';

export const TESTDATA = path.resolve(__dirname, '..', 'testdata');

export interface Mesh {
  readonly catalog: Catalog;
  readonly engine: Engine;
  readonly adapter: GrpcAdapter;
  readonly proxies: readonly (ProxyIdentity & { readonly pod: string })[];
  nextOffset: number;
}

type Ev = Omit<MeshEvent, 'v' | 'offset' | 'time' | 'source'>;

export function batchOf(events: readonly Ev[], firstOffset: number): LogBatch {
  return { events: events.map((e, i) => ({ v: 1, offset: firstOffset + i, time: 0, source: 'test', ...e })) };
}

export function loadMesh(files: readonly { text: string; name: string }[], options: GrpcAdapterOptions = {}): Mesh {
  const events: Ev[] = [];
  for (const f of files) {
    const parsed = parseManifests(f.text, f.name);
    if (parsed.errors.length > 0) throw new Error(`${f.name}: ${parsed.errors.map((e) => e.message).join('\n')}`);
    for (const r of parsed.resources) events.push({ op: 'upsert', kind: r.kind, key: r.key, body: r.body });
  }
  const catalog = new Catalog();
  catalog.apply(batchOf(events, 0));
  const engine = new Engine(catalog);
  const proxies = catalog
    .list('Workload')
    .filter((w) => w.proxyUuid !== null)
    .map((w) => ({ pod: w.meta.name, uuid: w.proxyUuid as string, kind: 'grpc', namespace: w.meta.namespace, serviceAccount: w.serviceAccount, trustDomain: 'cluster.local' }));
  return { catalog, engine, adapter: new GrpcAdapter(options), proxies, nextOffset: events.length };
}

export function apply(mesh: Mesh, events: readonly Ev[]): ReadonlySet<string> {
  const batch = batchOf(events, mesh.nextOffset);
  mesh.nextOffset += events.length;
  return mesh.engine.invalidate(mesh.catalog.apply(batch).keys);
}

export function proxyResources(mesh: Mesh, proxy: ProxyIdentity): Map<string, EncodedResource[]> {
  const out = new Map<string, EncodedResource[]>();
  for (const typeUrl of GRPC_TYPE_URLS) {
    const set = mesh.engine.get(mesh.adapter.resources(proxy, typeUrl)).value;
    out.set(typeUrl, [...set.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
  }
  return out;
}

const SECTION = ['clusters', 'endpoints', 'listeners', 'routes'];

/** The readable golden form of one proxy's configuration, with the policies it cannot carry out. */
export function goldenYaml(mesh: Mesh, proxy: ProxyIdentity): string {
  const resources = proxyResources(mesh, proxy);
  const doc: Record<string, unknown> = {};
  GRPC_TYPE_URLS.forEach((t, i) => (doc[SECTION[i] ?? t] = (resources.get(t) ?? []).map((r) => r.dump)));
  doc.notices = mesh.adapter.notices(proxy.uuid).map((n) => ({ policy: n.policy, message: n.message }));
  return stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false });
}

export function caseDirs(): string[] {
  return fs
    .readdirSync(TESTDATA, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

/**
 * A case is `input.yaml`, or `source` naming a directory of manifests (relative to the case), plus an
 * optional `adapter.json` with adapter options.
 */
export function loadCase(name: string): Mesh {
  const dir = path.join(TESTDATA, name);
  const files: { text: string; name: string }[] = [];
  const source = path.join(dir, 'source');
  if (fs.existsSync(source)) {
    const from = path.resolve(dir, fs.readFileSync(source, 'utf8').trim());
    for (const f of fs.readdirSync(from).filter((x) => x.endsWith('.yaml')).sort()) files.push({ text: fs.readFileSync(path.join(from, f), 'utf8'), name: f });
  } else {
    files.push({ text: fs.readFileSync(path.join(dir, 'input.yaml'), 'utf8'), name: `${name}/input.yaml` });
  }
  const optionsFile = path.join(dir, 'adapter.json');
  const options = fs.existsSync(optionsFile) ? (JSON.parse(fs.readFileSync(optionsFile, 'utf8')) as GrpcAdapterOptions) : {};
  return loadMesh(files, options);
}
