/**
 * References between resources that name nothing, over a whole set of resources (a folder of manifests,
 * what `weft validate` reads). Each document is valid on its own, and the resource it names may come later
 * or from another source, so a dangling reference is a warning, never a reason to refuse the document.
 *
 * Checked today: a TrafficSplit's root service (spec.service), its backend services
 * (spec.backends[i].service) and the HTTPRouteGroups it is limited to (spec.matches[i].name); and
 * (unselectedServices) a Service whose selector picks no Pod that could be an endpoint, when the set holds
 * no Endpoints for it: the catalog derives a service's endpoints from its ready Pods (catalog/endpoints.ts),
 * so such a service has none.
 */
import type { ResourceKind, Service, TrafficSplit, Workload } from './types.js';

/** A resource as sources and `weft validate` hold it; the body is the normalized resource of its kind. */
export interface ReferringResource {
  readonly kind: ResourceKind;
  readonly key: string;
  readonly body: unknown;
}

export interface DanglingReference {
  /** The referring resource. */
  readonly kind: ResourceKind;
  readonly key: string;
  /** The field holding the reference, as manifest errors name fields, e.g. "spec.backends[1].service". */
  readonly path: string;
  /** What it names and is not defined. */
  readonly missing: { readonly kind: ResourceKind; readonly key: string };
  /** What the field names, and what that means for the mesh: "Service shop/web is not defined, so ...". */
  readonly rule: string;
  /** `${kind} ${key}: ${path}: ${rule}`, for a log line. */
  readonly message: string;
}

interface Reference {
  readonly path: string;
  readonly kind: ResourceKind;
  readonly key: string;
  /** What follows from the reference dangling, after "is not defined". */
  readonly effect: string;
}

function referencesOf(r: ReferringResource): Reference[] {
  if (r.kind !== 'TrafficSplit') return [];
  const split = r.body as TrafficSplit;
  const ns = split.meta.namespace;
  return [
    // Clients route by the root service; without it no client's traffic goes through the split.
    { path: 'spec.service', kind: 'Service', key: `${ns}/${split.service}`, effect: 'so the split applies to no traffic until it is' },
    // The derivations weight only the backends that exist; a missing one's share goes to the others.
    ...split.backends.map((b, i) => ({
      path: `spec.backends[${i}].service`,
      kind: 'Service' as const,
      key: `${ns}/${b.service}`,
      effect: `so the split leaves it out (weight ${b.weight}) until it is`,
    })),
    // A match limits the split to the group's routes; with no group there are no such routes to split.
    ...split.matches.map((m, i) => ({
      path: `spec.matches[${i}].name`,
      kind: 'HTTPRouteGroup' as const,
      key: `${ns}/${m}`,
      effect: 'so no request is split by it until it is',
    })),
  ];
}

/** Every reference of the given resources to a resource not among them, in input order, then field order. */
export function danglingReferences(resources: Iterable<ReferringResource>): DanglingReference[] {
  const list = [...resources];
  const defined = new Set(list.map((r) => `${r.kind} ${r.key}`));
  const out: DanglingReference[] = [];
  for (const r of list) {
    for (const ref of referencesOf(r)) {
      if (defined.has(`${ref.kind} ${ref.key}`)) continue;
      const rule = `${ref.kind} ${ref.key} is not defined, ${ref.effect}`;
      out.push({
        kind: r.kind,
        key: r.key,
        path: ref.path,
        missing: { kind: ref.kind, key: ref.key },
        rule,
        message: `${r.kind} ${r.key}: ${ref.path}: ${rule}`,
      });
    }
  }
  return out;
}

/** A resource that is well formed but, among the others of the set, does nothing; see unselectedServices. */
export interface SetWarning {
  readonly kind: ResourceKind;
  readonly key: string;
  /** The field at fault, as manifest errors name fields. */
  readonly path: string;
  readonly rule: string;
  /** `${kind} ${key}: ${path}: ${rule}`, for a log line. */
  readonly message: string;
}

/**
 * Services with a selector that has no endpoints in the set: no Endpoints resource of their name, and no
 * selected Pod that is ready with a pod IP (what the endpoint controller, and so the catalog, would make
 * endpoints of). A service without a selector has its endpoints managed by hand and is not checked. In
 * input order.
 */
export function unselectedServices(resources: Iterable<ReferringResource>): SetWarning[] {
  const list = [...resources];
  const endpoints = new Set(list.filter((r) => r.kind === 'Endpoints').map((r) => r.key));
  const pods = list.filter((r) => r.kind === 'Workload').map((r) => ({ key: r.key, body: r.body as Workload }));
  const out: SetWarning[] = [];
  for (const r of list) {
    if (r.kind !== 'Service' || endpoints.has(r.key)) continue;
    const svc = r.body as Service;
    const sel = svc.selector;
    if (sel === null || Object.keys(sel).length === 0) continue;
    const selected = pods.filter(
      (p) => p.body.meta.namespace === svc.meta.namespace && Object.entries(sel).every(([k, v]) => p.body.meta.labels[k] === v),
    );
    if (selected.some((p) => p.body.ready && p.body.ips.length > 0)) continue;
    const labels = Object.entries(sel)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    const why = selected.map((p) => `${p.key} ${p.body.ready ? 'has no status.podIP' : 'is not ready'}`).join(', ');
    const rule =
      selected.length === 0
        ? `Service ${r.key} selects no Pod (${labels}), so it has no endpoints until one is defined`
        : `Service ${r.key} selects no ready Pod with an IP (${why}), so it has no endpoints until one is`;
    out.push({ kind: r.kind, key: r.key, path: 'spec.selector', rule, message: `${r.kind} ${r.key}: spec.selector: ${rule}` });
  }
  return out;
}
