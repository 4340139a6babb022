/**
 * Inbound route configurations are assembled from encoded parts (each virtual host's own fields around its
 * routes' encodings, kept between rebuilds). Over every golden case, each route configuration served must
 * have the bytes and version of encoding its dump at once, from plain objects.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypeUrl, encodeResource } from '@weft/core';
import { caseDirs, loadCase, proxyResources } from './harness.js';

describe('route configurations assembled from encoded parts', () => {
  it('have the bytes of encoding the whole tree, in every golden case', () => {
    const seen = new Set<string>();
    for (const name of caseDirs()) {
      const mesh = loadCase(name);
      for (const proxy of mesh.proxies) {
        for (const r of proxyResources(mesh, proxy).get(TypeUrl.RouteConfiguration) ?? []) {
          const json = JSON.stringify(r.dump);
          const plain = encodeResource(TypeUrl.RouteConfiguration, r.name, JSON.parse(json) as object);
          assert.deepEqual(Buffer.from(r.any), Buffer.from(plain.any), `${name}/${proxy.pod} ${r.name}`);
          assert.equal(r.version, plain.version);
          if (!r.name.startsWith('rds-inbound.')) continue;
          seen.add('inbound');
          for (const [shape, pattern] of [
            ['method', /":method"/],
            ['route rate limit', /inbound_route_.*local_ratelimit|local_ratelimit.*inbound_route_/],
            ['host rate limit', /"inbound_[^"]*_http"/],
            ['permissive', /"permissive"/],
          ] as const) {
            if (pattern.test(json)) seen.add(shape);
          }
        }
      }
    }
    assert.deepEqual([...seen].sort(), ['host rate limit', 'inbound', 'method', 'permissive', 'route rate limit']);
  });
});
