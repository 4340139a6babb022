/**
 * Golden tests for proxy adapters, the Envoy Gateway way: `testdata/<case>/` holds manifests, each proxy of
 * the case a `<pod>.out.yaml` with the readable dump of every resource it is served (or one file per resource
 * type, `<pod>.<type>.yaml`, decoded from the wire bytes with `decodeResource`). The manifests go through
 * the real parser, catalog and derivation engine, so a golden shows what a live proxy would receive.
 *
 * For tests only, but free of test-only dependencies (node's assert and the `yaml` package core already
 * uses): the test runner's `describe`/`it` are passed in, so importing this module registers nothing.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { Catalog } from '../catalog/catalog.js';
import { Engine, type EngineOptions } from '../derive/engine.js';
import type { LogBatch, MeshEvent } from '../log/types.js';
import { parseManifests } from '../model/parse.js';
import type { EncodedResource, ProxyAdapter, ProxyIdentity } from '../xds/adapter.js';

/** An event as a test writes it; the envelope fields are filled in by `testBatch`. */
export type TestEvent = Omit<MeshEvent, 'v' | 'offset' | 'time' | 'source'>;

export interface ManifestFile {
  readonly text: string;
  /** Named in parse errors. */
  readonly name: string;
}

/** A proxy of a test mesh: one per Workload carrying a proxy uuid, with the pod name its golden file takes. */
export type TestProxy = ProxyIdentity & { readonly pod: string };

export interface TestMesh<A extends ProxyAdapter = ProxyAdapter> {
  readonly catalog: Catalog;
  readonly engine: Engine;
  readonly adapter: A;
  readonly proxies: readonly TestProxy[];
  /** Offset the next applied event gets. */
  nextOffset: number;
}

export interface TestMeshOptions<A extends ProxyAdapter> {
  readonly adapter: A;
  readonly engine?: EngineOptions;
  /** Sets the externals the adapter reads (certificates, trust bundle) before anything is derived. */
  readonly prepare?: (engine: Engine, proxies: readonly TestProxy[]) => void;
}

export function testBatch(events: readonly TestEvent[], firstOffset: number): LogBatch {
  return { events: events.map((e, i) => ({ v: 1, offset: firstOffset + i, time: 0, source: 'test', ...e })) };
}

/** Upserts for every resource of the manifests, in file order; any parse error fails, naming the file. */
export function manifestEvents(files: readonly ManifestFile[]): TestEvent[] {
  const events: TestEvent[] = [];
  for (const f of files) {
    const parsed = parseManifests(f.text, f.name);
    if (parsed.errors.length > 0) throw new Error(`${f.name}: ${parsed.errors.map((e) => e.message).join('\n')}`);
    for (const r of parsed.resources) events.push({ op: 'upsert', kind: r.kind, key: r.key, body: r.body });
  }
  return events;
}

/**
 * Folds manifests into a fresh catalog and engine in one batch (as a source's initial list arrives); every
 * Workload with a proxy uuid becomes a proxy of the adapter's kind.
 */
export function loadTestMesh<A extends ProxyAdapter>(files: readonly ManifestFile[], options: TestMeshOptions<A>): TestMesh<A> {
  return loadTestEvents(manifestEvents(files), options);
}

/** loadTestMesh from events (e.g. the resources of manifests that also had errors, for negative cases). */
export function loadTestEvents<A extends ProxyAdapter>(events: readonly TestEvent[], options: TestMeshOptions<A>): TestMesh<A> {
  const catalog = new Catalog();
  catalog.apply(testBatch(events, 0));
  const engine = new Engine(catalog, options.engine);
  const proxies = catalog
    .list('Workload')
    .filter((w) => w.proxyUuid !== null)
    .map((w) => ({
      pod: w.meta.name,
      uuid: w.proxyUuid as string,
      kind: options.adapter.kind,
      namespace: w.meta.namespace,
      serviceAccount: w.serviceAccount,
      trustDomain: 'cluster.local',
    }));
  options.prepare?.(engine, proxies);
  return { catalog, engine, adapter: options.adapter, proxies, nextOffset: events.length };
}

/** Applies events and lets the engine know what changed (what the runtime does per batch); returns what it invalidated. */
export function applyTestEvents(mesh: TestMesh, events: readonly TestEvent[]): ReadonlySet<string> {
  const batch = testBatch(events, mesh.nextOffset);
  mesh.nextOffset += events.length;
  return mesh.engine.invalidate(mesh.catalog.apply(batch).keys);
}

/** Every resource a proxy is served, per type (in the adapter's order), sorted by name. */
export function proxyResourceLists(mesh: TestMesh, proxy: ProxyIdentity): Map<string, EncodedResource[]> {
  const out = new Map<string, EncodedResource[]>();
  for (const typeUrl of mesh.adapter.typeUrls) {
    const set = mesh.engine.get(mesh.adapter.resources(proxy, typeUrl)).value;
    out.set(typeUrl, [...set.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
  }
  return out;
}

/** The golden text of a document: YAML without line folding or anchors, so a diff reads field by field. */
export function goldenYaml(doc: Readonly<Record<string, unknown>> | readonly unknown[]): string {
  return stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Case directories under a testdata directory, sorted. */
export function goldenCaseDirs(testdata: string): string[] {
  return fs
    .readdirSync(testdata, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

/**
 * The manifests of a case: its `input.yaml`, or, when the case has a `source` file, every `*.yaml` of the
 * directory it names (relative to the case), so a case can test shipped examples without copying them.
 */
export function caseManifests(testdata: string, name: string): ManifestFile[] {
  const dir = path.join(testdata, name);
  const source = path.join(dir, 'source');
  if (!fs.existsSync(source)) return [{ text: fs.readFileSync(path.join(dir, 'input.yaml'), 'utf8'), name: `${name}/input.yaml` }];
  const from = path.resolve(dir, fs.readFileSync(source, 'utf8').trim());
  return fs
    .readdirSync(from)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => ({ text: fs.readFileSync(path.join(from, f), 'utf8'), name: f }));
}

type TestFn = (name: string, fn: () => void) => unknown;

export interface GoldenSuite<M extends TestMesh> {
  /** The describe block's title. */
  readonly title: string;
  readonly testdata: string;
  /** Cases that must exist (one per feature the adapter covers). */
  readonly requiredCases: readonly string[];
  loadCase(name: string): M;
  /** The golden text of one proxy: `<pod>.out.yaml`, or one file per suffix, `<pod>.<suffix>.yaml`. */
  render(mesh: M, proxy: TestProxy): string | Readonly<Record<string, string>>;
  /** Suffixes of golden files (default `out`); a case's file with one of them that no proxy renders fails. */
  readonly suffixes?: readonly string[];
}

/**
 * Registers the golden tests of an adapter: one test per case comparing each proxy's rendering with its
 * `<pod>.out.yaml` (UPDATE_GOLDEN=1 rewrites them), a check that every required case exists, and one that
 * a fresh catalog and engine give byte-identical resources.
 */
export function defineGoldenSuite<M extends TestMesh>(t: { describe: TestFn; it: TestFn }, suite: GoldenSuite<M>): void {
  const update = process.env.UPDATE_GOLDEN === '1';
  t.describe(suite.title, () => {
    const cases = goldenCaseDirs(suite.testdata);
    t.it('has a case per feature', () => {
      for (const c of suite.requiredCases) assert.ok(cases.includes(c), `missing golden case ${c}`);
    });
    for (const name of cases) {
      t.it(name, () => {
        const mesh = suite.loadCase(name);
        assert.ok(mesh.proxies.length > 0, `${name}: no pod carries an osm-proxy-uuid label`);
        const dir = path.join(suite.testdata, name);
        const suffixes = suite.suffixes ?? ['out'];
        const expected = new Set(fs.readdirSync(dir).filter((f) => suffixes.some((s) => f.endsWith(`.${s}.yaml`))));
        for (const proxy of mesh.proxies) {
          const rendered = suite.render(mesh, proxy);
          for (const [suffix, actual] of Object.entries(typeof rendered === 'string' ? { out: rendered } : rendered)) {
            const file = `${proxy.pod}.${suffix}.yaml`;
            const target = path.join(dir, file);
            if (update) fs.writeFileSync(target, actual);
            assert.ok(fs.existsSync(target), `${target} missing; run with UPDATE_GOLDEN=1 to create it`);
            assert.equal(actual, fs.readFileSync(target, 'utf8'), `${name}/${file} differs from the golden file (UPDATE_GOLDEN=1 rewrites)`);
            expected.delete(file);
          }
        }
        if (update) for (const stale of expected) fs.rmSync(path.join(dir, stale));
        else assert.deepEqual([...expected], [], `${name}: golden files without a proxy`);
      });
    }

    t.it('is deterministic: a fresh catalog and engine give byte-identical resources', () => {
      for (const name of cases) {
        const a = suite.loadCase(name);
        const b = suite.loadCase(name);
        for (const [i, proxy] of a.proxies.entries()) {
          const ra = proxyResourceLists(a, proxy);
          const rb = proxyResourceLists(b, b.proxies[i] ?? proxy);
          for (const [type, list] of ra) {
            assert.deepEqual(
              list.map((r) => Buffer.from(r.any).toString('base64')),
              (rb.get(type) ?? []).map((r) => Buffer.from(r.any).toString('base64')),
              `${name}/${proxy.pod} ${type}`,
            );
          }
        }
      }
    });
  });
}
