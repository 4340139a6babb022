/**
 * What proxies actually received, through the Envoy checker: a real Weft (files source on a copy of the
 * bookstore example, local CA, Envoy adapter) serves delta ADS streams that subscribe to everything and ACK
 * (one per workload, as a sidecar would); once they settle, what each holds — after every incremental update
 * and removal, not a fresh computation — is one proxy's whole configuration for the checker. Then random
 * meshes (random-mesh.ts, fixed seed) join and leave the running mesh one after the other, their MeshConfig
 * toggling permissive mode for everybody, with their own proxies connected, and the check runs again after
 * each change, over the example's proxies (whose configuration changed incrementally) and the new ones.
 *
 * The held resources are re-encoded from the decoded messages; each re-encoding is checked against the
 * version the server sent (the hash of the Any bytes), so the checker reads exactly the bytes on the wire.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { TypeUrl, encodeAnyBytes, envoyType, parseManifests, type EncodedResource, type EventInput } from '@weft/core';
import type { RunningWeft } from '@weft/core/testing';
import { checkProxies, ensureChecker, formatViolations, proxyConfig } from '@weft/plugin-envoy/dist/load-check.js';
import { AckingProxy, settled } from '../replay/live-client.js';
import { randomMesh } from './random-mesh.js';
import { startExampleWeft } from '../support/example-weft.js';

const LIVE_MESHES = 6;

/** What one stream holds, as the encoded resources the checker reads; throws if a re-encoding is not what was sent. */
function heldResources(proxy: AckingProxy): EncodedResource[] {
  const out: EncodedResource[] = [];
  for (const [typeUrl, held] of proxy.held) {
    const type = envoyType(typeUrl);
    for (const r of held.values()) {
      const any = encodeAnyBytes(typeUrl, type.encode(type.fromObject(r.message)).finish());
      if (typeUrl !== TypeUrl.Secret) {
        // Delta versions are the first 16 hex digits of the SHA-256 of the Any (core/src/xds/encode.ts).
        assert.equal(createHash('sha256').update(any).digest('hex').slice(0, 16), r.version, `${proxy.uuid} ${r.name}: re-encoded bytes differ from what was sent`);
      }
      out.push({ typeUrl, name: r.name, any, version: r.version, dump: r.message });
    }
  }
  return out;
}

function checkHeld(proxies: readonly AckingProxy[], label: string): number {
  const inputs = proxies.map((p) => proxyConfig(`${label}/${p.namespace}/${p.serviceAccount}/${p.uuid}`, heldResources(p)));
  const { status, report, raw } = checkProxies(inputs);
  assert.notEqual(status, 2, raw);
  assert.equal(report.proxies, proxies.length);
  assert.deepEqual(report.violations, [], `what live proxies hold would not load in Envoy:\n${formatViolations(report.violations)}`);
  return report.resources;
}

/** Events upserting (or deleting) every resource of a manifest text. */
function events(text: string, op: 'upsert' | 'delete'): EventInput[] {
  const parsed = parseManifests(text, 'random-mesh.json');
  assert.deepEqual(parsed.errors, []);
  return parsed.resources.map((r) => (op === 'upsert' ? { source: 'test', op, kind: r.kind, key: r.key, body: r.body } : { source: 'test', op, kind: r.kind, key: r.key }));
}

describe('live output through the Envoy checker', () => {
  let dir: string;
  let weft: RunningWeft;
  let address: string;
  let example: AckingProxy[] = [];
  let visiting: AckingProxy[] = [];

  before(async () => {
    ensureChecker();
    const started = await startExampleWeft('weft-load-check-');
    dir = started.dir;
    weft = started.weft;
    address = `127.0.0.1:${weft.xdsAddress.port}`;
    example = weft.catalog
      .list('Workload')
      .filter((w) => w.proxyUuid !== null)
      .map((w) => new AckingProxy(address, w.proxyUuid!, w.meta.namespace, w.serviceAccount));
    assert.ok(example.length >= 5, `the example mesh has proxies (${example.length})`);
    await settled(example);
  });

  after(async () => {
    await Promise.all([...example, ...visiting].map((p) => p.close()));
    await weft?.close();
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('every proxy of the example mesh holds a configuration Envoy loads', () => {
    const resources = checkHeld(example, 'bookstore');
    assert.ok(resources > example.length * 5, `${resources} resources held`);
  });

  it(`random meshes joining and leaving the running mesh: after each change every connected proxy's configuration loads`, async () => {
    const meshes = fc.sample(randomMesh, { seed: 13, numRuns: LIVE_MESHES });
    let previous: string | null = null;
    for (const [i, mesh] of meshes.entries()) {
      // Proxy ids of their own, so a mesh's proxies are never taken for the previous one's.
      const text = mesh.file.text.replaceAll('00000000-0000-4000-8000-', `0000000${i}-0000-4000-8000-`);
      await Promise.all(visiting.map((p) => p.close()));
      const change = [...(previous === null ? [] : events(previous, 'delete')), ...events(text, 'upsert')];
      const offsets = await weft.log.append(change);
      await weft.caughtUp(offsets.at(-1) ?? 0);
      previous = text;
      visiting = weft.catalog
        .list('Workload')
        .filter((w) => w.proxyUuid?.startsWith(`0000000${i}-`) === true)
        .map((w) => new AckingProxy(address, w.proxyUuid!, w.meta.namespace, w.serviceAccount));
      await settled([...example, ...visiting]);
      checkHeld([...example, ...visiting], `live mesh ${i}`);
    }
  });
});
