/**
 * Weft's output dumped once for the comparison servers: every proxy's resources (the Envoy adapter's encoded
 * Any bytes) in the initial state and, for every step of every scenario, the (proxy, type) sets that changed.
 * The floor server and the go-control-plane server replay exactly these bytes, so all systems serve the same
 * resources to the same proxies.
 */
import * as fs from 'node:fs';
import { CertExternals, type DerivationSpec, type EncodedResource, type ResourceSet } from '@weft/core';
import { ENVOY_TYPE_URLS } from '@weft/plugin-envoy';
import type { GeneratedMesh, Scenario } from './mesh.js';
import { appendAndRead, buildWeftState, fakeServiceCert } from './weft-state.js';

export interface DumpResource {
  readonly id: number;
  /** Index into Dump.types. */
  readonly type: number;
  readonly name: string;
  readonly version: string;
  /** The encoded google.protobuf.Any, base64. */
  readonly any: string;
}

export interface DumpChange {
  readonly node: string;
  readonly type: number;
  /** Resource ids of the proxy's whole new set of that type. */
  readonly ids: readonly number[];
}

export interface DumpStep {
  /** Resources first used in this step. */
  readonly resources: readonly DumpResource[];
  readonly changes: readonly DumpChange[];
}

export interface Dump {
  readonly types: readonly string[];
  readonly resources: readonly DumpResource[];
  /** node id -> resource ids per type (Dump.types order). */
  readonly initial: Readonly<Record<string, readonly (readonly number[])[]>>;
  readonly scenarios: readonly { readonly name: string; readonly intervalMs: number; readonly steps: readonly DumpStep[] }[];
}

export async function buildDump(mesh: GeneratedMesh, scenarios: readonly Scenario[]): Promise<Dump> {
  const st = await buildWeftState(mesh);
  const types = ENVOY_TYPE_URLS;
  const ids = new Map<string, number>();
  let fresh: DumpResource[] = [];
  const intern = (r: EncodedResource): number => {
    const key = `${r.typeUrl}\0${r.name}\0${r.version}`;
    let id = ids.get(key);
    if (id === undefined) {
      id = ids.size;
      ids.set(key, id);
      fresh.push({ id, type: types.indexOf(r.typeUrl), name: r.name, version: r.version, any: Buffer.from(r.any).toString('base64') });
    }
    return id;
  };
  const setIds = (set: ResourceSet): number[] => [...set.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(intern);

  const specs = new Map<string, DerivationSpec<ResourceSet>[]>();
  const hashes = new Map<string, string[]>();
  const initial: Record<string, number[][]> = {};
  for (const p of mesh.proxies) {
    const ps = types.map((t) => st.adapter.resources(p, t));
    specs.set(p.nodeId, ps);
    for (const s of ps) st.engine.retain(s.id);
    const results = ps.map((s) => st.engine.get(s));
    hashes.set(p.nodeId, results.map((r) => r.hash));
    initial[p.nodeId] = results.map((r) => setIds(r.value));
  }
  const resources = fresh;
  fresh = [];

  const out: Dump['scenarios'][number][] = [];
  for (const sc of scenarios) {
    const steps: DumpStep[] = [];
    for (const step of sc.steps) {
      let touched: ReadonlySet<string>;
      if (step.kind === 'events') {
        const batch = await appendAndRead(st.log, step.events);
        touched = st.engine.invalidate(st.catalog.apply(batch).keys);
      } else {
        touched = st.engine.setExternal(CertExternals.serviceCert(step.namespace, step.serviceAccount), fakeServiceCert(step.namespace, step.serviceAccount, step.generation));
      }
      const changes: DumpChange[] = [];
      for (const [node, ps] of specs) {
        ps.forEach((s, t) => {
          if (!touched.has(s.id)) return;
          const r = st.engine.get(s);
          const prev = hashes.get(node)!;
          if (r.hash === prev[t]) return;
          prev[t] = r.hash;
          changes.push({ node, type: t, ids: setIds(r.value) });
        });
      }
      steps.push({ resources: fresh, changes });
      fresh = [];
    }
    out.push({ name: sc.name, intervalMs: sc.intervalMs, steps });
  }
  await st.log.close();
  return { types, resources, initial, scenarios: out };
}

export function writeDump(dump: Dump, file: string): void {
  fs.writeFileSync(file, JSON.stringify(dump));
}

export function readDump(file: string): Dump {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Dump;
}

/** Proxies whose configuration a step changes, per step. */
export function changedNodes(step: DumpStep): Set<string> {
  return new Set(step.changes.map((c) => c.node));
}

/**
 * Where Weft's dumped output and the mesh's own expectation disagree on which proxies a step changes: one
 * line per disagreeing step (empty when they agree). The harness refuses to run on any disagreement, since
 * either the engine or the expectation is wrong and the numbers would grade the wrong set of proxies.
 */
export function dumpMismatches(dump: Dump, scenarios: readonly Scenario[]): string[] {
  const out: string[] = [];
  scenarios.forEach((sc, i) => {
    const d = dump.scenarios[i];
    if (d === undefined || d.name !== sc.name || d.steps.length !== sc.steps.length) {
      out.push(`${sc.name}: the dump has ${d === undefined ? 'no such scenario' : `"${d.name}" with ${d.steps.length} steps`}, the mesh ${sc.steps.length} steps`);
      return;
    }
    d.steps.forEach((st, k) => {
      const got = changedNodes(st);
      const want = sc.expected[k]!;
      const extra = [...got].filter((n) => !want.has(n));
      const missing = [...want].filter((n) => !got.has(n));
      if (extra.length > 0 || missing.length > 0) {
        const few = (xs: string[]): string => `${xs.length}${xs.length > 0 ? ` (${xs.slice(0, 3).join(', ')}${xs.length > 3 ? ', ...' : ''})` : ''}`;
        out.push(`${sc.name} step ${k}: Weft changes ${got.size} proxies, the mesh expects ${want.size}; not expected: ${few(extra)}; missing: ${few(missing)}`);
      }
    });
  });
  return out;
}
