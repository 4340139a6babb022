import { createHash } from 'node:crypto';
import { stringify as yamlStringify } from 'yaml';
import { TypeUrl, type ProxyIdentity, type ResourceSet } from '../xds/adapter.js';
import { compareStrings } from '../derive/canonical.js';
import { ReplayError } from './errors.js';

/**
 * The config dump of one proxy: per type, each resource's name, version and readable form. Deterministic
 * (types in the adapter's order, resources by name, object keys as the adapter wrote them), and free of key
 * material: dumps carry fingerprints, and a secret's version (a hash of bytes holding a key) is not shown.
 */

export interface DumpedResource {
  readonly name: string;
  /** Content hash of the encoded Any bytes (the delta-xDS version); "redacted" for secrets. */
  readonly version: string;
  readonly resource: unknown;
}

export interface DumpedType {
  readonly typeUrl: string;
  /** Short name: LDS, RDS, CDS, EDS, SDS, or the type URL's message name. */
  readonly type: string;
  readonly resources: readonly DumpedResource[];
}

export interface ProxyRef {
  readonly uuid: string;
  readonly kind: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** "namespace/name" of the proxy's workload at this point, or null when it has none. */
  readonly workload: string | null;
}

export interface ConfigDump {
  readonly proxy: ProxyRef;
  /** The last event applied: the state is the log up to and including it. */
  readonly at: { readonly offset: number; readonly time: string | null };
  readonly types: readonly DumpedType[];
}

export const REDACTED_VERSION = 'redacted';

const SHORT: Record<string, string> = {
  [TypeUrl.Listener]: 'LDS',
  [TypeUrl.RouteConfiguration]: 'RDS',
  [TypeUrl.Cluster]: 'CDS',
  [TypeUrl.ClusterLoadAssignment]: 'EDS',
  [TypeUrl.Secret]: 'SDS',
};

export function shortType(typeUrl: string): string {
  return SHORT[typeUrl] ?? typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
}

/** Accepts LDS/listener/Listener/full type URL (any case for the short forms); undefined when unknown. */
export function typeUrlFor(name: string, known: readonly string[]): string | undefined {
  const n = name.toLowerCase();
  const aliases: Record<string, string> = {
    lds: TypeUrl.Listener,
    listener: TypeUrl.Listener,
    rds: TypeUrl.RouteConfiguration,
    route: TypeUrl.RouteConfiguration,
    routeconfiguration: TypeUrl.RouteConfiguration,
    cds: TypeUrl.Cluster,
    cluster: TypeUrl.Cluster,
    eds: TypeUrl.ClusterLoadAssignment,
    endpoint: TypeUrl.ClusterLoadAssignment,
    clusterloadassignment: TypeUrl.ClusterLoadAssignment,
    sds: TypeUrl.Secret,
    secret: TypeUrl.Secret,
  };
  const url = aliases[n] ?? known.find((k) => k === name || k.slice(k.lastIndexOf('.') + 1).toLowerCase() === n);
  return url !== undefined && known.includes(url) ? url : undefined;
}

/**
 * Turns a dump into plain JSON data: byte arrays become their length and SHA-256 (they may hold key
 * material an adapter forgot to redact), Maps become objects, and nothing else changes.
 */
export function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: value.length, sha256: createHash('sha256').update(value).digest('hex') };
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Map) return plain(Object.fromEntries(value));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v);
    return out;
  }
  return value;
}

export function dumpTypes(typeUrls: readonly string[], sets: ReadonlyMap<string, ResourceSet>): DumpedType[] {
  return typeUrls.map((typeUrl) => {
    const set = sets.get(typeUrl) ?? new Map();
    const names = [...set.keys()].sort(compareStrings);
    return {
      typeUrl,
      type: shortType(typeUrl),
      resources: names.map((name) => {
        const r = set.get(name)!;
        return { name, version: typeUrl === TypeUrl.Secret ? REDACTED_VERSION : r.version, resource: plain(r.dump) };
      }),
    };
  });
}

export function proxyRef(identity: ProxyIdentity, workload: string | null): ProxyRef {
  return { uuid: identity.uuid, kind: identity.kind, namespace: identity.namespace, serviceAccount: identity.serviceAccount, workload };
}

const KEY_MATERIAL = [/-----BEGIN [A-Z ]*-----/, /PRIVATE KEY/];

/**
 * Last line of defence: output about to leave the process must not hold PEM blocks. Adapters redact their
 * dumps; a third-party adapter that does not would otherwise leak a key into a terminal or a debug page.
 */
export function assertNoKeyMaterial(text: string, where: string): string {
  for (const re of KEY_MATERIAL) {
    if (re.test(text)) {
      throw new ReplayError(
        'REPLAY_KEY_MATERIAL',
        `${where} would contain PEM material (${re.source}); the proxy adapter must put fingerprints in its dumps, never certificates or keys`,
      );
    }
  }
  return text;
}

export type OutputFormat = 'json' | 'yaml';

export function render(value: unknown, format: OutputFormat, where: string): string {
  const text = format === 'yaml' ? yamlStringify(value, { aliasDuplicateObjects: false, lineWidth: 0 }) : `${JSON.stringify(value, null, 2)}\n`;
  return assertNoKeyMaterial(text, where);
}
