/**
 * discovery.k8s.io/v1 EndpointSlices -> the model's Endpoints resource of their Service. The endpoint-slice
 * controller splits a Service's endpoints over several slices (at most 100 endpoints each by default; one
 * slice per address type and per set of ports), so the slices labelled kubernetes.io/service-name=<svc>
 * are merged into one v1-Endpoints-shaped object, which the model then validates like any Endpoints:
 *
 * - Conditions: an endpoint is used when `ready` is true or unset (the API says unset means ready). One
 *   that is not ready is left out, like v1 Endpoints' notReadyAddresses under OSM v1.2. A draining endpoint
 *   (`serving` and `terminating`, so `ready` false) is left out too: it gets no new connections, while
 *   Envoy keeps the connections it already has to it until they close. `serving` alone does not bring a
 *   terminating endpoint back: the model has no draining state to give it.
 * - Address types: IPv4 and IPv6 slices both count (a dual-stack Service has one of each, with the same
 *   ports, merged into one subset); FQDN slices (deprecated) are ignored: Envoy's EDS wants addresses.
 * - Ports: named ports are kept with their names, protocols and appProtocols; slices with the same ports
 *   share a subset, slices with other ports make their own. A port without a number ("all ports") is skipped.
 * - The first address of an endpoint is used (what kube-proxy does); an address in two slices (the
 *   controller moving it) counts once. The result is sorted, so slices reshuffled by the controller append
 *   nothing.
 */

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface SlicePort {
  readonly name?: string;
  readonly port: number;
  readonly protocol?: string;
  readonly appProtocol?: string;
}

export interface SliceAddress {
  readonly ip: string;
  readonly targetRef?: unknown;
}

export interface Slice {
  /** "namespace/name" of the slice. */
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  /** "namespace/service", or "" when the slice has no kubernetes.io/service-name label. */
  readonly service: string;
  readonly ports: readonly SlicePort[];
  /** The endpoints the mesh routes to: ready (or unset), first address each. */
  readonly addresses: readonly SliceAddress[];
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Reads an EndpointSlice as the API sends it; undefined without a name. */
export function sliceOf(raw: unknown): Slice | undefined {
  const o = obj(raw);
  const meta = obj(o?.['metadata']);
  const name = str(meta?.['name']);
  if (o === undefined || name === undefined) return undefined;
  const namespace = str(meta?.['namespace']) || 'default';
  const service = str(obj(meta?.['labels'])?.[SERVICE_NAME_LABEL]) ?? '';
  const addressType = str(o['addressType']);
  const usable = addressType === 'IPv4' || addressType === 'IPv6';
  const ports: SlicePort[] = [];
  for (const p of list(o['ports'])) {
    const port = obj(p);
    // A null port means "all ports"; the model's ports have numbers, so it is left out.
    if (port === undefined || port['port'] === undefined || port['port'] === null) continue;
    ports.push({
      ...(str(port['name']) === undefined ? {} : { name: str(port['name']) }),
      port: port['port'] as number,
      ...(str(port['protocol']) === undefined ? {} : { protocol: str(port['protocol']) }),
      ...(str(port['appProtocol']) === undefined ? {} : { appProtocol: str(port['appProtocol']) }),
    });
  }
  const addresses: SliceAddress[] = [];
  if (usable) {
    for (const e of list(o['endpoints'])) {
      const endpoint = obj(e);
      const ready = obj(endpoint?.['conditions'])?.['ready'];
      if (endpoint === undefined || ready === false) continue;
      const ip = list(endpoint['addresses'])[0];
      if (typeof ip !== 'string') continue;
      addresses.push({ ip, ...(endpoint['targetRef'] === undefined ? {} : { targetRef: endpoint['targetRef'] }) });
    }
  }
  return { id: `${namespace}/${name}`, namespace, name, service: service === '' ? '' : `${namespace}/${service}`, ports, addresses };
}

const portsKey = (ports: readonly SlicePort[]): string =>
  JSON.stringify([...ports].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || a.port - b.port).map((p) => [p.name ?? '', p.port, p.protocol ?? 'TCP', p.appProtocol ?? '']));

/** The v1 Endpoints object of a Service, from its slices (sorted, so the same endpoints give the same object). */
export function mergeSlices(namespace: string, name: string, slices: readonly Slice[]): Obj {
  const subsets = new Map<string, { ports: readonly SlicePort[]; addresses: Map<string, SliceAddress> }>();
  for (const slice of slices) {
    const key = portsKey(slice.ports);
    let subset = subsets.get(key);
    if (subset === undefined) subsets.set(key, (subset = { ports: slice.ports, addresses: new Map() }));
    for (const a of slice.addresses) if (!subset.addresses.has(a.ip)) subset.addresses.set(a.ip, a);
  }
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { namespace, name },
    subsets: [...subsets.entries()]
      .filter(([, s]) => s.addresses.size > 0)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, s]) => ({
        addresses: [...s.addresses.values()].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0)),
        ports: [...s.ports].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || a.port - b.port),
      })),
  };
}
