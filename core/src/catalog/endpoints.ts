/**
 * Endpoints derived from Pods, as Kubernetes' endpoint controller makes them, for a service that has no
 * Endpoints resource on the log (a manifest folder of Services and Pods). The catalog keeps one share per
 * selected pod (share below) and builds the Endpoints body from the shares when someone reads it.
 *
 * What the controller does, and what is kept of it:
 *  - a service without a selector (or with an empty one) gets no derived Endpoints: its endpoints are
 *    managed by hand; a service whose selector matches nothing gets Endpoints with no subsets;
 *  - only ready pods with a pod IP are addresses. The controller puts a pod that is not ready in
 *    notReadyAddresses, which the mesh never routes to (model/kinds-core.ts drops them from an Endpoints
 *    resource too), so here it is simply left out; so is a pod that has terminated (it is not ready);
 *  - each service port's target port is the number as given, or the container port of that name and
 *    protocol (Kubernetes' FindPort); a pod without such a port is not an endpoint of that service port,
 *    and a pod with none of the service's ports is no endpoint at all;
 *  - pods are grouped into subsets by the ports they resolve (Kubernetes repacks them the same way).
 * Not modelled: publishNotReadyAddresses, the pod's hostname, the service's labels on the Endpoints, and
 * dual-stack address families (the pod's first IP, status.podIP, is the address).
 */
import type { EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Service, Workload } from '../model/types.js';
import { compareStrings } from '../derive/canonical.js';

/** One pod's part of a service's derived Endpoints: its address and the service ports it resolves. */
export interface EndpointShare {
  readonly ip: string;
  readonly ports: readonly EndpointPort[];
  /** The ports as one string: pods with equal ports share a subset, and shares compare on it. */
  readonly portsKey: string;
}

/** A service's ports when every target port is a number: every pod resolves them alike. */
export interface FixedPorts {
  readonly ports: readonly EndpointPort[];
  readonly portsKey: string;
}

/** The ports all pods share, or null when a target port is a name (each pod resolves it on its own). */
export function fixedPorts(service: Service): FixedPorts | null {
  const ports: EndpointPort[] = [];
  let portsKey = '';
  for (const p of service.ports) {
    if (typeof p.targetPort !== 'number') return null;
    ports.push({ name: p.name, port: p.targetPort, protocol: p.protocol, appProtocol: p.appProtocol });
    portsKey += portKey(p.name, p.targetPort, p.protocol, p.appProtocol);
  }
  return { ports, portsKey };
}

function portKey(name: string, port: number, protocol: string, appProtocol: string | null): string {
  return `${name}\u0000${port}\u0000${protocol}\u0000${appProtocol}\u0001`;
}

/**
 * What a workload contributes to the derived Endpoints of a service selecting it; undefined for nothing.
 * `fixed` is fixedPorts(service); `previous` (the workload's share so far) is returned when nothing changed:
 * on the event path most pod updates leave their share alone, and a share is kept per selected pod.
 */
export function endpointShare(
  service: Service,
  workload: Workload,
  fixed: FixedPorts | null,
  previous: EndpointShare | undefined,
): EndpointShare | undefined {
  if (!workload.ready) return undefined;
  const ip = workload.ips[0];
  if (ip === undefined) return undefined;
  if (fixed !== null) {
    if (previous !== undefined && previous.ip === ip && previous.portsKey === fixed.portsKey) return previous;
    return { ip, ports: fixed.ports, portsKey: fixed.portsKey };
  }
  const ports: EndpointPort[] = [];
  let portsKey = '';
  for (const p of service.ports) {
    let port: number | undefined;
    if (typeof p.targetPort === 'number') port = p.targetPort;
    else {
      for (const c of workload.ports) {
        if (c.name === p.targetPort && c.protocol === p.protocol) {
          port = c.containerPort;
          break;
        }
      }
    }
    if (port === undefined) continue;
    ports.push({ name: p.name, port, protocol: p.protocol, appProtocol: p.appProtocol });
    portsKey += portKey(p.name, port, p.protocol, p.appProtocol);
  }
  // A headless service may have no ports (its pods are still addresses); otherwise a pod serving none of
  // the service's ports is not an endpoint.
  if (ports.length === 0 && service.ports.length > 0) return undefined;
  if (previous !== undefined && previous.ip === ip && previous.portsKey === portsKey) return previous;
  return { ip, ports, portsKey };
}

export function sameShare(a: EndpointShare | undefined, b: EndpointShare | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return a.ip === b.ip && a.portsKey === b.portsKey;
}

/**
 * The Endpoints body of a service from its pods' shares (workload key -> share). Deterministic whatever
 * the map's order: subsets sorted by their ports, addresses by IP then workload.
 */
export function endpointsFromShares(namespace: string, name: string, shares: ReadonlyMap<string, EndpointShare>): Endpoints {
  const groups = new Map<string, { ports: readonly EndpointPort[]; addresses: EndpointAddress[] }>();
  for (const [workload, s] of shares) {
    let g = groups.get(s.portsKey);
    if (g === undefined) groups.set(s.portsKey, (g = { ports: s.ports, addresses: [] }));
    g.addresses.push({ ip: s.ip, workload });
  }
  const subsets: EndpointSubset[] = [...groups.keys()].sort(compareStrings).map((k) => {
    const g = groups.get(k) as { ports: readonly EndpointPort[]; addresses: EndpointAddress[] };
    g.addresses.sort((x, y) => compareStrings(x.ip, y.ip) || compareStrings(x.workload as string, y.workload as string));
    return { addresses: g.addresses, ports: g.ports };
  });
  return { meta: { namespace, name, labels: {}, annotations: {} }, subsets };
}
