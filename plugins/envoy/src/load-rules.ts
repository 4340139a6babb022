/**
 * Two of the rules Envoy applies when it loads a configuration, beyond the per-message validation
 * go-control-plane's ValidateAll covers, as checks over one proxy's resources (their dumps):
 *
 * - every route configuration an HttpConnectionManager names through RDS is served. Envoy would accept the
 *   listener but hold it warming until that name arrives, or until the initial fetch timeout (15 s by
 *   default) expires — for the inbound listener that means no inbound traffic at all meanwhile;
 * - no two filter chains of a listener share a match. Envoy files each chain under a tree keyed by
 *   destination port, then each destination CIDR (normalized), server name, transport protocol, application
 *   protocol, direct source CIDR, source type, source CIDR and source port, an empty list standing for "any";
 *   a chain landing on a leaf another chain (or the same one) already holds makes Envoy refuse the listener
 *   ("multiple filter chains with overlapping matching rules"). Nested CIDRs are fine: only equal leaves
 *   conflict.
 *
 * For tests only (the adapter's translators never call it).
 */
import { TypeUrl, type EncodedResource } from '@weft/core';
import { normalizeCidr } from './cidr.js';
import { T } from './proto.js';

export { normalizeCidr } from './cidr.js';

type Obj = Readonly<Record<string, unknown>>;

function obj(v: unknown): Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
}

function list(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function wrapped(v: unknown): number {
  const value = obj(v).value;
  return typeof value === 'number' ? value : 0;
}

function chainsOf(listener: Obj): { name: string; chain: Obj }[] {
  const chains = list(listener.filterChains).map((c, i) => ({ name: str(obj(c).name) || `#${i}`, chain: obj(c) }));
  if (listener.defaultFilterChain !== undefined) chains.push({ name: 'default', chain: obj(listener.defaultFilterChain) });
  return chains;
}

/** Route configuration names the listener's HttpConnectionManagers fetch by RDS. */
export function rdsNames(listenerDump: unknown): string[] {
  const names: string[] = [];
  for (const { chain } of chainsOf(obj(listenerDump))) {
    for (const f of list(chain.filters)) {
      const config = obj(obj(f).typedConfig);
      if (config['@type'] !== T.HCM || config.rds === undefined) continue;
      names.push(str(obj(config.rds).routeConfigName));
    }
  }
  return names;
}

function cidrs(v: unknown): string[] {
  return list(v).map((c) => {
    const range = obj(c);
    const len = range.prefixLen === undefined ? 0 : wrapped(range.prefixLen);
    return normalizeCidr(str(range.addressPrefix), len);
  });
}

/** "Any" in a leaf: an empty list or string. Envoy refuses "*" as a server name, so it cannot clash. */
const ANY = '*';

const anyOf = <V>(xs: readonly V[], none: V): readonly V[] => (xs.length === 0 ? [none] : xs);

/** Every leaf of Envoy's filter chain tree one chain occupies. */
export function matchLeaves(chain: Obj): string[] {
  const m = obj(chain.filterChainMatch);
  const serverNames = list(m.serverNames).map((s) => {
    const name = str(s).toLowerCase();
    return name.startsWith('*.') ? name.slice(1) : name;
  });
  const dims: readonly (readonly (string | number)[])[] = [
    [wrapped(m.destinationPort)],
    anyOf(cidrs(m.prefixRanges), ANY),
    anyOf(serverNames, ANY),
    [str(m.transportProtocol) || ANY],
    anyOf(list(m.applicationProtocols).map(str), ANY),
    anyOf(cidrs(m.directSourcePrefixRanges), ANY),
    [str(m.sourceType) || 'ANY'],
    anyOf(cidrs(m.sourcePrefixRanges), ANY),
    anyOf(list(m.sourcePorts).map((p) => (typeof p === 'number' ? p : 0)), 0),
  ];
  let leaves: string[] = [''];
  for (const dim of dims) leaves = leaves.flatMap((prefix) => dim.map((v) => (prefix === '' ? String(v) : `${prefix} ${String(v)}`)));
  return leaves;
}

/** Filter chains of a listener that would land on a leaf another chain already holds, as messages. */
export function filterChainOverlaps(listenerDump: unknown): string[] {
  const listener = obj(listenerDump);
  const owner = new Map<string, string>();
  const problems: string[] = [];
  for (const [i, c] of list(listener.filterChains).entries()) {
    const chain = obj(c);
    const name = str(chain.name) || `#${i}`;
    for (const leaf of matchLeaves(chain)) {
      const prev = owner.get(leaf);
      if (prev !== undefined) problems.push(`${str(listener.name)}: filter chains ${prev} and ${name} both match [${leaf}]`);
      else owner.set(leaf, name);
    }
  }
  return problems;
}

/** Both load rules over one proxy's resources, by type; an empty list when Envoy would load them. */
export function loadProblems(resources: ReadonlyMap<string, readonly EncodedResource[]>): string[] {
  const routes = new Set((resources.get(TypeUrl.RouteConfiguration) ?? []).map((r) => r.name));
  const problems: string[] = [];
  for (const l of resources.get(TypeUrl.Listener) ?? []) {
    for (const name of rdsNames(l.dump)) {
      if (!routes.has(name)) problems.push(`${l.name}: names route configuration ${name}, which is not served`);
    }
    problems.push(...filterChainOverlaps(l.dump));
  }
  return problems;
}
