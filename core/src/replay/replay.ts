import { depKeys, type DepKey, type MeshView } from '../catalog/types.js';
import { compareStrings } from '../derive/canonical.js';
import type { DerivationSpec, Reader } from '../derive/types.js';
import type { EventLog, MeshEvent } from '../log/types.js';
import { DEFAULT_TRUST_DOMAIN, RESOURCE_KINDS, keyOf, type ResourceKind } from '../model/types.js';
import { TypeUrl, type EncodedResource, type ProxyAdapter, type ProxyIdentity, type ResourceSet } from '../xds/adapter.js';
import { diffDumps, type ConfigDiff } from './diff.js';
import { REDACTED_VERSION, dumpTypes, proxyRef, shortType, typeUrlFor, type ConfigDump } from './dump.js';
import { envoyConfigDump, type EnvoyConfigDump } from './envoy-dump.js';
import { ReplayError } from './errors.js';
import { describePoint, type ReplayPoint } from './point.js';
import { ReplayState } from './state.js';
import { Timeline } from './timeline.js';

/**
 * `weft replay`: what config a proxy had at any point of the log, what changed it, and why. Everything is
 * computed from the log alone, with the same catalog, engine and adapters as the running control plane, so
 * the result at the head is what a connected proxy was sent (key material aside: see ReplayState).
 */

export interface ReplayOptions {
  /** Proxy adapters (from the configured plugins); the proxy kind picks one. */
  readonly adapters: readonly ProxyAdapter[];
  readonly trustDomain?: string;
  /** Default proxy kind: the only adapter's, else "envoy". */
  readonly kind?: string;
  /**
   * Root certificates (PEM) for the trust-bundle external. Not on the log: without them the secrets that
   * hold the mesh roots are absent from the replayed config.
   */
  readonly trustBundle?: readonly string[];
}

/** A proxy as replay found it: its identity and its workload at the point (null if it has none then). */
export interface ResolvedProxy {
  readonly identity: ProxyIdentity;
  readonly workload: string | null;
}

export interface EventRef {
  readonly offset: number;
  readonly time: string;
  readonly source: string;
  readonly op: string;
  readonly kind: string;
  readonly key: string;
}

export interface ExplainedRead {
  /** Dependency key read: r:<Kind>/<key>, i:<index>/<value>, k:<Kind>, x:<external>. */
  readonly key: string;
  /** The event that last changed what was read; absent when it does not exist at this point or is not on the log. */
  readonly event?: EventRef;
  readonly note?: string;
}

export interface Explanation {
  readonly proxy: ConfigDump['proxy'];
  readonly at: ConfigDump['at'];
  readonly resource: { readonly typeUrl: string; readonly type: string; readonly name: string; readonly version: string };
  /** The derivation that produced the resource, and every derivation it read (transitively). */
  readonly derivation: string;
  readonly derivations: readonly string[];
  readonly reads: readonly ExplainedRead[];
  /** Distinct events behind the reads, by offset: what produced the resource's current version. */
  readonly events: readonly EventRef[];
}

export interface ResourceStepChange {
  readonly type: string;
  readonly name: string;
  readonly change: 'added' | 'removed' | 'changed';
}

export interface ProxyStepChange {
  readonly uuid: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** appeared: its workload (uuid label) arrived; gone: it left; changed: resources changed. */
  readonly change: 'appeared' | 'gone' | 'changed';
  readonly resources: readonly ResourceStepChange[];
}

export interface Step {
  readonly events: readonly EventRef[];
  readonly proxiesChanged: number;
  readonly proxies: readonly ProxyStepChange[];
}

export interface StepOptions {
  /** Only this proxy (uuid or namespace/serviceaccount); every proxy on the log when absent. */
  readonly proxy?: string;
  readonly kind?: string;
  /** First point to report (the state before it is the baseline); default the first event. */
  readonly from?: ReplayPoint;
  /** Last point to report; default the head. */
  readonly to?: ReplayPoint;
}

export interface StepSummary {
  readonly from: number;
  readonly to: number;
  readonly steps: number;
  /** Proxies followed at the end. */
  readonly proxies: number;
}

export function eventRef(ev: MeshEvent): EventRef {
  return { offset: ev.offset, time: new Date(ev.time).toISOString(), source: ev.source, op: ev.op, kind: ev.kind, key: ev.key };
}

export class Replay {
  private readonly trustDomain: string;
  private readonly defaultKind: string;

  constructor(
    readonly timeline: Timeline,
    private readonly options: ReplayOptions,
  ) {
    this.trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    this.defaultKind = options.kind ?? (options.adapters.length === 1 ? options.adapters[0]!.kind : 'envoy');
  }

  /** Reads the whole log (it stays open; the caller closes it). */
  static async open(log: EventLog, label: string, options: ReplayOptions): Promise<Replay> {
    return new Replay(await Timeline.read(log, label), options);
  }

  /**
   * A fresh state folded up to a point (`exact`: batch by batch, for provenance as it was live; `compact`:
   * only each resource's last event, for config at a point: see ReplayState.advanceTo).
   */
  stateAt(point: ReplayPoint, options: { readonly exact?: boolean; readonly compact?: boolean } = {}): ReplayState {
    const state = this.newState();
    state.advanceTo(this.timeline.batchIndex(point), options);
    return state;
  }

  config(proxy: string, point: ReplayPoint = { type: 'head' }, kind?: string): ConfigDump {
    // A dump reads resources, indexes and externals, never provenance: the compacted fold gives the same.
    const state = this.stateAt(point, { compact: true });
    return this.dump(state, this.resolve(state, proxy, point, kind));
  }

  /**
   * The proxy's config at a point as Envoy's admin `/config_dump` prints it (envoy.admin.v3.ConfigDump in
   * canonical proto3 JSON): what `weft replay --format json` prints. See envoy-dump.ts.
   */
  envoyConfig(proxy: string, point: ReplayPoint = { type: 'head' }, kind?: string): EnvoyConfigDump {
    const state = this.stateAt(point, { compact: true });
    return this.envoyDump(state, this.resolve(state, proxy, point, kind));
  }

  diff(proxy: string, from: ReplayPoint, to: ReplayPoint, kind?: string): ConfigDiff {
    const a = this.timeline.batchIndex(from);
    const b = this.timeline.batchIndex(to);
    if (b < a) {
      throw new ReplayError('REPLAY_BAD_POINT', `--diff ${describePoint(from)}..${describePoint(to)}: the second point comes before the first; swap them`);
    }
    const state = this.newState();
    state.advanceTo(a);
    const p = this.resolve(state, proxy, from, kind);
    const before = this.dump(state, p);
    state.advanceTo(b);
    // The proxy keeps its identity across the range; its workload may have come or gone.
    const after = this.dump(state, { identity: p.identity, workload: workloadOf(state.catalog, p.identity.uuid) });
    return diffDumps(before, after);
  }

  explain(proxy: string, point: ReplayPoint, resource: string, kind?: string): Explanation {
    const state = this.stateAt(point, { exact: true });
    const p = this.resolve(state, proxy, point, kind);
    const adapter = this.adapter(p.identity.kind);
    const slash = resource.indexOf('/');
    const typeName = slash < 0 ? '' : resource.slice(0, slash);
    const name = slash < 0 ? '' : resource.slice(slash + 1);
    const typeUrl = typeUrlFor(typeName, adapter.typeUrls);
    if (typeUrl === undefined || name === '') {
      throw new ReplayError(
        'REPLAY_UNKNOWN_RESOURCE',
        `--explain ${JSON.stringify(resource)} must be <type>/<resource-name> with type one of ${adapter.typeUrls.map(shortType).join(', ')} ` +
          '(or listener, route, cluster, endpoint, secret), e.g. CDS/bookstore/bookstore|14001',
      );
    }
    const root = adapter.resources(p.identity, typeUrl);
    const set = state.engine.get(root).value;
    const target = set.get(name);
    if (target === undefined) {
      const names = [...set.keys()].sort(compareStrings);
      throw new ReplayError(
        'REPLAY_UNKNOWN_RESOURCE',
        `proxy ${p.identity.uuid} has no ${shortType(typeUrl)} resource named ${JSON.stringify(name)} at ${this.timeline.describe(point)}; ` +
          `it has ${names.length === 0 ? 'none' : names.map((n) => JSON.stringify(n)).join(', ')}`,
      );
    }
    const producer =
      locateProducer(root, state, (v) => isEncoded(v) && v.name === name && v.typeUrl === typeUrl && v.version === target.version) ?? root.id;
    // What the derivation read, and what the derivations it used read, as the engine recorded it.
    const derivations: string[] = [];
    const keys = new Set<DepKey>();
    const seen = new Set<string>([producer]);
    const queue = [producer];
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      derivations.push(id);
      for (const k of state.engine.readSet(id)) {
        if (k.startsWith('d:')) {
          const child = k.slice(2);
          if (!seen.has(child)) {
            seen.add(child);
            queue.push(child);
          }
        } else keys.add(k);
      }
    }
    // Endpoints derived from Pods (none on the log for the service) were read through what they are derived from.
    for (const k of [...keys]) {
      const from = k.startsWith('r:Endpoints/') ? state.catalog.endpointsDerivation(k.slice('r:Endpoints/'.length)) : undefined;
      if (from === undefined) continue;
      keys.add(depKeys.resource('Service', from.service));
      for (const w of from.workloads) keys.add(depKeys.resource('Workload', w));
    }
    const reads = [...keys].sort(compareStrings).flatMap((k) => this.explainRead(state, k));
    const events = new Map<number, EventRef>();
    for (const r of reads) if (r.event !== undefined) events.set(r.event.offset, r.event);
    return {
      proxy: proxyRef(p.identity, p.workload),
      at: state.at(),
      resource: { typeUrl, type: shortType(typeUrl), name, version: typeUrl === TypeUrl.Secret ? REDACTED_VERSION : target.version },
      derivation: producer,
      derivations,
      reads,
      events: [...events.values()].sort((x, y) => x.offset - y.offset),
    };
  }

  /**
   * Walks the log batch by batch and reports, for each, which proxies' resources changed. Only derivations
   * an event dirtied are recomputed, and each shared root once per step.
   */
  *step(options: StepOptions = {}): Generator<Step, StepSummary> {
    const kind = options.kind ?? this.defaultKind;
    const adapter = this.adapter(kind);
    const fromIndex = options.from === undefined ? 0 : this.timeline.batchIndex(options.from);
    const toIndex = options.to === undefined ? this.timeline.length - 1 : this.timeline.batchIndex(options.to);
    if (toIndex < fromIndex) throw new ReplayError('REPLAY_BAD_POINT', '--step: --to comes before --from; swap them');
    const state = this.newState();
    state.advanceTo(fromIndex - 1);

    let only: string | undefined;
    if (options.proxy !== undefined) {
      // Resolved against the whole log so that a proxy that appears later in the range can be followed.
      only = this.resolve(this.stateAt({ type: 'head' }), options.proxy, { type: 'head' }, kind, true).identity.uuid;
    }
    interface Followed {
      readonly identity: ProxyIdentity;
      readonly roots: readonly DerivationSpec<ResourceSet>[];
      versions: Map<string, Map<string, string>>;
    }
    const followed = new Map<string, Followed>();
    const byRoot = new Map<string, Set<string>>();
    const computeVersions = (roots: readonly DerivationSpec<ResourceSet>[], cache: Map<string, ResourceSet>): Map<string, Map<string, string>> => {
      const out = new Map<string, Map<string, string>>();
      roots.forEach((spec, i) => {
        let set = cache.get(spec.id);
        if (set === undefined) cache.set(spec.id, (set = state.engine.get(spec).value));
        out.set(adapter.typeUrls[i]!, new Map([...set].map(([n, r]) => [n, r.version])));
      });
      return out;
    };
    const follow = (uuid: string, cache: Map<string, ResourceSet>): Followed | undefined => {
      const wk = workloadOf(state.catalog, uuid);
      const w = wk === null ? undefined : state.catalog.get('Workload', wk);
      if (w === undefined) return undefined;
      const identity: ProxyIdentity = { uuid, kind, serviceAccount: w.serviceAccount, namespace: w.meta.namespace, trustDomain: this.trustDomain };
      const roots = adapter.typeUrls.map((t) => adapter.resources(identity, t));
      for (const r of roots) {
        state.engine.retain(r.id);
        let s = byRoot.get(r.id);
        if (s === undefined) byRoot.set(r.id, (s = new Set()));
        s.add(uuid);
      }
      const f: Followed = { identity, roots, versions: computeVersions(roots, cache) };
      followed.set(uuid, f);
      return f;
    };
    const unfollow = (f: Followed): void => {
      for (const r of f.roots) {
        state.engine.release(r.id);
        const s = byRoot.get(r.id);
        s?.delete(f.identity.uuid);
        if (s?.size === 0) byRoot.delete(r.id);
      }
      followed.delete(f.identity.uuid);
    };
    const uuidsNow = (): string[] =>
      state.catalog
        .list('Workload')
        .map((w) => w.proxyUuid)
        .filter((u): u is string => u !== null && (only === undefined || u === only));
    const baseline = new Map<string, ResourceSet>();
    const uuidOfWorkload = new Map<string, string>();
    for (const w of state.catalog.list('Workload')) if (w.proxyUuid !== null) uuidOfWorkload.set(keyOf(w.meta), w.proxyUuid);
    for (const uuid of new Set(uuidsNow())) follow(uuid, baseline);

    const typeNames = adapter.typeUrls.map(shortType);
    let steps = 0;
    for (let i = fromIndex; i <= toIndex; i++) {
      const { batch, dirtied } = state.applyNext();
      steps++;
      const cache = new Map<string, ResourceSet>();
      const changed: ProxyStepChange[] = [];
      // Proxies come and go with their workload's uuid label.
      const touchedUuids = new Set<string>();
      for (const ev of batch.events) {
        if (ev.kind !== 'Workload') continue;
        const old = uuidOfWorkload.get(ev.key);
        const now = state.catalog.get('Workload', ev.key)?.proxyUuid ?? null;
        if (now === null) uuidOfWorkload.delete(ev.key);
        else uuidOfWorkload.set(ev.key, now);
        for (const u of [old, now]) if (u != null && (only === undefined || u === only)) touchedUuids.add(u);
      }
      for (const uuid of [...touchedUuids].sort(compareStrings)) {
        const f = followed.get(uuid);
        const wk = workloadOf(state.catalog, uuid);
        const w = wk === null ? undefined : state.catalog.get('Workload', wk);
        const same = f !== undefined && w !== undefined && w.serviceAccount === f.identity.serviceAccount && w.meta.namespace === f.identity.namespace;
        if (same) continue;
        if (f !== undefined) {
          unfollow(f);
          changed.push({ ...who(f.identity), change: 'gone', resources: allResources(f.versions, typeNames, adapter.typeUrls, 'removed') });
        }
        const g = follow(uuid, cache);
        if (g !== undefined) changed.push({ ...who(g.identity), change: 'appeared', resources: allResources(g.versions, typeNames, adapter.typeUrls, 'added') });
      }
      const stale = new Set<string>();
      for (const id of dirtied) for (const uuid of byRoot.get(id) ?? []) if (!touchedUuids.has(uuid)) stale.add(uuid);
      for (const uuid of [...stale].sort(compareStrings)) {
        const f = followed.get(uuid)!;
        const now = computeVersions(f.roots, cache);
        const resources: ResourceStepChange[] = [];
        adapter.typeUrls.forEach((t, k) => {
          const before = f.versions.get(t) ?? new Map<string, string>();
          const after = now.get(t) ?? new Map<string, string>();
          for (const [n, v] of after) {
            const old = before.get(n);
            if (old === undefined) resources.push({ type: typeNames[k]!, name: n, change: 'added' });
            else if (old !== v) resources.push({ type: typeNames[k]!, name: n, change: 'changed' });
          }
          for (const n of before.keys()) if (!after.has(n)) resources.push({ type: typeNames[k]!, name: n, change: 'removed' });
        });
        f.versions = now;
        if (resources.length > 0) changed.push({ ...who(f.identity), change: 'changed', resources });
      }
      yield { events: batch.events.map(eventRef), proxiesChanged: new Set(changed.map((c) => c.uuid)).size, proxies: changed };
    }
    return { from: this.timeline.bounds(fromIndex).firstOffset, to: state.at().offset, steps, proxies: followed.size };
  }

  /** Every proxy uuid seen on the log with its latest identity, for messages and listings. */
  knownProxies(): { readonly uuid: string; readonly namespace: string; readonly serviceAccount: string }[] {
    const out: { uuid: string; namespace: string; serviceAccount: string }[] = [];
    for (const [uuid, list] of this.timeline.proxySightings()) {
      const last = [...list].reverse().find((s) => s.present);
      if (last !== undefined) out.push({ uuid, namespace: last.namespace, serviceAccount: last.serviceAccount });
    }
    return out.sort((a, b) => compareStrings(a.uuid, b.uuid));
  }

  adapter(kind: string): ProxyAdapter {
    const a = this.options.adapters.find((x) => x.kind === kind);
    if (a === undefined) {
      const kinds = this.options.adapters.map((x) => x.kind).join(', ') || 'none';
      throw new ReplayError('REPLAY_NO_ADAPTER', `no proxy adapter for kind "${kind}" is loaded (loaded: ${kinds}); pass --kind or add the adapter plugin to weft.yaml`);
    }
    return a;
  }

  /** The proxy's config at the state's point, as a dump. */
  dump(state: ReplayState, p: ResolvedProxy): ConfigDump {
    const adapter = this.adapter(p.identity.kind);
    const sets = new Map<string, ResourceSet>();
    for (const t of adapter.typeUrls) sets.set(t, state.engine.get(adapter.resources(p.identity, t)).value);
    return { proxy: proxyRef(p.identity, p.workload), at: state.at(), types: dumpTypes(adapter.typeUrls, sets) };
  }

  /** The proxy's config at the state's point, as an Envoy admin config dump. */
  envoyDump(state: ReplayState, p: ResolvedProxy): EnvoyConfigDump {
    const adapter = this.adapter(p.identity.kind);
    const sets = new Map<string, ResourceSet>();
    const roots = new Map<string, string>();
    for (const t of adapter.typeUrls) {
      const root = adapter.resources(p.identity, t);
      sets.set(t, state.engine.get(root).value);
      roots.set(t, root.id);
    }
    return envoyConfigDump({ sets, roots, graph: state.engine, view: state.catalog });
  }

  /** Raw resource sets (with the encoded bytes), for byte comparisons. */
  resourceSets(state: ReplayState, p: ResolvedProxy): Map<string, ResourceSet> {
    const adapter = this.adapter(p.identity.kind);
    return new Map(adapter.typeUrls.map((t) => [t, state.engine.get(adapter.resources(p.identity, t)).value] as const));
  }

  /**
   * A proxy reference at a point: a uuid (the osm-proxy-uuid label of a workload) or namespace/serviceaccount
   * (the first workload of that identity with a uuid). A uuid whose workload is gone at the point still
   * resolves (a proxy can stay connected without one), to the identity it last had.
   */
  resolve(state: ReplayState, ref: string, point: ReplayPoint, kind = this.defaultKind, anyTime = false): ResolvedProxy {
    this.adapter(kind);
    const where = this.timeline.describe(point);
    const offset = state.at().offset;
    const identity = (uuid: string, namespace: string, serviceAccount: string): ProxyIdentity => ({
      uuid,
      kind,
      namespace,
      serviceAccount,
      trustDomain: this.trustDomain,
    });
    const known = (): string => {
      const list = this.knownProxies();
      const shown = list.slice(0, 10).map((p) => `${p.uuid} (${p.namespace}/${p.serviceAccount})`);
      return list.length === 0
        ? 'no workload on the log has an osm-proxy-uuid label'
        : `proxies on the log: ${shown.join(', ')}${list.length > 10 ? `, and ${list.length - 10} more` : ''}`;
    };
    if (/^[^/]+\/[^/]+$/.test(ref)) {
      for (const wk of state.catalog.lookup('workloadsByServiceAccount', ref)) {
        const w = state.catalog.get('Workload', wk);
        if (w?.proxyUuid != null) return { identity: identity(w.proxyUuid, w.meta.namespace, w.serviceAccount), workload: wk };
      }
      const ever = [...this.timeline.proxySightings().entries()].filter(([, l]) => l.some((s) => s.present && `${s.namespace}/${s.serviceAccount}` === ref));
      throw new ReplayError(
        'REPLAY_UNKNOWN_PROXY',
        ever.length > 0
          ? `no workload of service account ${ref} has a proxy at ${where} (offset ${offset}); proxies of that identity existed at other ` +
              `points: ${ever.map(([u, l]) => `${u} (offsets ${l[0]!.offset}..${l[l.length - 1]!.offset})`).join(', ')}`
          : `no workload of service account ${ref} ever had a proxy (osm-proxy-uuid label) on the log at ${this.timeline.label}; ${known()}`,
      );
    }
    const wk = workloadOf(state.catalog, ref);
    const w = wk === null ? undefined : state.catalog.get('Workload', wk);
    if (w !== undefined) return { identity: identity(ref, w.meta.namespace, w.serviceAccount), workload: wk };
    const sightings = this.timeline.proxySightings().get(ref) ?? [];
    const before = sightings.filter((s) => s.present && (anyTime || s.offset <= offset));
    const last = before[before.length - 1];
    if (last !== undefined) return { identity: identity(ref, last.namespace, last.serviceAccount), workload: null };
    if (sightings.length > 0) {
      throw new ReplayError(
        'REPLAY_UNKNOWN_PROXY',
        `proxy ${ref} does not exist yet at ${where} (offset ${offset}): its workload ${sightings[0]!.workload} first appears at offset ${sightings[0]!.offset}`,
      );
    }
    throw new ReplayError(
      'REPLAY_UNKNOWN_PROXY',
      `no workload on the log at ${this.timeline.label} (offsets ${this.timeline.firstOffset}..${this.timeline.lastOffset}) ever had osm-proxy-uuid=${ref}; ` +
        `give a proxy uuid or namespace/serviceaccount; ${known()}`,
    );
  }

  private newState(): ReplayState {
    return new ReplayState(this.timeline, this.options.trustBundle === undefined ? {} : { trustBundle: this.options.trustBundle });
  }

  private explainRead(state: ReplayState, key: DepKey): ExplainedRead[] {
    const provenanceOf = (k: DepKey): EventRef | undefined => {
      const p = state.catalog.provenance(k);
      if (p === undefined) return undefined;
      const ev = this.timeline.event(p.offset);
      return ev === undefined
        ? { offset: p.offset, time: new Date(p.time).toISOString(), source: p.source, op: '?', kind: '?', key: '?' }
        : eventRef(ev);
    };
    const derived = key.startsWith('r:Endpoints/') ? state.catalog.endpointsDerivation(key.slice('r:Endpoints/'.length)) : undefined;
    if (derived !== undefined) {
      const event = provenanceOf(key);
      const left = derived.workloads.filter((w) => !derived.endpoints.includes(w));
      const note =
        `derived from ${[...derived.endpoints.map((w) => `Pod ${w}`), `Service ${derived.service}`].join(', ')}: no Endpoints for the service on the log, ` +
        `so they are the endpoint controller's, from the ready Pods it selects` +
        (left.length === 0 ? '' : ` (not endpoints: ${left.map((w) => `Pod ${w}`).join(', ')}: not ready, no pod IP or no port of the service)`);
      return [event === undefined ? { key, note } : { key, event, note }];
    }
    if (key.startsWith('r:') || key.startsWith('i:')) {
      const event = provenanceOf(key);
      return [event === undefined ? { key, note: 'absent at this point (read as missing)' } : { key, event }];
    }
    if (key.startsWith('k:')) {
      // A list read depends on every resource of the kind.
      const kind = key.slice(2) as ResourceKind;
      if (!RESOURCE_KINDS.includes(kind)) return [{ key }];
      const all = state.catalog.list(kind) as readonly { meta: { namespace: string; name: string } }[];
      if (all.length === 0) return [{ key, note: `no ${kind} exists at this point` }];
      return all.map((r) => {
        const rk = depKeys.resource(kind, keyOf(r.meta));
        const event = provenanceOf(rk);
        return event === undefined ? { key: rk } : { key: rk, event };
      });
    }
    if (key.startsWith('x:cert/')) {
      const [ns = '', sa = ''] = key.slice('x:cert/'.length).split('/');
      const rk = depKeys.resource('CertificateIssued', `${ns}/${sa}`);
      const event = provenanceOf(rk);
      return [
        event === undefined
          ? { key, note: 'no certificate issued for this identity at this point' }
          : { key, event, note: 'certificate material is not on the log; its issuance is' },
      ];
    }
    if (key === 'x:trust-bundle') {
      return [{ key, note: state.external('trust-bundle') === undefined ? 'not on the log; no trust bundle was given to replay' : 'not on the log; given to replay' }];
    }
    return [{ key, note: 'external input, not on the log' }];
  }
}

function who(identity: ProxyIdentity): { uuid: string; namespace: string; serviceAccount: string } {
  return { uuid: identity.uuid, namespace: identity.namespace, serviceAccount: identity.serviceAccount };
}

function allResources(
  versions: ReadonlyMap<string, ReadonlyMap<string, string>>,
  typeNames: readonly string[],
  typeUrls: readonly string[],
  change: 'added' | 'removed',
): ResourceStepChange[] {
  return typeUrls.flatMap((t, k) => [...(versions.get(t)?.keys() ?? [])].sort(compareStrings).map((name) => ({ type: typeNames[k]!, name, change })));
}

export function workloadOf(view: Pick<MeshView, 'lookup'>, uuid: string): string | null {
  return view.lookup('workloadByProxyUuid', uuid)[0] ?? null;
}

/**
 * Finds which derivation produced a value, by running the root once more through a reader that remembers
 * every derivation's value (memoized by id, as the engine does). The innermost derivation whose value
 * matches is the producer.
 */
function locateProducer(root: DerivationSpec<unknown>, state: ReplayState, matches: (value: unknown) => boolean): string | undefined {
  const memo = new Map<string, unknown>();
  let found: string | undefined;
  const reader: Reader = {
    get: (kind, key) => state.catalog.get(kind, key),
    list: (kind) => state.catalog.list(kind),
    lookup: (index, value) => state.catalog.lookup(index, value),
    external: <T>(name: string) => state.external(name) as T | undefined,
    derive: <T>(spec: DerivationSpec<T>): T => {
      if (memo.has(spec.id)) return memo.get(spec.id) as T;
      const v = spec.compute(reader);
      memo.set(spec.id, v);
      if (found === undefined && matches(v)) found = spec.id;
      return v;
    },
  };
  reader.derive(root);
  return found;
}

function isEncoded(v: unknown): v is EncodedResource {
  return v !== null && typeof v === 'object' && 'any' in v && 'name' in v && 'typeUrl' in v && 'version' in v;
}

/** Encoded resources compare by identity only within one engine; across runs compare name and version. */
export function sameResource(a: EncodedResource, b: EncodedResource): boolean {
  return a.name === b.name && a.typeUrl === b.typeUrl && a.version === b.version;
}
