import type { IndexName } from './types.js';
import type {
  AnyResource,
  Egress,
  IngressBackend,
  Namespace,
  ResourceKind,
  Retry,
  Service,
  TrafficSplit,
  TrafficTarget,
  UpstreamTrafficSetting,
  Workload,
} from '../model/types.js';

/** Every index the projection maintains, in a fixed order (snapshots and debug listings follow it). */
export const INDEX_NAMES: readonly IndexName[] = [
  'workloadsByServiceAccount',
  'workloadsByService',
  'servicesByWorkload',
  'servicesByServiceAccount',
  'serviceAccountsByService',
  'workloadByProxyUuid',
  'targetsByDestination',
  'targetsBySource',
  'splitsByApex',
  'splitsByBackend',
  'retriesBySource',
  'upstreamSettingsByHost',
  'ingressBackendsByService',
  'egressesBySource',
  'meshNamespaces',
];

/** One (index, value) entry a single resource puts its own key into. */
export interface Contribution {
  readonly index: IndexName;
  readonly value: string;
}

/** Kinds for which ownContributions can return anything: the catalog skips the others on the event path. */
export const KINDS_WITH_OWN_ENTRIES: ReadonlySet<ResourceKind> = new Set<ResourceKind>([
  'Workload',
  'TrafficTarget',
  'TrafficSplit',
  'Retry',
  'UpstreamTrafficSetting',
  'IngressBackend',
  'Egress',
  'Namespace',
]);

/**
 * The index entries a resource contributes on its own, independent of any other resource. The selector
 * relation between services and workloads is not here: it depends on pairs and is kept by the catalog.
 */
export function ownContributions(kind: ResourceKind, body: AnyResource): Contribution[] {
  const out: Contribution[] = [];
  const add = (index: IndexName, value: string): void => {
    if (!out.some((c) => c.index === index && c.value === value)) out.push({ index, value });
  };
  const ns = body.meta.namespace;
  switch (kind) {
    case 'Workload': {
      const w = body as Workload;
      add('workloadsByServiceAccount', `${ns}/${w.serviceAccount}`);
      if (w.proxyUuid !== null) add('workloadByProxyUuid', w.proxyUuid);
      break;
    }
    case 'TrafficTarget': {
      const t = body as TrafficTarget;
      add('targetsByDestination', `${t.destination.namespace}/${t.destination.name}`);
      for (const s of t.sources) add('targetsBySource', `${s.namespace}/${s.name}`);
      break;
    }
    case 'TrafficSplit': {
      const s = body as TrafficSplit;
      add('splitsByApex', `${ns}/${s.service}`);
      for (const b of s.backends) add('splitsByBackend', `${ns}/${b.service}`);
      break;
    }
    case 'Retry': {
      const r = body as Retry;
      add('retriesBySource', `${r.source.namespace}/${r.source.name}`);
      break;
    }
    case 'UpstreamTrafficSetting': {
      const u = body as UpstreamTrafficSetting;
      add('upstreamSettingsByHost', u.host);
      break;
    }
    case 'IngressBackend': {
      const i = body as IngressBackend;
      for (const b of i.backends) add('ingressBackendsByService', `${ns}/${b.name}`);
      break;
    }
    case 'Egress': {
      const e = body as Egress;
      for (const s of e.sources) add('egressesBySource', `${s.namespace}/${s.name}`);
      break;
    }
    case 'Namespace': {
      const n = body as Namespace;
      if (n.monitoredBy !== null) add('meshNamespaces', n.meta.name);
      break;
    }
    default:
      break;
  }
  return out;
}

/**
 * Whether a service's selector picks a workload. Like Kubernetes, a service without a selector, or with
 * an empty one (which the API server stores as no selector), selects nothing; namespaces must match.
 */
export function selects(service: Service, workload: Workload): boolean {
  if (service.meta.namespace !== workload.meta.namespace) return false;
  const sel = service.selector;
  if (sel === null) return false;
  let any = false;
  for (const k in sel) {
    any = true;
    if (workload.meta.labels[k] !== sel[k]) return false;
  }
  return any;
}

/** "ns/sa": the identity a workload runs as. */
export function identityOf(w: Workload): string {
  return `${w.meta.namespace}/${w.serviceAccount}`;
}
