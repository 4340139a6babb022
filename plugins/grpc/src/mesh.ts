/**
 * Derivations only the gRPC translators ask: which ports of a service speak gRPC, who a proxy is and which
 * addresses its xDS-enabled servers bind, and what an identity admits as gRPC routes. Ids start with
 * "grpc/". The adapter-independent questions (mesh settings, mesh services, allowed destinations, splits,
 * upstream settings, retries) are core's mesh-policy derivations, shared with every other adapter.
 */
import { proxyWorkload, type AppProtocol, type DerivationSpec, type HTTPMatch, type ProxyIdentity } from '@weft/core';

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
  return {
    id: `grpc/proxy/${proxy.uuid}@${proxy.namespace}/${proxy.serviceAccount}`,
    compute(r) {
      const { identity, key, workload: w, services } = proxyWorkload(r, proxy);
      if (w === null) return { identity, workload: null, services: [], serverPorts: [] };
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
      return { identity, workload: key, services, serverPorts };
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
