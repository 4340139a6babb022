import type { LogBatch, MeshEvent } from '../log/types.js';
import type {
  CertificateIssued,
  Meta,
  Namespace,
  ResourceKind,
  Service,
  TrafficSplit,
  TrafficTarget,
  Workload,
} from '../model/types.js';

/**
 * Literal normalized bodies and event envelopes for tests of the projection and of anything reading it.
 * Not a parser: the bodies are already in their normalized form.
 */
export function meta(namespace: string, name: string, labels: Record<string, string> = {}): Meta {
  return { namespace, name, labels, annotations: {} };
}

export function namespaceBody(name: string, monitoredBy: string | null = 'osm'): Namespace {
  return { meta: meta('', name), monitoredBy };
}

export function serviceBody(ns: string, name: string, selector: Record<string, string> | null, port = 80): Service {
  return {
    meta: meta(ns, name),
    ports: [{ name: 'http', port, targetPort: port, protocol: 'TCP', appProtocol: 'http' }],
    selector,
    clusterIP: null,
  };
}

export function workloadBody(
  ns: string,
  name: string,
  labels: Record<string, string>,
  serviceAccount: string,
  opts: { ip?: string; proxyUuid?: string | null; ready?: boolean } = {},
): Workload {
  return {
    meta: meta(ns, name, labels),
    serviceAccount,
    ips: [opts.ip ?? '10.0.0.1'],
    ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
    proxyUuid: opts.proxyUuid ?? null,
    ready: opts.ready ?? true,
  };
}

export function trafficTargetBody(ns: string, name: string, destSa: string, sourceSas: readonly string[]): TrafficTarget {
  return {
    meta: meta(ns, name),
    destination: { kind: 'ServiceAccount', name: destSa, namespace: ns },
    sources: sourceSas.map((s) => ({ kind: 'ServiceAccount' as const, name: s, namespace: ns })),
    rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: [] }],
  };
}

export function trafficSplitBody(ns: string, name: string, apex: string, backends: readonly string[]): TrafficSplit {
  return { meta: meta(ns, name), service: apex, backends: backends.map((service) => ({ service, weight: 50 })), matches: [] };
}

/** Builds batches with increasing offsets, like a log would. */
export class EventFactory {
  private next = 0;
  constructor(private readonly source = 'test') {}

  upsert(kind: ResourceKind, body: { meta: Meta }, source = this.source): MeshEvent {
    const key = body.meta.namespace === '' ? body.meta.name : `${body.meta.namespace}/${body.meta.name}`;
    return { v: 1, offset: this.next++, time: 1_700_000_000_000 + this.next, source, op: 'upsert', kind, key, body };
  }

  delete(kind: ResourceKind, key: string, source = this.source): MeshEvent {
    return { v: 1, offset: this.next++, time: 1_700_000_000_000 + this.next, source, op: 'delete', kind, key };
  }

  batch(...events: MeshEvent[]): LogBatch {
    return { events };
  }
}

/** Issuance metadata as a certificate issuer appends it (no key material). */
export function certificateIssuedBody(ns: string, sa: string, fingerprint: string): CertificateIssued {
  return {
    meta: meta(ns, sa),
    identity: `spiffe://cluster.local/ns/${ns}/sa/${sa}`,
    serial: fingerprint.slice(0, 8),
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter: '2026-01-02T00:00:00.000Z',
    fingerprint,
  };
}
