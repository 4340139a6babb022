import type { CatalogLike } from '../catalog/types.js';
import type { DetailedEngineStats, DerivationInfo } from '../derive/engine.js';
import type { DerivationEngine } from '../derive/types.js';
import type { EventLog, LogLeadership, MeshEvent } from '../log/types.js';
import { dumpTypes, proxyRef, render, type ConfigDump } from '../replay/dump.js';
import { envoyConfigDump, type EnvoyConfigDump, type ReadGraph } from '../replay/envoy-dump.js';
import type { ProxyAdapter, ResourceSet } from '../xds/adapter.js';
import type { ProxyDetail } from '../xds/server.js';
import type { DebugResponse, DebugServer } from './debug.js';

/**
 * Debug routes over the live state: a connected proxy's config (what replay at the head computes, from the
 * running engine, as Envoy's admin /config_dump prints it), the log's events, and the derivation engine's
 * counters. JSON only, and no key material: keys are redacted and certificates are fingerprints (see
 * envoy-dump.ts), and every body is checked for PEM blocks before it goes out (a handler that finds one
 * answers 500 instead).
 */

export interface DebugRoutesDeps {
  readonly log: Pick<EventLog, 'read' | 'head'>;
  readonly catalog: Pick<CatalogLike, 'lastOffset' | 'lookup' | 'list' | 'provenance'>;
  readonly engine: DerivationEngine & ReadGraph & { stats(): DetailedEngineStats; derivations?(): readonly DerivationInfo[] };
  readonly adapters: ReadonlyMap<string, ProxyAdapter>;
  /** A connected proxy by stream id or uuid (the ADS server's view). */
  readonly proxy: (id: string) => ProxyDetail | undefined;
  /** Log location, shown by /debug/log. */
  readonly location?: string;
  /** The writer election of a log shared by replicas: /debug/log shows this replica's role and the writer. */
  readonly leadership?: Pick<LogLeadership, 'state'>;
  /** The mesh's trust domain, as the ADS server puts it in proxy identities. */
  readonly trustDomain: string;
}

export const DEBUG_LOG_DEFAULT_LIMIT = 100;
export const DEBUG_LOG_MAX_LIMIT = 1000;

function safe(body: unknown, where: string): DebugResponse {
  // Throws (-> 500) if key material slipped into a body.
  render(body, 'json', where);
  return { body };
}

function bad(message: string): DebugResponse {
  return { status: 400, body: { error: message } };
}

/** The connected proxy's config dump from the live engine, in replay's format. */
export function liveConfigDump(deps: DebugRoutesDeps, detail: ProxyDetail): ConfigDump | { error: string } {
  const adapter = deps.adapters.get(detail.kind);
  if (adapter === undefined) return { error: `no proxy adapter for kind "${detail.kind}"` };
  const identity = { uuid: detail.uuid, kind: detail.kind, namespace: detail.namespace, serviceAccount: detail.serviceAccount, trustDomain: deps.trustDomain };
  const sets = new Map<string, ResourceSet>();
  for (const t of adapter.typeUrls) sets.set(t, deps.engine.get(adapter.resources({ ...identity }, t)).value);
  const offset = deps.catalog.lastOffset;
  return {
    proxy: proxyRef(identity, deps.catalog.lookup('workloadByProxyUuid', detail.uuid)[0] ?? null),
    at: { offset, time: null },
    types: dumpTypes(adapter.typeUrls, sets),
  };
}

/** The connected proxy's config from the live engine as Envoy's admin `/config_dump` prints it (replay's `--format json`). */
export function liveEnvoyConfigDump(deps: DebugRoutesDeps, detail: ProxyDetail): EnvoyConfigDump | { error: string } {
  const adapter = deps.adapters.get(detail.kind);
  if (adapter === undefined) return { error: `no proxy adapter for kind "${detail.kind}"` };
  const identity = { uuid: detail.uuid, kind: detail.kind, namespace: detail.namespace, serviceAccount: detail.serviceAccount, trustDomain: deps.trustDomain };
  const sets = new Map<string, ResourceSet>();
  const roots = new Map<string, string>();
  for (const t of adapter.typeUrls) {
    const root = adapter.resources({ ...identity }, t);
    sets.set(t, deps.engine.get(root).value);
    roots.set(t, root.id);
  }
  return envoyConfigDump({ sets, roots, graph: deps.engine, view: deps.catalog });
}

export async function readLogPage(log: Pick<EventLog, 'read'>, from: number, limit: number): Promise<MeshEvent[]> {
  const events: MeshEvent[] = [];
  for await (const batch of log.read(from)) {
    for (const ev of batch.events) {
      if (ev.offset < from) continue;
      events.push(ev);
      if (events.length >= limit) return events;
    }
  }
  return events;
}

function intParam(query: URLSearchParams, name: string, fallback: number, max: number): number | string {
  const v = query.get(name);
  if (v === null || v === '') return fallback;
  if (!/^\d+$/.test(v)) return `${name} must be a whole number >= 0 (got ${JSON.stringify(v)})`;
  return Math.min(Number(v), max);
}

/**
 * Registers /debug/proxies/<id>/config, /debug/log and /debug/derivations. Call after the ADS
 * server registered /debug/proxies/*: the config route wraps it, so /debug/proxies/<id> keeps its detail.
 */
export function registerStateDebugRoutes(debug: DebugServer, deps: DebugRoutesDeps): void {
  debug.route('/debug/proxies/*', (req) => {
    const configSuffix = '/config';
    const isConfig = req.rest.endsWith(configSuffix);
    const id = isConfig ? req.rest.slice(0, -configSuffix.length) : req.rest;
    const detail = deps.proxy(id);
    if (detail === undefined) return { status: 404, body: { error: `no connected proxy with id or uuid "${id}"; see /debug/proxies` } };
    if (!isConfig) return safe(detail, `/debug/proxies/${id}`);
    const dump = liveEnvoyConfigDump(deps, detail);
    return 'error' in dump ? { status: 500, body: dump } : safe(dump, `/debug/proxies/${id}/config`);
  });

  debug.route('/debug/log', async (req) => {
    const head = deps.log.head();
    const from = intParam(req.query, 'from', Math.max(0, head - DEBUG_LOG_DEFAULT_LIMIT), Number.MAX_SAFE_INTEGER);
    if (typeof from === 'string') return bad(from);
    const limit = intParam(req.query, 'limit', DEBUG_LOG_DEFAULT_LIMIT, DEBUG_LOG_MAX_LIMIT);
    if (typeof limit === 'string') return bad(limit);
    const events = limit === 0 || from >= head ? [] : await readLogPage(deps.log, from, limit);
    const last = events[events.length - 1];
    return safe(
      {
        ...(deps.location === undefined ? {} : { location: deps.location }),
        head,
        applied: deps.catalog.lastOffset,
        // Without an election this process is the log's only writer.
        ...(deps.leadership === undefined ? { role: 'writer' } : deps.leadership.state()),
        from,
        limit,
        next: last === undefined ? null : last.offset + 1 < head ? last.offset + 1 : null,
        events,
      },
      '/debug/log',
    );
  });

  debug.route('/debug/derivations', (req) => {
    const stats = deps.engine.stats();
    const top = intParam(req.query, 'top', 20, 1000);
    if (typeof top === 'string') return bad(top);
    const all = deps.engine.derivations?.() ?? [];
    // Ids look like "<adapter>/<what>/<args>": grouping by the first two segments shows where the work goes.
    const groups = new Map<string, { derivations: number; computes: number; recomputes: number; unchanged: number; hits: number; cutoffs: number }>();
    for (const d of all) {
      const g = d.id.split('/').slice(0, 2).join('/');
      let e = groups.get(g);
      if (e === undefined) groups.set(g, (e = { derivations: 0, computes: 0, recomputes: 0, unchanged: 0, hits: 0, cutoffs: 0 }));
      e.derivations++;
      e.computes += d.computes;
      e.recomputes += d.recomputes;
      e.unchanged += d.unchanged;
      e.hits += d.hits;
      e.cutoffs += d.cutoffs;
    }
    const mostRecomputed = [...all]
      .sort((a, b) => b.recomputes - a.recomputes || (a.id < b.id ? -1 : 1))
      .slice(0, top)
      .map((d) => ({ id: d.id, recomputes: d.recomputes, unchanged: d.unchanged, hits: d.hits, refs: d.refs, reads: d.reads, dependents: d.dependents }));
    const hitRatio = stats.hits + stats.computes + stats.recomputes === 0 ? null : stats.hits / (stats.hits + stats.computes + stats.recomputes);
    return safe(
      {
        ...stats,
        hitRatio,
        groups: Object.fromEntries([...groups].sort(([a], [b]) => (a < b ? -1 : 1))),
        mostRecomputed,
      },
      '/debug/derivations',
    );
  });
}
