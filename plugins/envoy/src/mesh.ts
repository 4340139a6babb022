/**
 * Derivations that read the mesh and answer the questions every translator asks: who is this proxy, which
 * services may an identity call, which ports does a service have, how is an apex split. Each is shared by id,
 * so a thousand proxies of one identity ask the catalog once.
 */
import { DEFAULT_TRUST_DOMAIN, keyOf, type AppProtocol, type DerivationSpec, type ProxyIdentity, type Reader, type UpstreamTrafficSetting } from '@weft/core';
import { serviceFqdn, splitKey } from './names.js';

export interface MeshSettings {
  readonly permissive: boolean;
  readonly egress: boolean;
  readonly trustDomain: string;
}

/** The mesh-wide switches. With no MeshConfig the defaults are OSM's: strict mode, no egress. */
export const meshSettings: DerivationSpec<MeshSettings> = {
  id: 'envoy/mesh-settings',
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

export interface PortInfo {
  readonly port: number;
  readonly targetPort: number;
  readonly protocol: AppProtocol;
}

/**
 * A service's ports with target ports resolved to numbers. A named target port is looked up in the
 * service's Endpoints (same port name), then in the container ports of the workloads behind it; a port that
 * resolves nowhere is left out (there is nothing to send it to yet).
 */
export function servicePorts(svcKey: string): DerivationSpec<readonly PortInfo[]> {
  return {
    id: `envoy/service-ports/${svcKey}`,
    compute(r) {
      const svc = r.get('Service', svcKey);
      if (svc === undefined) return [];
      const out: PortInfo[] = [];
      for (const p of svc.ports) {
        if (p.protocol !== 'TCP') continue;
        const target = typeof p.targetPort === 'number' ? p.targetPort : namedTargetPort(r, svcKey, p.name, p.targetPort);
        if (target !== null) out.push({ port: p.port, targetPort: target, protocol: p.appProtocol });
      }
      return out.sort((a, b) => a.port - b.port);
    },
  };
}

function namedTargetPort(r: Reader, svcKey: string, portName: string, targetName: string): number | null {
  for (const subset of r.get('Endpoints', svcKey)?.subsets ?? []) {
    const match = subset.ports.find((p) => p.name === portName);
    if (match !== undefined) return match.port;
  }
  for (const wk of r.lookup('workloadsByService', svcKey)) {
    const match = r.get('Workload', wk)?.ports.find((p) => p.name === targetName);
    if (match !== undefined) return match.containerPort;
  }
  return null;
}

function inMesh(r: Reader, namespace: string): boolean {
  return r.lookup('meshNamespaces', namespace).length > 0;
}

/**
 * Identities a source identity may call (TrafficTargets naming it as a source); null means any (permissive).
 */
export function allowedDestinations(identity: string): DerivationSpec<readonly string[] | null> {
  return {
    id: `envoy/allowed-destinations@${identity}`,
    compute(r) {
      if (r.derive(meshSettings).permissive) return null;
      const out = new Set<string>();
      for (const tk of r.lookup('targetsBySource', identity)) {
        const t = r.get('TrafficTarget', tk);
        if (t !== undefined) out.add(`${t.destination.namespace}/${t.destination.name}`);
      }
      return [...out].sort();
    },
  };
}

/**
 * Services an identity may call: every mesh service in permissive mode; otherwise the services in front of
 * the identities its TrafficTargets allow, plus the apex of any split whose backend it may call (an apex
 * without a selector of its own is still the name clients dial).
 */
export function outboundServices(identity: string): DerivationSpec<readonly string[]> {
  return {
    id: `envoy/outbound-services@${identity}`,
    compute(r) {
      const allowed = r.derive(allowedDestinations(identity));
      const out = new Set<string>();
      if (allowed === null) {
        for (const svc of r.list('Service')) if (inMesh(r, svc.meta.namespace)) out.add(keyOf(svc.meta));
        return [...out].sort();
      }
      for (const dest of allowed) for (const svc of r.lookup('servicesByServiceAccount', dest)) out.add(svc);
      for (const svc of [...out]) {
        for (const sk of r.lookup('splitsByBackend', svc)) {
          const split = r.get('TrafficSplit', sk);
          if (split === undefined) continue;
          const apex = `${split.meta.namespace}/${split.service}`;
          if (r.get('Service', apex) !== undefined) out.add(apex);
        }
      }
      return [...out].sort();
    },
  };
}

export interface SplitBackend {
  readonly service: string;
  readonly weight: number;
}

/**
 * Every TrafficSplit of an apex merged into one backend list (weights of a backend named by several splits
 * add up). OSM used only the first split per apex; the merge is deliberate.
 */
export function apexSplit(apexKey: string): DerivationSpec<readonly SplitBackend[]> {
  return {
    id: `envoy/split/${apexKey}`,
    compute(r) {
      const weights = new Map<string, number>();
      for (const sk of r.lookup('splitsByApex', apexKey)) {
        const split = r.get('TrafficSplit', sk);
        if (split === undefined) continue;
        for (const b of split.backends) {
          const key = `${split.meta.namespace}/${b.service}`;
          weights.set(key, (weights.get(key) ?? 0) + b.weight);
        }
      }
      return [...weights.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([service, weight]) => ({ service, weight }));
    },
  };
}

/** The UpstreamTrafficSetting for a service (matched by FQDN host, in the service's namespace). */
export function upstreamSetting(svcKey: string): DerivationSpec<UpstreamTrafficSetting | null> {
  return {
    id: `envoy/upstream-setting/${svcKey}`,
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

export interface ProxyShape {
  /** "ns/sa": the identity from the proxy's certificate. */
  readonly identity: string;
  /** The workload key, or null when no workload carries this proxy uuid (yet). */
  readonly workload: string | null;
  /** Services selecting the workload (inbound side), sorted. */
  readonly services: readonly string[];
  readonly prometheus: boolean;
}

/**
 * What distinguishes one proxy's configuration from another's: its identity, the services in front of its
 * workload and whether it is scraped. Proxies with equal shapes share every resource derivation.
 * A workload running as another service account than the certificate says is treated as not found, so a
 * proxy never receives inbound config for an identity it cannot prove.
 */
export function proxyShape(proxy: ProxyIdentity): DerivationSpec<ProxyShape> {
  const identity = `${proxy.namespace}/${proxy.serviceAccount}`;
  return {
    id: `envoy/proxy/${proxy.uuid}@${identity}`,
    compute(r) {
      for (const wk of r.lookup('workloadByProxyUuid', proxy.uuid)) {
        const w = r.get('Workload', wk);
        if (w === undefined || w.meta.namespace !== proxy.namespace || w.serviceAccount !== proxy.serviceAccount) continue;
        return {
          identity,
          workload: wk,
          services: [...r.lookup('servicesByWorkload', wk)].sort(),
          prometheus: w.meta.annotations['prometheus.io/scrape'] === 'true',
        };
      }
      return { identity, workload: null, services: [], prometheus: false };
    },
  };
}

/** A stable id fragment for a shape. */
export function shapeId(shape: ProxyShape): string {
  return `${shape.identity}#${shape.services.join(',')}${shape.prometheus ? '#prom' : ''}`;
}

/** Identities ("ns/sa") of the workloads behind a service. */
export function identitiesBehind(r: Reader, svcKey: string): readonly string[] {
  return [...r.lookup('serviceAccountsByService', svcKey)].sort();
}
