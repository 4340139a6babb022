import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeResource } from './encode.js';
import { ADS_CONFIG_SOURCE, durationMs, encodedResourceHash, u32 } from './proto-helpers.js';

describe('proto helpers', () => {
  it('builds wrappers and durations that encode as Envoy reads them', () => {
    assert.deepEqual(durationMs(1500), { seconds: 1, nanos: 500_000_000 });
    assert.deepEqual(durationMs(250), { seconds: 0, nanos: 250_000_000 });
    assert.deepEqual(u32(7), { value: 7 });
    const cluster = encodeResource('type.googleapis.com/envoy.config.cluster.v3.Cluster', 'c', {
      name: 'c',
      connectTimeout: durationMs(1500),
      perConnectionBufferLimitBytes: u32(1024),
      edsClusterConfig: { edsConfig: ADS_CONFIG_SOURCE },
    });
    const again = encodeResource('type.googleapis.com/envoy.config.cluster.v3.Cluster', 'c', {
      name: 'c',
      connectTimeout: { seconds: 1, nanos: 500_000_000 },
      perConnectionBufferLimitBytes: { value: 1024 },
      edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
    });
    assert.deepEqual(cluster.any, again.any);
    assert.equal(encodedResourceHash(cluster), `c@${cluster.version}`);
    assert.equal(encodedResourceHash(null), '-');
  });

  it('shares one ADS config source that nobody can change under the other adapters', () => {
    assert.throws(() => {
      (ADS_CONFIG_SOURCE as Record<string, unknown>).resourceApiVersion = 'V2';
    }, TypeError);
  });
});
