/**
 * Derivations answering what every gRPC translator asks: which services exist in the mesh, what their
 * gRPC ports are, who a proxy is, how an apex is split, which TrafficTargets admit whom. Each is shared by
 * id, so a thousand proxies ask the catalog once. Ids start with "grpc/" so they never collide with another
 * adapter's derivations.
 */
import {
  DEFAULT_TRUST_DOMAIN,
  keyOf,
  type AppProtocol,
  type DerivationSpec,
  type HTTPMatch,
  type ProxyIdentity,
  type Reader,
  type Retry,
  type UpstreamTrafficSetting,
} from '@weft/core';
import { splitKey } from './names.js';

export interface MeshSettings {
  readonly permissive: boolean;
  readonly trustDomain: string;
}

export const meshSettings: DerivationSpec<MeshSettings> = {
  id: 'grpc/mesh-settings',
  compute(r) {
    const config = r.list('MeshConfig')[0];
    if (config === undefined) return { permissive: false, trustDomain: DEFAULT_TRUST_DOMAIN };
    return {
      permissive: config.traffic.enablePermissiveTrafficPolicyMode,
      trustDomain: config.trustDomain === '' ? DEFAULT_TRUST_DOMAIN : config.trustDomain,
    };
  },
};

/** gRPC is HTTP/2: ports declared grpc, or http (OSM's default application protocol). */
export function speaksGrpc(protocol: AppProtocol): boolean {
  return protocol === 'grpc' || protocol === 'http';
}

export interface GrpcPort {
  readonly name: string;
  readonly port: number;
  /** A number, or the container port name it refers to. */
  readonly targetPort: number | string;
}

/** A service's gRPC-capable TCP ports, by port number. */
export function grpcPorts(svcKey: string): DerivationSpec<readonly GrpcPort[]> {
  return {
    id: `grpc/ports/${svcKey}`,
    compute(r) {
      const svc = r.get('Service', svcKey);
      if (svc === undefined) return [];
      return svc.ports
        .filter((p) => p.protocol === 'TCP' && speaksGrpc(p.appProtocol))
        .map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort }))
        .sort((a, b) => a.port - b.port);
    },
  };
}

/** Every service in a namespace the mesh monitors: the names a gRPC client may dial. */
export const meshServices: DerivationSpec<readonly string[]> = {
  id: 'grpc/mesh-services',
  compute(r) {
    const out: string[] = [];
    for (const svc of r.list('Service')) {
      if (r.lookup('meshNamespaces', svc.meta.namespace).length > 0) out.push(keyOf(svc.meta));
    }
    return out.sort();
  },
};

/** Identities ("ns/sa") of the workloads behind a service: who a client expects on the other end. */
export function identitiesBehind(svcKey: string): DerivationSpec<readonly string[]> {
  return {
    id: `grpc/identities-behind/${svcKey}`,
    compute: (r) => [...r.lookup('serviceAccountsByService', svcKey)].sort(),
  };
}

export interface SplitPlan {
  /** Backend service key -> summed weight (several splits of one apex add up). */
  readonly backends: readonly { readonly service: string; readonly weight: number }[];
  /** HTTPRouteGroup keys the split is limited to; empty: all traffic. */
  readonly matches: readonly string[];
  /** TrafficSplit keys merged into this plan. */
  readonly splits: readonly string[];
}

export function apexSplit(apexKey: string): DerivationSpec<SplitPlan | null> {
  return {
    id: `grpc/split/${apexKey}`,
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

/** The UpstreamTrafficSetting of a service (matched by FQDN host, in the service's namespace). */
export function upstreamSetting(svcKey: string): DerivationSpec<UpstreamTrafficSetting | null> {
  return {
    id: `grpc/upstream-setting/${svcKey}`,
    compute(r) {
      const [ns, name] = splitKey(svcKey);
      for (const k of r.lookup('upstreamSettingsByHost', `${name}.${ns}.svc.cluster.local`)) {
        const s = r.get('UpstreamTrafficSetting', k);
        if (s !== undefined && s.meta.namespace === ns) return s;
      }
      return null;
    },
  };
}

/** The Retry policy a caller has towards a service (the first by key, as policies are sorted). */
export function retryFor(r: Reader, caller: string, svcKey: string): Retry | null {
  for (const rk of r.lookup('retriesBySource', caller)) {
    const retry = r.get('Retry', rk);
    if (retry !== undefined && retry.destinations.some((d) => `${d.namespace}/${d.name}` === svcKey)) return retry;
  }
  return null;
}

export interface ServerPort {
  readonly ip: string;
  readonly port: number;
  /** Services of the workload served on this port. */
  readonly services: readonly string[];
}

export interface ProxyShape {
  readonly identity: string;
  readonly workload: string | null;
  readonly services: readonly string[];
  /** Addresses an xDS-enabled server of this workload binds, with the services behind each. */
  readonly serverPorts: readonly ServerPort[];
}

/**
 * Who a proxy is and what it serves. A workload running as another service account than the proxy's
 * identity is treated as not found, so a proxy never gets server config for an identity it cannot prove.
 */
export function proxyShape(proxy: ProxyIdentity): DerivationSpec<ProxyShape> {
  const identity = `${proxy.namespace}/${proxy.serviceAccount}`;
  return {
    id: `grpc/proxy/${proxy.uuid}@${identity}`,
    compute(r) {
      for (const wk of r.lookup('workloadByProxyUuid', proxy.uuid)) {
        const w = r.get('Workload', wk);
        if (w === undefined || w.meta.namespace !== proxy.namespace || w.serviceAccount !== proxy.serviceAccount) continue;
        const services = [...r.lookup('servicesByWorkload', wk)].sort();
        const byPort = new Map<number, Set<string>>();
        for (const svc of services) {
          for (const p of r.derive(grpcPorts(svc))) {
            const port = typeof p.targetPort === 'number' ? p.targetPort : w.ports.find((c) => c.name === p.targetPort)?.containerPort;
            if (port === undefined) continue;
            const set = byPort.get(port) ?? new Set<string>();
            set.add(svc);
            byPort.set(port, set);
          }
        }
        const serverPorts: ServerPort[] = [];
        for (const ip of [...w.ips].sort()) {
          for (const [port, svcs] of [...byPort.entries()].sort(([a], [b]) => a - b)) serverPorts.push({ ip, port, services: [...svcs].sort() });
        }
        return { identity, workload: wk, services, serverPorts };
      }
      return { identity, workload: null, services: [], serverPorts: [] };
    },
  };
}

export function shapeId(shape: ProxyShape): string {
  return `${shape.identity}#${shape.serverPorts.map((p) => `${p.ip}:${p.port}=${p.services.join('+')}`).join(',')}`;
}

export interface InboundRule {
  /** Stable route name: the TrafficTarget and the match it came from. */
  readonly name: string;
  /** TrafficTarget key. */
  readonly target: string;
  /** RE2 path regex; null: any path. */
  readonly pathRegex: string | null;
  readonly headers: readonly (readonly [string, string])[];
  /** Source identities ("ns/sa"). */
  readonly sources: readonly string[];
  /** Ports a TCPRoute rule limits the rule to; null: any port. */
  readonly ports: readonly number[] | null;
}

export interface InboundPolicy {
  readonly rules: readonly InboundRule[];
  /** Matches gRPC can never satisfy (every gRPC call is a POST), with the TrafficTarget naming them. */
  readonly unmatchable: readonly { readonly target: string; readonly match: string; readonly methods: readonly string[] }[];
}

function acceptsPost(m: HTTPMatch): boolean {
  return m.methods.length === 0 || m.methods.includes('*') || m.methods.includes('POST');
}

/** What an identity admits, from the TrafficTargets naming it as destination. */
export function inboundPolicy(identity: string): DerivationSpec<InboundPolicy> {
  return {
    id: `grpc/inbound-policy@${identity}`,
    compute(r) {
      const rules: InboundRule[] = [];
      const unmatchable: InboundPolicy['unmatchable'][number][] = [];
      for (const tk of r.lookup('targetsByDestination', identity)) {
        const t = r.get('TrafficTarget', tk);
        if (t === undefined) continue;
        const sources = [...new Set(t.sources.map((s) => `${s.namespace}/${s.name}`))].sort();
        for (const rule of t.rules) {
          const key = `${t.meta.namespace}/${rule.name}`;
          if (rule.kind === 'TCPRoute') {
            const route = r.get('TCPRoute', key);
            if (route === undefined) continue;
            rules.push({ name: `${tk}/tcp:${rule.name}`, target: tk, pathRegex: null, headers: [], sources, ports: route.ports.length === 0 ? null : [...route.ports].sort((a, b) => a - b) });
            continue;
          }
          const group = r.get('HTTPRouteGroup', key);
          if (group === undefined) continue;
          for (const m of group.matches) {
            if (rule.matches.length > 0 && !rule.matches.includes(m.name)) continue;
            if (!acceptsPost(m)) {
              unmatchable.push({ target: tk, match: `${key}/${m.name}`, methods: m.methods });
              continue;
            }
            const headers = Object.entries(m.headers).sort(([a], [b]) => (a < b ? -1 : 1));
            rules.push({ name: `${tk}/${rule.name}/${m.name}`, target: tk, pathRegex: m.pathRegex, headers, sources, ports: null });
          }
        }
      }
      return { rules: rules.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), unmatchable };
    },
  };
}

/** Identities a caller may reach under its TrafficTargets; null: any (permissive mode). */
export function allowedDestinations(caller: string): DerivationSpec<readonly string[] | null> {
  return {
    id: `grpc/allowed-destinations@${caller}`,
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

/** Services whose workloads a caller's policy lets it call (every mesh service in permissive mode). */
export function calledServices(caller: string): DerivationSpec<readonly string[]> {
  return {
    id: `grpc/called-services@${caller}`,
    compute(r) {
      const allowed = r.derive(allowedDestinations(caller));
      if (allowed === null) return r.derive(meshServices);
      const out = new Set<string>();
      for (const dest of allowed) for (const svc of r.lookup('servicesByServiceAccount', dest)) out.add(svc);
      return [...out].sort();
    },
  };
}
