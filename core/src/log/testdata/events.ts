/** Deterministic event inputs for the log tests: a body is a pure function of its key. */
import type { Endpoints, Workload } from '../../model/types.js';
import type { EventInput } from '../types.js';

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function split(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function workloadFor(key: string): Workload {
  const h = hash(key);
  const { namespace, name } = split(key);
  return {
    meta: {
      namespace,
      name,
      labels: { app: `app-${h % 17}`, version: `v${h % 3}` },
      annotations: { 'openservicemesh.io/sidecar-injection': 'enabled' },
    },
    serviceAccount: `sa-${h % 11}`,
    ips: [`10.${(h >>> 8) & 255}.${(h >>> 16) & 255}.${h & 255}`],
    ports: [{ name: 'http', containerPort: 8000 + (h % 100), protocol: 'TCP' }],
    proxyUuid: `00000000-0000-4000-8000-${String(h).padStart(12, '0')}`,
    ready: h % 5 !== 0,
  };
}

export function endpointsFor(key: string): Endpoints {
  const h = hash(key);
  const { namespace, name } = split(key);
  return {
    meta: { namespace, name, labels: {}, annotations: {} },
    subsets: [
      {
        addresses: [0, 1, 2].map((i) => ({ ip: `10.1.${(h + i) & 255}.${i}`, workload: `${namespace}/${name}-${i}` })),
        ports: [{ name: 'http', port: 14001, protocol: 'TCP', appProtocol: 'http' }],
      },
    ],
  };
}

/** One input for `key`: Workload, Endpoints or a delete, chosen by the key. */
export function inputFor(key: string, source = 'test'): EventInput {
  const h = hash(key) % 10;
  if (h === 0) return { source, op: 'delete', kind: 'Workload', key };
  if (h < 4) return { source, op: 'upsert', kind: 'Endpoints', key, body: endpointsFor(key) };
  return { source, op: 'upsert', kind: 'Workload', key, body: workloadFor(key) };
}

export function inputs(prefix: string, n: number): EventInput[] {
  return Array.from({ length: n }, (_, i) => inputFor(`${prefix}/w-${i}`));
}
