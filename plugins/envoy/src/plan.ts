/**
 * Per-identity plans: what a calling identity reaches (outbound), what an identity admits (inbound policy),
 * ingress and egress. They hold names and ports, not weights or addresses, so a weight or endpoint change
 * stops here (early cut-off) and re-runs only the translators that read those directly.
 */
import { createHash } from 'node:crypto';
import { meshSettings, type AppProtocol, type DerivationSpec, type Reader, type envoy } from '@weft/core';
import { inboundPorts, outboundServices, servicePorts } from './mesh.js';
import { principalName, splitKey } from './names.js';

type Principal = envoy.config.rbac.v3.Principal;

/**
 * Hash of a plain tree built in a fixed key order, with no Map, Set, undefined or bytes: its JSON text is
 * then already canonical, and JSON.stringify costs a fraction of the engine's general canonical form,
 * which the inbound policy of every edited identity pays on each route group change.
 */
function jsonHash(value: unknown): string {
  const json = JSON.stringify(value);
  // A short text is its own identity, exact and without setting up a digest (most of the cost at this
  // size, paid by every edited identity's policy and targets); it cannot equal a digest, which never starts
  // with '{' or '['. Longer ones are digested so that the engine keeps no large copy per identity.
  return json.length <= SHORT_JSON ? json : createHash('sha256').update(json).digest('base64url');
}

const SHORT_JSON = 2048;

export interface ClusterRef {
  readonly svc: string;
  readonly targetPort: number;
}

export interface OutboundEntry {
  readonly svc: string;
  readonly port: number;
  readonly targetPort: number;
  readonly protocol: AppProtocol;
  /** Split backends reachable on this port (for an apex); empty when the service is not split. */
  readonly backends: readonly ClusterRef[];
}

export function isHttp(protocol: AppProtocol): boolean {
  return protocol === 'http' || protocol === 'grpc';
}

export function outboundPlan(caller: string): DerivationSpec<readonly OutboundEntry[]> {
  return {
    id: `envoy/outbound-plan@${caller}`,
    compute(r) {
      const services = r.derive(outboundServices(caller));
      const reachable = new Set(services);
      const out: OutboundEntry[] = [];
      for (const svc of services) {
        const backendKeys = splitBackendKeys(r, svc).filter((b) => reachable.has(b) && b !== svc);
        for (const p of r.derive(servicePorts(svc))) {
          const backends: ClusterRef[] = [];
          for (const b of backendKeys) {
            const ports = r.derive(servicePorts(b));
            const bp = ports.find((x) => x.port === p.port) ?? (ports.length === 1 ? ports[0] : undefined);
            if (bp !== undefined) backends.push({ svc: b, targetPort: bp.targetPort });
          }
          out.push({ svc, port: p.port, targetPort: p.targetPort, protocol: p.protocol, backends });
        }
      }
      return out;
    },
  };
}

/** Backend service keys of every split of an apex (membership only: weights are read by routes). */
function splitBackendKeys(r: Reader, apex: string): string[] {
  const keys = new Set<string>();
  for (const sk of r.lookup('splitsByApex', apex)) {
    const split = r.get('TrafficSplit', sk);
    if (split !== undefined) for (const b of split.backends) keys.add(`${split.meta.namespace}/${b.service}`);
  }
  return [...keys].sort();
}

/** Every cluster an outbound plan needs: each service port's own cluster and the split backends'. */
export function planClusters(plan: readonly OutboundEntry[]): ClusterRef[] {
  const seen = new Map<string, ClusterRef>();
  for (const e of plan) {
    for (const ref of [{ svc: e.svc, targetPort: e.targetPort }, ...e.backends]) seen.set(`${ref.svc}|${ref.targetPort}`, ref);
  }
  return [...seen.keys()].sort().map((k) => seen.get(k) as ClusterRef);
}

export interface HttpRule {
  /** Stable route name: the route group and match it came from. */
  readonly name: string;
  readonly pathRegex: string;
  /** null: any method. */
  readonly method: string | null;
  readonly headers: readonly (readonly [string, string])[];
  readonly principals: readonly string[];
}

export interface InboundPolicy {
  /** TrafficTarget key -> principals and allowed ports (null: any port). For network RBAC. */
  readonly targets: readonly { readonly name: string; readonly principals: readonly string[]; readonly tcpPorts: readonly number[] | null; readonly http: boolean }[];
  /** HTTP routes allowed, merged across targets (same match -> union of principals). */
  readonly routes: readonly HttpRule[];
}

/** What an identity admits, from the TrafficTargets naming it as destination. */
export function inboundPolicy(identity: string): DerivationSpec<InboundPolicy> {
  return {
    id: `envoy/inbound-policy@${identity}`,
    hash: jsonHash,
    compute(r) {
      const { trustDomain } = r.derive(meshSettings);
      const targets: InboundPolicy['targets'][number][] = [];
      const routes = new Map<string, { rule: Omit<HttpRule, 'principals'>; principals: Set<string> }>();
      for (const tk of r.lookup('targetsByDestination', identity)) {
        const t = r.get('TrafficTarget', tk);
        if (t === undefined) continue;
        const principals = t.sources.map((s) => principalName(s.namespace, s.name, trustDomain)).sort();
        let http = false;
        let tcpPorts: number[] | null | undefined;
        for (const rule of t.rules) {
          const key = `${t.meta.namespace}/${rule.name}`;
          if (rule.kind === 'TCPRoute') {
            const route = r.get('TCPRoute', key);
            if (route === undefined) continue;
            if (route.ports.length === 0 || tcpPorts === null) tcpPorts = null;
            else tcpPorts = [...(tcpPorts ?? []), ...route.ports];
            continue;
          }
          const group = r.get('HTTPRouteGroup', key);
          if (group === undefined) continue;
          http = true;
          for (const m of group.matches) {
            if (rule.matches.length > 0 && !rule.matches.includes(m.name)) continue;
            const methods = m.methods.includes('*') || m.methods.length === 0 ? [null] : m.methods;
            for (const method of methods) {
              const headers = Object.entries(m.headers).sort(([a], [b]) => (a < b ? -1 : 1));
              const pathRegex = m.pathRegex ?? '.*';
              const sig = JSON.stringify([pathRegex, method, headers]);
              const entry = routes.get(sig) ?? { rule: { name: `${key}/${m.name}${method === null ? '' : `/${method}`}`, pathRegex, method, headers }, principals: new Set<string>() };
              for (const p of principals) entry.principals.add(p);
              routes.set(sig, entry);
            }
          }
        }
        targets.push({ name: tk, principals, tcpPorts: tcpPorts === undefined ? [] : tcpPorts === null ? null : [...new Set(tcpPorts)].sort((a, b) => a - b), http });
      }
      const merged = [...routes.values()]
        .map(({ rule, principals }) => ({ ...rule, principals: [...principals].sort() }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return { targets, routes: merged };
    },
  };
}

/**
 * The network side of an identity's inbound policy: its targets (principals, TCP ports, whether HTTP),
 * without the HTTP routes. The inbound listener reads only this, so a route group edit that changes the
 * routes alone leaves the listener clean (cut off) instead of translating and encoding it again to the
 * same bytes; only the inbound route configuration, which does use the routes, is rebuilt.
 */
export function inboundTargets(identity: string): DerivationSpec<InboundPolicy['targets']> {
  return {
    id: `envoy/inbound-targets@${identity}`,
    hash: jsonHash,
    compute: (r) => r.derive(inboundPolicy(identity)).targets,
  };
}

export interface IngressRule {
  readonly port: number;
  readonly protocol: string;
  readonly tls: { readonly skipClientCertValidation: boolean; readonly sniHosts: readonly string[] } | null;
  /** RBAC principals: remote IP ranges and authenticated names. */
  readonly principals: readonly Principal[];
}

/** An RBAC principal: a peer whose certificate names `name` (a SPIFFE-style identity). */
export function authenticated(name: string): Principal {
  return { authenticated: { principalName: { exact: name } } };
}

function cidr(value: string): Principal {
  const [ip = value, len] = value.split('/');
  const prefixLen = len === undefined ? (ip.includes(':') ? 128 : 32) : Number(len);
  return { directRemoteIp: { addressPrefix: ip, prefixLen: { value: prefixLen } } };
}

/** IngressBackends naming a service: who may reach which port, from outside the mesh. */
export function ingressRules(svcKey: string): DerivationSpec<readonly IngressRule[]> {
  return {
    id: `envoy/ingress@${svcKey}`,
    compute(r) {
      const [, svc] = splitKey(svcKey);
      // OSM matches a backend's port against the service's target ports (pkg/catalog/ingress.go): a port the
      // service forwards nothing to has no local cluster to route to, so it gets no ingress chain or route.
      const targetPorts = new Set(inboundPorts(r, svcKey).map((p) => p.targetPort));
      const byPort = new Map<string, IngressRule>();
      for (const ik of r.lookup('ingressBackendsByService', svcKey)) {
        const ib = r.get('IngressBackend', ik);
        if (ib === undefined) continue;
        const principals: Principal[] = [];
        for (const s of ib.sources) {
          if (s.kind === 'IPRange') principals.push(cidr(s.name));
          else if (s.kind === 'AuthenticatedPrincipal') principals.push(authenticated(s.name));
          else {
            const src = `${s.namespace ?? ib.meta.namespace}/${s.name}`;
            for (const subset of r.get('Endpoints', src)?.subsets ?? []) for (const a of subset.addresses) principals.push(cidr(a.ip));
          }
        }
        for (const b of ib.backends) {
          if (b.name !== svc || !targetPorts.has(b.port.number)) continue;
          const protocol = b.port.protocol.toLowerCase();
          const id = `${b.port.number}/${protocol}`;
          const prev = byPort.get(id);
          byPort.set(id, {
            port: b.port.number,
            protocol,
            tls: b.tls ?? prev?.tls ?? null,
            principals: [...(prev?.principals ?? []), ...principals],
          });
        }
      }
      return [...byPort.keys()].sort().map((k) => {
        const rule = byPort.get(k) as IngressRule;
        const unique = [...new Map(rule.principals.map((p) => [JSON.stringify(p), p])).values()];
        return { ...rule, principals: unique };
      });
    },
  };
}

export interface EgressPlan {
  readonly passthrough: boolean;
  /** HTTP port -> hosts. */
  readonly http: readonly { readonly port: number; readonly hosts: readonly string[] }[];
  /** TLS (SNI) host routes: one filter chain each. */
  readonly sni: readonly { readonly port: number; readonly host: string }[];
  /** TCP by destination address. */
  readonly cidr: readonly { readonly port: number; readonly cidrs: readonly string[] }[];
}

/** Egress for a calling identity: the global passthrough switch and the Egress policies naming it. */
export function egressPlan(caller: string): DerivationSpec<EgressPlan> {
  return {
    id: `envoy/egress-plan@${caller}`,
    compute(r) {
      const settings = r.derive(meshSettings);
      const http = new Map<number, Set<string>>();
      const sni = new Map<string, { port: number; host: string }>();
      const cidrs = new Map<number, Set<string>>();
      for (const ek of r.lookup('egressesBySource', caller)) {
        const e = r.get('Egress', ek);
        if (e === undefined) continue;
        for (const p of e.ports) {
          const protocol = p.protocol.toLowerCase();
          if (protocol === 'http') {
            const set = http.get(p.number) ?? new Set<string>();
            for (const h of e.hosts) set.add(h);
            http.set(p.number, set);
          } else {
            for (const h of e.hosts) sni.set(`${h}:${p.number}`, { port: p.number, host: h });
            if (e.ipAddresses.length > 0) {
              const set = cidrs.get(p.number) ?? new Set<string>();
              for (const c of e.ipAddresses) set.add(c);
              cidrs.set(p.number, set);
            }
          }
        }
      }
      const byNum = <V>(m: Map<number, V>): [number, V][] => [...m.entries()].sort(([a], [b]) => a - b);
      return {
        passthrough: settings.egress,
        http: byNum(http).filter(([, h]) => h.size > 0).map(([port, hosts]) => ({ port, hosts: [...hosts].sort() })),
        sni: [...sni.keys()].sort().map((k) => sni.get(k) as { port: number; host: string }),
        cidr: byNum(cidrs).map(([port, c]) => ({ port, cidrs: [...c].sort() })),
      };
    },
  };
}
