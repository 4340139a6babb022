/**
 * Derivations only the Envoy translators ask: a service's ports with target ports resolved, the services a
 * caller's outbound listener covers (split apexes included), and what distinguishes one sidecar's shape from
 * another's. The adapter-independent questions (mesh settings, allowed destinations, splits, upstream
 * settings) are core's mesh-policy derivations, shared with every other adapter.
 */
import { allowedDestinations, calledServices, proxyWorkload, type AppProtocol, type DerivationSpec, type ProxyIdentity, type Reader } from '@weft/core';
import { isPrometheusScrapeEnabled } from './annotations.js';

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

/**
 * The ports of a service its workload's inbound listener serves: one per target port (the lowest service
 * port mapping to it decides the protocol). The inbound chains, the `rds-inbound.<targetPort>` route
 * configurations and the local clusters all come from this one list, so a chain never names a route
 * configuration or cluster that is not served.
 */
export function inboundPorts(r: Reader, svcKey: string): PortInfo[] {
  const seen = new Set<number>();
  const out: PortInfo[] = [];
  for (const p of r.derive(servicePorts(svcKey))) {
    if (seen.has(p.targetPort)) continue;
    seen.add(p.targetPort);
    out.push(p);
  }
  return out;
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

/**
 * Services an identity may call: every mesh service in permissive mode; otherwise the services in front of
 * the identities its TrafficTargets allow, plus the apex of any split whose backend it may call (an apex
 * without a selector of its own is still the name clients dial).
 */
export function outboundServices(identity: string): DerivationSpec<readonly string[]> {
  return {
    id: `envoy/outbound-services@${identity}`,
    compute(r) {
      const called = r.derive(calledServices(identity));
      if (r.derive(allowedDestinations(identity)) === null) return called;
      const out = new Set(called);
      for (const svc of called) {
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
  return {
    id: `envoy/proxy/${proxy.uuid}@${proxy.namespace}/${proxy.serviceAccount}`,
    compute(r) {
      const { identity, key, workload, services } = proxyWorkload(r, proxy);
      return { identity, workload: key, services, prometheus: workload != null && isPrometheusScrapeEnabled(workload.meta.annotations) };
    },
  };
}

/** A stable id fragment for a shape. */
export function shapeId(shape: ProxyShape): string {
  return `${shape.identity}#${shape.services.join(',')}${shape.prometheus ? '#prom' : ''}`;
}
