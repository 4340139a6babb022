/**
 * What a test's proxy received on a live stream, through the Envoy load-time checker (test/envoy-validate):
 * the system tests that drive real ADS streams call `assertProxiesLoad` once their proxies have settled, so
 * every configuration Weft actually served — after the updates and removals the test made — is checked by
 * the rules Envoy applies when it loads it, not only by what the test asserts about a few fields.
 *
 * A test client usually holds part of a configuration: it subscribed to some types, or to some names of a
 * type. Those types are `partial`: what is held of them is checked like the rest, but a reference into them
 * that finds nothing is not a violation (the checker's `-partial` mode). A proxy that subscribed to every
 * type with a wildcard passes no `partial`, and every rule applies.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { TypeUrl, encodeAnyBytes, envoyType, type EncodedResource } from '@weft/core';
import { CHECKER, ensureChecker, formatViolations, proxyConfig, type LoadReport } from '@weft/plugin-envoy/dist/load-check.js';
import type { DecodedResource, DeltaClient, DeltaResponseView, SotwResponseView } from './delta-client.js';

/** One proxy as a test saw it. */
export interface HeldProxy {
  /** A label naming the test and the proxy, for violation messages. */
  readonly proxy: string;
  /**
   * What it holds, of any of the five Envoy types, in any order: decoded resources (re-encoded here), or
   * the encoded bytes themselves (`fromWire`).
   */
  readonly resources: Iterable<DecodedResource | EncodedResource>;
  /**
   * Type URLs of which it holds only part (not subscribed, or subscribed by name): references into them
   * need not be served. Absent: it holds all of every type.
   */
  readonly partial?: readonly string[];
}

/** The checker's section of each type, as its `partial` field names them. */
const SECTION: Readonly<Record<string, string>> = {
  [TypeUrl.Listener]: 'listeners',
  [TypeUrl.RouteConfiguration]: 'routes',
  [TypeUrl.Cluster]: 'clusters',
  [TypeUrl.ClusterLoadAssignment]: 'endpoints',
  [TypeUrl.Secret]: 'secrets',
};

/** Every type but these is partial: for a client that subscribed to these types with a wildcard. */
export function partialExcept(...whole: string[]): string[] {
  return Object.keys(SECTION).filter((t) => !whole.includes(t));
}

/** Flattens a held map (type URL -> name -> resource), the shape AckingProxy and most tests keep. */
export function heldResources(held: ReadonlyMap<string, ReadonlyMap<string, DecodedResource>>): DecodedResource[] {
  return [...held.values()].flatMap((byName) => [...byName.values()]);
}

/**
 * Re-encodes a decoded resource into the bytes the checker reads. A delta resource carries its version,
 * the first 16 hex digits of the SHA-256 of the Any sent (core/src/xds/encode.ts; secrets are versioned
 * otherwise), so the re-encoding is checked against it: the checker reads exactly the bytes on the wire.
 * State-of-the-world resources carry no version of their own and are not compared.
 */
export function reencode(proxy: string, r: DecodedResource): EncodedResource {
  const type = envoyType(r.typeUrl);
  const any = encodeAnyBytes(r.typeUrl, type.encode(type.fromObject(r.message)).finish());
  if (r.version !== '' && r.typeUrl !== TypeUrl.Secret) {
    assert.equal(createHash('sha256').update(any).digest('hex').slice(0, 16), r.version, `${proxy} ${r.name}: re-encoded bytes differ from what was sent`);
  }
  return { typeUrl: r.typeUrl, name: r.name, any, version: r.version, dump: r.message };
}

/**
 * A resource as a client that keeps raw bytes holds it: the inner message bytes of a delta response's
 * Any, wrapped back into the Any sent, and checked against the version sent with it.
 */
export function fromWire(typeUrl: string, name: string, value: Uint8Array, version: string): EncodedResource {
  const any = encodeAnyBytes(typeUrl, value);
  if (version !== '' && typeUrl !== TypeUrl.Secret) {
    assert.equal(createHash('sha256').update(any).digest('hex').slice(0, 16), version, `${name}: the bytes held are not the version sent`);
  }
  return { typeUrl, name, any, version, dump: null };
}

/**
 * Checks every proxy's held configuration and fails, listing each violation, if Envoy would refuse or
 * leave warming any of it. Returns the report (proxies and resources checked) for the caller's own asserts.
 */
export function assertProxiesLoad(proxies: readonly HeldProxy[]): LoadReport {
  assert.ok(proxies.length > 0, 'no proxy to check');
  ensureChecker();
  const lines = proxies.map((p) => {
    const config = proxyConfig(p.proxy, [...p.resources].map((r) => ('any' in r ? r : reencode(p.proxy, r))));
    const partial = (p.partial ?? []).map((t) => {
      const section = SECTION[t];
      if (section === undefined) throw new Error(`${p.proxy}: partial type ${t} is not part of an Envoy proxy's configuration`);
      return section;
    });
    return JSON.stringify(partial.length === 0 ? config : { ...config, partial });
  });
  const res = spawnSync(CHECKER, ['-proxy', '-partial', '-format', 'json'], { input: lines.join('\n') + '\n', encoding: 'utf8', maxBuffer: 64 << 20 });
  if (res.error !== undefined) throw res.error;
  assert.ok(res.status === 0 || res.status === 1, `the checker could not read its input (exit ${res.status}):\n${res.stdout}${res.stderr}`);
  const report = JSON.parse(res.stdout) as LoadReport;
  assert.equal(report.proxies, proxies.length);
  assert.deepEqual(report.violations, [], `what live proxies received would not load in Envoy:\n${formatViolations(report.violations)}`);
  return report;
}

/** A held map a test keeps up to date from the responses it reads: type URL -> name -> resource. */
export type Held = Map<string, Map<string, DecodedResource>>;

/** Applies a delta response to what a client holds: its resources replace, its removals delete. */
export function applyDelta(held: Held, res: DeltaResponseView): void {
  let byName = held.get(res.typeUrl);
  if (byName === undefined) held.set(res.typeUrl, (byName = new Map()));
  for (const r of res.resources) byName.set(r.name, r);
  for (const name of res.removedResources) byName.delete(name);
}

/** Applies a state-of-the-world response: it is the whole set of its type. */
export function applySotw(held: Held, res: SotwResponseView): void {
  held.set(res.typeUrl, new Map(res.resources.map((r) => [r.name, r])));
}

/**
 * Subscribes a delta client to everything ('*') of the given types, ACKs and records every response until
 * none has come for `quietMs`, and returns what it holds: a whole configuration, as a proxy that asked for
 * all of it would hold.
 */
export async function holdEverything(client: DeltaClient, typeUrls: readonly string[], quietMs = 300): Promise<Held> {
  const held: Held = new Map();
  for (const typeUrl of typeUrls) client.request({ typeUrl, subscribe: ['*'] });
  for (;;) {
    const res = await client.next(quietMs).catch(() => undefined);
    if (res === undefined) break;
    client.ack(res);
    applyDelta(held, res);
  }
  assert.ok(held.size > 0, 'no response');
  return held;
}
