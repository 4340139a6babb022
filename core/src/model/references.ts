/**
 * References between resources that name nothing, over a whole set of resources (a folder of manifests,
 * what `weft validate` reads). Each document is valid on its own, and the resource it names may come later
 * or from another source, so a dangling reference is a warning, never a reason to refuse the document.
 *
 * Checked today: a TrafficSplit's root service (spec.service), its backend services
 * (spec.backends[i].service) and the HTTPRouteGroups it is limited to (spec.matches[i].name).
 */
import type { ResourceKind, TrafficSplit } from './types.js';

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
