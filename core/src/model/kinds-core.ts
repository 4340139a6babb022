/**
 * Kubernetes core/v1 kinds the mesh reads: Namespace, ServiceAccount, Service, Pod (as a Workload), Endpoints.
 * Field names and defaults follow the Kubernetes API; the app protocol of a port follows OSM.
 */
import type {
  AppProtocol,
  ContainerPort,
  EndpointAddress,
  EndpointPort,
  EndpointSubset,
  Endpoints,
  L4Protocol,
  Meta,
  Namespace,
  Service,
  ServiceAccount,
  ServicePort,
  Workload,
} from './types.js';
import {
  child,
  eachOf,
  Issues,
  Obj,
  readIp,
  readList,
  readObj,
  readOneOf,
  readPort,
  readLabelMap,
  readStr,
} from './fields.js';
import { isIpAddress } from './values.js';

export const L4_PROTOCOLS: readonly L4Protocol[] = ['TCP', 'UDP', 'SCTP'];
export const APP_PROTOCOLS: readonly AppProtocol[] = ['http', 'tcp', 'grpc', 'tcp-server-first', 'https'];

/** Label by which a namespace joins a mesh (its value is the mesh name). */
export const MONITORED_BY_LABEL = 'openservicemesh.io/monitored-by';
/** Label carrying a pod's proxy id (Envoy node id), as OSM's injector sets it. */
export const PROXY_UUID_LABEL = 'osm-proxy-uuid';

/** OSM's rule: a port name prefix picks the protocol; anything else is http. */
export function appProtocolFromPortName(portName: string): AppProtocol {
  const name = portName.toLowerCase();
  if (name.startsWith('http-')) return 'http';
  if (name.startsWith('tcp-')) return 'tcp';
  if (name.startsWith('grpc-')) return 'grpc';
  return 'http';
}

const lower = (s: string): string => s.toLowerCase();

export function normalizeNamespace(meta: Meta): Namespace {
  return { meta, monitoredBy: meta.labels[MONITORED_BY_LABEL] ?? null };
}

export function normalizeServiceAccount(meta: Meta): ServiceAccount {
  return { meta };
}

export function normalizeService(is: Issues, doc: Obj, meta: Meta): Service {
  const spec = readObj(is, doc.spec, 'spec') ?? {};
  const ports: ServicePort[] = [];
  for (const [raw, path] of eachOf(readList(is, spec.ports, 'spec.ports'), 'spec.ports')) {
    const p = readObj(is, raw, path, { required: true });
    if (p === undefined) continue;
    const name = readStr(is, p.name, child(path, 'name')) ?? '';
    const port = readPort(is, p.port, child(path, 'port'), { required: true });
    let targetPort: number | string | undefined = port;
    if (typeof p.targetPort === 'string' && p.targetPort !== '') {
      // A named target port is resolved against the pods' container ports by the consumer.
      targetPort = p.targetPort;
    } else if (p.targetPort !== undefined && p.targetPort !== null) {
      targetPort = readPort(is, p.targetPort, child(path, 'targetPort'));
    }
    const protocol = readOneOf(is, p.protocol, child(path, 'protocol'), L4_PROTOCOLS) ?? 'TCP';
    const declared = readOneOf(is, p.appProtocol, child(path, 'appProtocol'), APP_PROTOCOLS, { normalize: lower });
    if (port === undefined || targetPort === undefined) continue;
    ports.push({ name, port, targetPort, protocol, appProtocol: declared ?? appProtocolFromPortName(name) });
  }
  const selector = readLabelMap(is, spec.selector, 'spec.selector');
  let clusterIP = readStr(is, spec.clusterIP, 'spec.clusterIP') ?? null;
  if (clusterIP === '') clusterIP = null;
  // "None" marks a headless service and is kept as Kubernetes writes it.
  if (clusterIP !== null && clusterIP !== 'None' && !isIpAddress(clusterIP)) {
    is.add('spec.clusterIP', `must be an IP address or "None", got ${JSON.stringify(clusterIP)}`);
  }
  return {
    meta,
    ports,
    // An empty selector selects nothing in Kubernetes (endpoints are managed by hand), same as no selector.
    selector: selector === undefined || Object.keys(selector).length === 0 ? null : selector,
    clusterIP,
  };
}

export function normalizePod(is: Issues, doc: Obj, meta: Meta): Workload {
  const spec = readObj(is, doc.spec, 'spec') ?? {};
  const status = readObj(is, doc.status, 'status');
  const serviceAccount =
    readStr(is, spec.serviceAccountName, 'spec.serviceAccountName') ||
    // The deprecated alias Kubernetes still honours.
    readStr(is, spec.serviceAccount, 'spec.serviceAccount') ||
    'default';

  const ports: ContainerPort[] = [];
  for (const [rawC, cPath] of eachOf(readList(is, spec.containers, 'spec.containers'), 'spec.containers')) {
    const c = readObj(is, rawC, cPath, { required: true });
    if (c === undefined) continue;
    const portsPath = child(cPath, 'ports');
    for (const [rawP, pPath] of eachOf(readList(is, c.ports, portsPath), portsPath)) {
      const p = readObj(is, rawP, pPath, { required: true });
      if (p === undefined) continue;
      const name = readStr(is, p.name, child(pPath, 'name')) ?? '';
      const containerPort = readPort(is, p.containerPort, child(pPath, 'containerPort'), { required: true });
      const protocol = readOneOf(is, p.protocol, child(pPath, 'protocol'), L4_PROTOCOLS) ?? 'TCP';
      if (containerPort !== undefined) ports.push({ name, containerPort, protocol });
    }
  }

  const ips: string[] = [];
  if (status !== undefined) {
    for (const [raw, path] of eachOf(readList(is, status.podIPs, 'status.podIPs'), 'status.podIPs')) {
      const entry = readObj(is, raw, path, { required: true });
      const ip = entry === undefined ? undefined : readIp(is, entry.ip, child(path, 'ip'), { required: true });
      if (ip !== undefined && !ips.includes(ip)) ips.push(ip);
    }
    const podIP = readIp(is, status.podIP, 'status.podIP');
    // podIP is podIPs[0] when both are given; a hand-written manifest may give only one of them.
    if (podIP !== undefined && !ips.includes(podIP)) ips.unshift(podIP);
  }

  return {
    meta,
    serviceAccount,
    ips,
    ports,
    proxyUuid: meta.labels[PROXY_UUID_LABEL] ?? null,
    ready: podReady(is, status),
  };
}

/**
 * The pod's Ready condition when it has one; otherwise ready unless it has terminated. A manifest without
 * status (the usual hand-written case) is ready, so an example mesh works without faking conditions.
 */
function podReady(is: Issues, status: Obj | undefined): boolean {
  if (status === undefined) return true;
  let ready: boolean | undefined;
  for (const [raw, path] of eachOf(readList(is, status.conditions, 'status.conditions'), 'status.conditions')) {
    const cond = readObj(is, raw, path, { required: true });
    if (cond === undefined || cond.type !== 'Ready') continue;
    const value = readOneOf(is, cond.status, child(path, 'status'), ['True', 'False', 'Unknown'], { required: true });
    ready = value === 'True';
  }
  if (ready !== undefined) return ready;
  const phase = readStr(is, status.phase, 'status.phase');
  return phase !== 'Succeeded' && phase !== 'Failed';
}

export function normalizeEndpoints(is: Issues, doc: Obj, meta: Meta): Endpoints {
  const subsets: EndpointSubset[] = [];
  for (const [rawS, sPath] of eachOf(readList(is, doc.subsets, 'subsets'), 'subsets')) {
    const s = readObj(is, rawS, sPath, { required: true });
    if (s === undefined) continue;
    // notReadyAddresses are left out: the mesh routes only to ready endpoints.
    const addresses: EndpointAddress[] = [];
    const aPathBase = child(sPath, 'addresses');
    for (const [rawA, aPath] of eachOf(readList(is, s.addresses, aPathBase), aPathBase)) {
      const a = readObj(is, rawA, aPath, { required: true });
      if (a === undefined) continue;
      const ip = readIp(is, a.ip, child(aPath, 'ip'), { required: true });
      const ref = readObj(is, a.targetRef, child(aPath, 'targetRef'));
      let workload: string | null = null;
      if (ref !== undefined && ref.kind === 'Pod') {
        const name = readStr(is, ref.name, child(aPath, 'targetRef.name'), { required: true });
        const ns = readStr(is, ref.namespace, child(aPath, 'targetRef.namespace')) || meta.namespace;
        if (name !== undefined) workload = `${ns}/${name}`;
      }
      if (ip !== undefined) addresses.push({ ip, workload });
    }
    const ports: EndpointPort[] = [];
    const pPathBase = child(sPath, 'ports');
    for (const [rawP, pPath] of eachOf(readList(is, s.ports, pPathBase), pPathBase)) {
      const p = readObj(is, rawP, pPath, { required: true });
      if (p === undefined) continue;
      const name = readStr(is, p.name, child(pPath, 'name')) ?? '';
      const port = readPort(is, p.port, child(pPath, 'port'), { required: true });
      const protocol = readOneOf(is, p.protocol, child(pPath, 'protocol'), L4_PROTOCOLS) ?? 'TCP';
      const appProtocol =
        readOneOf(is, p.appProtocol, child(pPath, 'appProtocol'), APP_PROTOCOLS, { normalize: lower }) ?? null;
      if (port !== undefined) ports.push({ name, port, protocol, appProtocol });
    }
    subsets.push({ addresses, ports });
  }
  return { meta, subsets };
}
