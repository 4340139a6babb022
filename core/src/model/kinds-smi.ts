/**
 * SMI kinds as OSM v1.2 serves them: access.smi-spec.io/v1alpha3 TrafficTarget, specs.smi-spec.io/v1alpha4
 * HTTPRouteGroup and TCPRoute, split.smi-spec.io/v1alpha2 TrafficSplit.
 */
import type {
  HTTPMatch,
  HTTPRouteGroup,
  IdentityRef,
  Meta,
  TCPRoute,
  TrafficSplit,
  TrafficSplitBackend,
  TrafficTarget,
  TrafficTargetRule,
} from './types.js';
import {
  child,
  describe,
  eachOf,
  isObj,
  Issues,
  Obj,
  readInt,
  readList,
  readObj,
  readOneOf,
  readPort,
  readRegex,
  readStr,
} from './fields.js';

export const HTTP_METHODS: readonly string[] = [
  '*',
  'GET',
  'HEAD',
  'PUT',
  'POST',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
];

/**
 * A {kind, name, namespace} reference to a service account. The namespace defaults to the referring
 * resource's own namespace, as a bare name does everywhere else in Kubernetes.
 */
export function readIdentityRef(
  is: Issues,
  value: unknown,
  path: string,
  defaultNamespace: string,
): IdentityRef | undefined {
  const ref = readObj(is, value, path, { required: true });
  if (ref === undefined) return undefined;
  const kind = readOneOf(is, ref.kind, child(path, 'kind'), ['ServiceAccount'] as const, { required: true });
  const name = readStr(is, ref.name, child(path, 'name'), { required: true });
  const namespace = readStr(is, ref.namespace, child(path, 'namespace')) || defaultNamespace;
  if (kind === undefined || name === undefined) return undefined;
  return { kind, name, namespace };
}

export function normalizeTrafficTarget(is: Issues, doc: Obj, meta: Meta): TrafficTarget | undefined {
  const spec = readObj(is, doc.spec, 'spec', { required: true });
  if (spec === undefined) return undefined;
  const destination = readIdentityRef(is, spec.destination, 'spec.destination', meta.namespace);
  // SMI scopes a TrafficTarget to its destination's namespace; OSM's admission webhook enforces it.
  if (destination !== undefined && destination.namespace !== meta.namespace) {
    is.add(
      'spec.destination.namespace',
      `must be the TrafficTarget's own namespace "${meta.namespace}", got ${describe(destination.namespace)}`,
    );
  }
  const sources: IdentityRef[] = [];
  for (const [raw, path] of eachOf(readList(is, spec.sources, 'spec.sources', { nonEmpty: true }), 'spec.sources')) {
    const ref = readIdentityRef(is, raw, path, meta.namespace);
    if (ref !== undefined) sources.push(ref);
  }
  const rules: TrafficTargetRule[] = [];
  for (const [raw, path] of eachOf(readList(is, spec.rules, 'spec.rules'), 'spec.rules')) {
    const r = readObj(is, raw, path, { required: true });
    if (r === undefined) continue;
    const kind = readOneOf(is, r.kind, child(path, 'kind'), ['HTTPRouteGroup', 'TCPRoute'] as const, {
      required: true,
    });
    const name = readStr(is, r.name, child(path, 'name'), { required: true });
    const matches = readStringList(is, r.matches, child(path, 'matches'));
    if (kind !== undefined && name !== undefined) rules.push({ kind, name, matches });
  }
  if (destination === undefined) return undefined;
  return { meta, destination, sources, rules };
}

export function readStringList(is: Issues, value: unknown, path: string): string[] {
  const out: string[] = [];
  for (const [raw, p] of eachOf(readList(is, value, path), path)) {
    const s = readStr(is, raw, p, { required: true });
    if (s !== undefined) out.push(s);
  }
  return out;
}

export function normalizeHTTPRouteGroup(is: Issues, doc: Obj, meta: Meta): HTTPRouteGroup | undefined {
  const spec = readObj(is, doc.spec, 'spec', { required: true });
  if (spec === undefined) return undefined;
  const matches: HTTPMatch[] = [];
  const seen = new Set<string>();
  for (const [raw, path] of eachOf(readList(is, spec.matches, 'spec.matches', { required: true }), 'spec.matches')) {
    const m = readObj(is, raw, path, { required: true });
    if (m === undefined) continue;
    const name = readStr(is, m.name, child(path, 'name'), { required: true });
    if (name !== undefined) {
      // TrafficTarget rules and TrafficSplits refer to matches by name, so a repeated name is ambiguous.
      if (seen.has(name)) is.add(child(path, 'name'), `must be unique within the route group, got ${describe(name)} again`);
      seen.add(name);
    }
    const pathRegex = readRegex(is, m.pathRegex, child(path, 'pathRegex'));
    const methods: string[] = [];
    for (const [rawM, mPath] of eachOf(readList(is, m.methods, child(path, 'methods')), child(path, 'methods'))) {
      const method = readOneOf(is, rawM, mPath, HTTP_METHODS, { required: true, normalize: (s) => s.toUpperCase() });
      if (method !== undefined && !methods.includes(method)) methods.push(method);
    }
    const headers = readHeaders(is, m.headers, child(path, 'headers'));
    if (name === undefined) continue;
    matches.push({
      name,
      pathRegex: pathRegex === undefined || pathRegex === '' ? null : pathRegex,
      // No methods, or "*" among them, means every method (OSM's reading).
      methods: methods.length === 0 || methods.includes('*') ? ['*'] : methods,
      headers,
    });
  }
  return { meta, matches };
}

/**
 * SMI v1alpha4 writes headers as a list of one-entry maps (`- user-agent: ".*"`); the Go SDK also reads
 * a plain map. Both load; names are lower-cased (HTTP header names are case-insensitive, Envoy wants lower).
 */
function readHeaders(is: Issues, value: unknown, path: string): Record<string, string> {
  const pairs: [string, unknown, string][] = [];
  if (value === undefined || value === null) {
    // no header conditions
  } else if (Array.isArray(value)) {
    value.forEach((entry, i) => {
      const p = `${path}[${i}]`;
      if (!isObj(entry)) {
        is.add(p, `must be a map of header name to value regex, got ${describe(entry)}`);
        return;
      }
      for (const [k, v] of Object.entries(entry)) pairs.push([k, v, child(p, k)]);
    });
  } else if (isObj(value)) {
    for (const [k, v] of Object.entries(value)) pairs.push([k, v, child(path, k)]);
  } else {
    is.add(path, `must be a list of header name to value regex maps, got ${describe(value)}`);
  }
  const out: Record<string, string> = {};
  for (const [name, v, p] of pairs) {
    const regex = readRegex(is, v, p, { required: true });
    if (regex !== undefined) out[name.toLowerCase()] = regex;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function normalizeTCPRoute(is: Issues, doc: Obj, meta: Meta): TCPRoute | undefined {
  const spec = readObj(is, doc.spec, 'spec', { required: true });
  if (spec === undefined) return undefined;
  const matches = readObj(is, spec.matches, 'spec.matches');
  const ports: number[] = [];
  const base = 'spec.matches.ports';
  for (const [raw, path] of eachOf(readList(is, matches?.ports, base), base)) {
    const port = readPort(is, raw, path, { required: true });
    if (port !== undefined && !ports.includes(port)) ports.push(port);
  }
  return { meta, ports };
}

export function normalizeTrafficSplit(is: Issues, doc: Obj, meta: Meta): TrafficSplit | undefined {
  const spec = readObj(is, doc.spec, 'spec', { required: true });
  if (spec === undefined) return undefined;
  const apex = readStr(is, spec.service, 'spec.service', { required: true });
  const backends: TrafficSplitBackend[] = [];
  const bPath = 'spec.backends';
  for (const [raw, path] of eachOf(readList(is, spec.backends, bPath, { nonEmpty: true }), bPath)) {
    const b = readObj(is, raw, path, { required: true });
    if (b === undefined) continue;
    const service = readStr(is, b.service, child(path, 'service'), { required: true });
    const weight = readInt(is, b.weight, child(path, 'weight'), { required: true });
    if (service !== undefined && weight !== undefined) backends.push({ service, weight });
  }
  // v1alpha2 has no matches; later SMI versions do, and reading them costs nothing.
  const matches: string[] = [];
  for (const [raw, path] of eachOf(readList(is, spec.matches, 'spec.matches'), 'spec.matches')) {
    const m = readObj(is, raw, path, { required: true });
    if (m === undefined) continue;
    readOneOf(is, m.kind, child(path, 'kind'), ['HTTPRouteGroup'], { required: true });
    const name = readStr(is, m.name, child(path, 'name'), { required: true });
    if (name !== undefined) matches.push(name);
  }
  if (apex === undefined) return undefined;
  // SMI allows the apex as a FQDN ("bookstore.bookstore.svc.cluster.local"); the service is its first label
  // and must live in the split's namespace.
  const [service = apex, apexNamespace] = apex.split('.');
  if (apexNamespace !== undefined && apexNamespace !== meta.namespace) {
    is.add('spec.service', `must be a service in the TrafficSplit's namespace "${meta.namespace}", got ${describe(apex)}`);
    return undefined;
  }
  return { meta, service, backends, matches };
}
