/**
 * Mesh-policy derivations every proxy adapter asks the same questions of: the mesh-wide switches, which
 * services are in the mesh, which identities a caller may reach under its TrafficTargets, who runs behind a
 * service, how an apex is split, which UpstreamTrafficSetting applies. They know nothing of any proxy's
 * configuration format, so their ids carry the neutral "mesh/" prefix: an Envoy sidecar and a proxyless gRPC
 * client of the same identity share one derivation and one catalog read.
 */
import type { Reader, DerivationSpec } from '../derive/types.js';
import { DEFAULT_TRUST_DOMAIN, keyOf, type Retry, type UpstreamTrafficSetting, type Workload } from '../model/types.js';
import type { ProxyIdentity } from '../xds/adapter.js';

/** "ns/name" -> [ns, name]; keys of namespaced kinds always carry the namespace. */
export function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return i < 0 ? ['', key] : [key.slice(0, i), key.slice(i + 1)];
}

/** `<svc>.<ns>.svc.cluster.local`: the host UpstreamTrafficSettings name and TLS server names use. */
export function serviceFqdn(ns: string, svc: string): string {
  return `${svc}.${ns}.svc.cluster.local`;
}

export interface MeshSettings {
  readonly permissive: boolean;
  readonly egress: boolean;
  readonly trustDomain: string;
}

/** The mesh-wide switches. With no MeshConfig the defaults are OSM's: strict mode, no egress. */
export const meshSettings: DerivationSpec<MeshSettings> = {
  id: 'mesh/settings',
  compute(r) {
    const config = r.list('MeshConfig')[0];
    if (config === undefined) return { permissive: false, egress: false, trustDomain: DEFAULT_TRUST_DOMAIN };
    return {
      permissive: config.traffic.enablePermissiveTrafficPolicyMode,
      egress: config.traffic.enableEgress,
      trustDomain: config.trustDomain === '' ? DEFAULT_TRUST_DOMAIN : config.trustDomain,
    };
  },
};

/** Whether the mesh monitors a namespace (read inside the caller's derivation, so it tracks the key). */
export function inMeshNamespace(r: Reader, namespace: string): boolean {
  return r.lookup('meshNamespaces', namespace).length > 0;
}

/** Every service in a namespace the mesh monitors, sorted: what a permissive caller may reach. */
export const meshServices: DerivationSpec<readonly string[]> = {
  id: 'mesh/services',
  compute(r) {
    const out: string[] = [];
    for (const svc of r.list('Service')) if (inMeshNamespace(r, svc.meta.namespace)) out.push(keyOf(svc.meta));
    return out.sort();
  },
};

/** Identities ("ns/sa") a caller may reach under the TrafficTargets naming it as a source; null: any (permissive). */
export function allowedDestinations(caller: string): DerivationSpec<readonly string[] | null> {
  return {
    id: `mesh/allowed-destinations@${caller}`,
    compute(r) {
      if (r.derive(meshSettings).permissive) return null;
      const out = new Set<string>();
      for (const tk of r.lookup('targetsBySource', caller)) {
        const t = r.get('TrafficTarget', tk);
        if (t !== undefined) out.add(`${t.destination.namespace}/${t.destination.name}`);
      }
      return [...out].sort();
    },
  };
}

/**
 * Services in front of the workloads a caller's policy lets it call, sorted: every mesh service in permissive
 * mode. Split apexes are not added here; an adapter that routes by apex adds them itself.
 */
export function calledServices(caller: string): DerivationSpec<readonly string[]> {
  return {
    id: `mesh/called-services@${caller}`,
    compute(r) {
      const allowed = r.derive(allowedDestinations(caller));
      if (allowed === null) return r.derive(meshServices);
      const out = new Set<string>();
      for (const dest of allowed) for (const svc of r.lookup('servicesByServiceAccount', dest)) out.add(svc);
      return [...out].sort();
    },
  };
}

/** Identities ("ns/sa") of the workloads behind a service, sorted: who a caller expects on the other end. */
export function identitiesBehind(svcKey: string): DerivationSpec<readonly string[]> {
  return {
    id: `mesh/identities-behind/${svcKey}`,
    compute: (r) => [...r.lookup('serviceAccountsByService', svcKey)].sort(),
  };
}

export interface SplitBackend {
  /** Backend service key "ns/name". */
  readonly service: string;
  /** Summed over every split of the apex naming this backend. */
  readonly weight: number;
}

export interface SplitPlan {
  /** Sorted by service key. */
  readonly backends: readonly SplitBackend[];
  /** HTTPRouteGroup keys the splits are limited to, sorted; empty: all traffic. */
  readonly matches: readonly string[];
  /** TrafficSplit keys merged into this plan, sorted. */
  readonly splits: readonly string[];
}

/**
 * Every TrafficSplit of an apex merged into one plan (weights of a backend named by several splits add up);
 * null when no split names the apex. OSM used only the first split per apex; the merge is deliberate.
 */
export function apexSplit(apexKey: string): DerivationSpec<SplitPlan | null> {
  return {
    id: `mesh/split/${apexKey}`,
    compute(r) {
      const weights = new Map<string, number>();
      const matches = new Set<string>();
      const splits: string[] = [];
      for (const sk of r.lookup('splitsByApex', apexKey)) {
        const split = r.get('TrafficSplit', sk);
        if (split === undefined) continue;
        splits.push(sk);
        for (const b of split.backends) {
          const key = `${split.meta.namespace}/${b.service}`;
          weights.set(key, (weights.get(key) ?? 0) + b.weight);
        }
        for (const m of split.matches) matches.add(`${split.meta.namespace}/${m}`);
      }
      if (splits.length === 0) return null;
      const backends = [...weights.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([service, weight]) => ({ service, weight }));
      return { backends, matches: [...matches].sort(), splits: splits.sort() };
    },
  };
}

/** The UpstreamTrafficSetting of a service (matched by FQDN host, in the service's namespace); null: none. */
export function upstreamSetting(svcKey: string): DerivationSpec<UpstreamTrafficSetting | null> {
  return {
    id: `mesh/upstream-setting/${svcKey}`,
    compute(r) {
      const [ns, name] = splitKey(svcKey);
      for (const k of r.lookup('upstreamSettingsByHost', serviceFqdn(ns, name))) {
        const s = r.get('UpstreamTrafficSetting', k);
        if (s !== undefined && s.meta.namespace === ns) return s;
      }
      return null;
    },
  };
}

/**
 * The Retry policy a caller has towards a service: the first by key, as the index keeps policies sorted.
 * A reader helper rather than a derivation: callers ask it per (caller, service) pair inside a derivation
 * that already depends on the caller, and a shared id per pair would cost more than the lookup.
 */
export function retryFor(r: Reader, caller: string, svcKey: string): Retry | null {
  for (const rk of r.lookup('retriesBySource', caller)) {
    const retry = r.get('Retry', rk);
    if (retry !== undefined && retry.destinations.some((d) => `${d.namespace}/${d.name}` === svcKey)) return retry;
  }
  return null;
}

export interface ProxyWorkload {
  /** "ns/sa": the identity from the proxy's certificate. */
  readonly identity: string;
  /** The workload key, or null when no workload of this identity carries the proxy uuid (yet). */
  readonly key: string | null;
  readonly workload: Workload | null;
  /** Services selecting the workload, sorted; empty without a workload. */
  readonly services: readonly string[];
}

/**
 * The workload behind a connected proxy. A workload running as another service account than the proxy's
 * certificate says is treated as not found, so a proxy never gets inbound or server config for an identity
 * it cannot prove. A reader helper: each adapter reads it inside its own per-proxy shape derivation, so a
 * proxy costs one derivation, not two.
 */
export function proxyWorkload(r: Reader, proxy: ProxyIdentity): ProxyWorkload {
  const identity = `${proxy.namespace}/${proxy.serviceAccount}`;
  for (const wk of r.lookup('workloadByProxyUuid', proxy.uuid)) {
    const w = r.get('Workload', wk);
    if (w === undefined || w.meta.namespace !== proxy.namespace || w.serviceAccount !== proxy.serviceAccount) continue;
    return { identity, key: wk, workload: w, services: [...r.lookup('servicesByWorkload', wk)].sort() };
  }
  return { identity, key: null, workload: null, services: [] };
}
