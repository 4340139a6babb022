/**
 * One manifest object -> one normalized mesh resource. Used for parsed files (parse.ts) and by sources that
 * already hold objects (a Kubernetes watch), so both reject the same things with the same messages.
 *
 * What loads:
 *  - core/v1 Namespace, ServiceAccount, Service, Endpoints, and Pod (as a Workload). Weft needs the pods
 *    themselves: Deployments, StatefulSets, ReplicaSets and DaemonSets are not expanded into pods and are
 *    ignored with a notice, so a manifest set must list its Pods (with status.podIP) to have endpoints.
 *    Endpoints are optional: for a Service with a selector and no Endpoints of its name, the catalog derives
 *    them from the ready Pods it selects, as Kubernetes' endpoint controller would (catalog/endpoints.ts);
 *    Endpoints given, by a file or the Kubernetes source, win. `weft validate` warns about a Service whose
 *    selector picks no ready Pod with an IP and that has no Endpoints (references.ts).
 *  - SMI access/v1alpha3 TrafficTarget, specs/v1alpha4 HTTPRouteGroup and TCPRoute, split/v1alpha2
 *    TrafficSplit; OSM policy/v1alpha1 Egress, IngressBackend, Retry, UpstreamTrafficSetting and
 *    config/v1alpha2 MeshConfig.
 *  - Any other kind with an apiVersion (ConfigMap, Secret, CRDs, ...) is ignored with a notice.
 *
 * Unknown fields inside a known kind are ignored, as the Kubernetes API server prunes them. Beyond the
 * types' own rules, these mistakes are flagged because they would otherwise silently change what the mesh
 * does: names that are not lower-case RFC 1123 names, labels, selectors and annotation keys that break
 * Kubernetes' rules (fields.ts readLabelMap / readAnnotationMap), a TrafficTarget
 * whose destination (or a TrafficSplit whose FQDN apex) is in another namespace, repeated match names in an
 * HTTPRouteGroup, the same resource twice in one file (parse.ts), unknown Envoy
 * retry conditions, unknown appProtocol values, duplicate IngressBackend backends. Whether what a document
 * names exists is not a property of the document: references.ts checks that over a set, as warnings.
 */
import type { Meta, ResourceKind, ResourceOf } from './types.js';
import { keyOf } from './types.js';
import { ManifestError, ManifestLocation } from './errors.js';
import { child, describe, isObj, Issues, Obj, readAnnotationMap, readLabelMap, readObj, readStr } from './fields.js';
import { isDnsLabel, isDnsSubdomain } from './values.js';
import {
  normalizeEndpoints,
  normalizeNamespace,
  normalizePod,
  normalizeService,
  normalizeServiceAccount,
} from './kinds-core.js';
import {
  normalizeHTTPRouteGroup,
  normalizeTCPRoute,
  normalizeTrafficSplit,
  normalizeTrafficTarget,
} from './kinds-smi.js';
import {
  normalizeEgress,
  normalizeIngressBackend,
  normalizeMeshConfig,
  normalizeRetry,
  normalizeUpstreamTrafficSetting,
} from './kinds-policy.js';

/** A validated resource, ready to be an event body. */
export type NormalizedResource = {
  [K in ResourceKind]: { readonly kind: K; readonly key: string; readonly body: ResourceOf<K> };
}[ResourceKind];

/** A well-formed document of a kind the mesh does not read. */
export interface IgnoredDocument {
  readonly file: string;
  readonly document: number;
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string | null;
  readonly name: string | null;
  readonly reason: string;
}

export interface ParseResult {
  readonly resources: NormalizedResource[];
  readonly errors: ManifestError[];
  readonly ignored: IgnoredDocument[];
}

interface KindSpec {
  readonly resourceKind: ResourceKind;
  readonly apiVersions: readonly string[];
  readonly namespaced: boolean;
  /** Namespaces and Services must be RFC 1123 labels; most other names may be subdomains. */
  readonly nameIsLabel: boolean;
  readonly normalize: (is: Issues, doc: Obj, meta: Meta) => ResourceOf<ResourceKind> | undefined;
}

/** Manifest kind -> how to read it. Keyed by the manifest's `kind` (Pod, not Workload). */
export const MANIFEST_KINDS: Readonly<Record<string, KindSpec>> = {
  Namespace: spec('Namespace', ['v1'], false, true, (_is, _doc, meta) => normalizeNamespace(meta)),
  ServiceAccount: spec('ServiceAccount', ['v1'], true, false, (_is, _doc, meta) => normalizeServiceAccount(meta)),
  Service: spec('Service', ['v1'], true, true, normalizeService),
  Pod: spec('Workload', ['v1'], true, false, normalizePod),
  Endpoints: spec('Endpoints', ['v1'], true, false, normalizeEndpoints),
  TrafficTarget: spec('TrafficTarget', ['access.smi-spec.io/v1alpha3'], true, false, normalizeTrafficTarget),
  HTTPRouteGroup: spec('HTTPRouteGroup', ['specs.smi-spec.io/v1alpha4'], true, false, normalizeHTTPRouteGroup),
  TCPRoute: spec('TCPRoute', ['specs.smi-spec.io/v1alpha4'], true, false, normalizeTCPRoute),
  TrafficSplit: spec('TrafficSplit', ['split.smi-spec.io/v1alpha2'], true, false, normalizeTrafficSplit),
  Egress: spec('Egress', ['policy.openservicemesh.io/v1alpha1'], true, false, normalizeEgress),
  IngressBackend: spec('IngressBackend', ['policy.openservicemesh.io/v1alpha1'], true, false, normalizeIngressBackend),
  Retry: spec('Retry', ['policy.openservicemesh.io/v1alpha1'], true, false, normalizeRetry),
  UpstreamTrafficSetting: spec(
    'UpstreamTrafficSetting',
    ['policy.openservicemesh.io/v1alpha1'],
    true,
    false,
    (is, doc, meta) => normalizeUpstreamTrafficSetting(is, doc, meta),
  ),
  MeshConfig: spec('MeshConfig', ['config.openservicemesh.io/v1alpha2'], true, false, normalizeMeshConfig),
};

function spec<K extends ResourceKind>(
  resourceKind: K,
  apiVersions: readonly string[],
  namespaced: boolean,
  nameIsLabel: boolean,
  normalize: (is: Issues, doc: Obj, meta: Meta) => ResourceOf<K> | undefined,
): KindSpec {
  return { resourceKind, apiVersions, namespaced, nameIsLabel, normalize };
}

const POD_CONTROLLERS = new Set(['Deployment', 'StatefulSet', 'ReplicaSet', 'DaemonSet']);

export interface DocumentOrigin {
  readonly file: string;
  readonly document: number;
  /** Prefix for paths when the object sits inside another one (a List's `items[3]`). */
  readonly pathPrefix?: string;
}

/**
 * Validates and normalizes one manifest object. The result holds at most one resource; it holds errors
 * instead when the object is not loadable, or an ignore notice for kinds the mesh does not read.
 */
export function normalizeManifest(value: unknown, origin: DocumentOrigin): ParseResult {
  const out: ParseResult = { resources: [], errors: [], ignored: [] };
  const prefix = origin.pathPrefix ?? '';
  const at = (path: string): string => (prefix === '' ? path : path === '' ? prefix : `${prefix}.${path}`);
  const loc = (kind: string | null, namespace: string | null, name: string | null): ManifestLocation => ({
    file: origin.file,
    document: origin.document,
    kind,
    namespace,
    name,
  });

  if (!isObj(value)) {
    out.errors.push(
      new ManifestError(loc(null, null, null), at(''), `must be an object with apiVersion and kind, got ${describe(value)}`),
    );
    return out;
  }
  const kind = typeof value.kind === 'string' && value.kind !== '' ? value.kind : null;
  const metadata = isObj(value.metadata) ? value.metadata : {};
  const name = typeof metadata.name === 'string' && metadata.name !== '' ? metadata.name : null;
  const known = kind === null ? undefined : MANIFEST_KINDS[kind];
  const rawNs = typeof metadata.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : null;
  const namespace = known === undefined ? rawNs : known.namespaced ? (rawNs ?? 'default') : null;

  const head = new Issues();
  const apiVersion = readStr(head, value.apiVersion, 'apiVersion', { required: true });
  if (kind === null) readStr(head, value.kind, 'kind', { required: true });
  if (known !== undefined && apiVersion !== undefined && !known.apiVersions.includes(apiVersion)) {
    head.add('apiVersion', `must be ${known.apiVersions.join(' or ')} for kind ${kind}, got ${describe(apiVersion)}`);
  }
  if (kind !== null && known === undefined && head.count === 0 && apiVersion !== undefined) {
    out.ignored.push({
      file: origin.file,
      document: origin.document,
      apiVersion,
      kind,
      namespace,
      name,
      reason: POD_CONTROLLERS.has(kind)
        ? `Weft does not expand ${kind} templates into pods; list the Pods themselves`
        : 'not a kind the mesh reads',
    });
    return out;
  }
  if (head.count > 0 || known === undefined) {
    for (const i of head.list) out.errors.push(new ManifestError(loc(kind, namespace, name), at(i.path), i.rule));
    return out;
  }

  const is = new Issues();
  const meta = readMeta(is, value, known);
  const body = meta === undefined ? undefined : known.normalize(is, value, meta);
  for (const i of is.list) out.errors.push(new ManifestError(loc(kind, namespace, name), at(i.path), i.rule));
  if (is.count === 0 && meta !== undefined && body !== undefined) {
    out.resources.push({ kind: known.resourceKind, key: keyOf(meta), body } as NormalizedResource);
  }
  return out;
}

function readMeta(is: Issues, doc: Obj, kind: KindSpec): Meta | undefined {
  const md = readObj(is, doc.metadata, 'metadata', { required: true });
  if (md === undefined) return undefined;
  const name = readStr(is, md.name, 'metadata.name', { required: true });
  if (name !== undefined && !(kind.nameIsLabel ? isDnsLabel(name) : isDnsSubdomain(name))) {
    is.add('metadata.name', nameRule(kind.nameIsLabel, name));
  }
  let namespace = '';
  if (kind.namespaced) {
    namespace = readStr(is, md.namespace, 'metadata.namespace') || 'default';
    if (!isDnsLabel(namespace)) is.add('metadata.namespace', nameRule(true, namespace));
  }
  const labels = readLabelMap(is, md.labels, child('metadata', 'labels')) ?? {};
  const annotations = readAnnotationMap(is, md.annotations, child('metadata', 'annotations')) ?? {};
  if (name === undefined) return undefined;
  return { namespace, name, labels, annotations };
}

function nameRule(label: boolean, got: string): string {
  return label
    ? `must be a lower-case RFC 1123 label (a-z, 0-9, '-', at most 63 characters), got ${describe(got)}`
    : `must be a lower-case RFC 1123 name (a-z, 0-9, '-', '.'), got ${describe(got)}`;
}
