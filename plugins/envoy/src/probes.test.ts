/**
 * The probe listeners of the bootstrap (OSM v1.2's static health probe listeners): a golden of a pod with
 * HTTP, HTTPS and tcpSocket probes on two containers, what is left out, and the bootstrap through Envoy's
 * validation rules (the checker under test/envoy-validate). UPDATE_GOLDEN=1 rewrites the golden.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import type { BootstrapServer, ContainerHealthProbes, ProxyIdentity } from '@weft/core';
import * as testing from '@weft/core/testing';
import { EnvoyAdapter } from './adapter.js';
import { TESTDATA } from './harness.js';
import { CHECKER, ensureChecker } from './load-check.js';
import { probeResources } from './probes.js';

const proxy: ProxyIdentity = { uuid: '00000000-0000-4000-8000-000000000001', kind: 'envoy', namespace: 'bookstore', serviceAccount: 'bookstore', trustDomain: 'cluster.local' };
const server: BootstrapServer = { host: 'weft.osm-system.svc', port: 15128, tls: { certFile: '/etc/weft-proxy/tls.crt', keyFile: '/etc/weft-proxy/tls.key', caFile: '/etc/weft-proxy/ca.crt' } };

const PROBES: ContainerHealthProbes[] = [
  {
    container: 'web',
    liveness: { kind: 'http', port: 8080, path: '/healthz', timeoutSeconds: 3 },
    readiness: { kind: 'http', port: 8080, path: '/ready?full=1', timeoutSeconds: 1 },
    startup: { kind: 'tcp', port: 8080, path: '', timeoutSeconds: 1 },
  },
  {
    container: 'api',
    liveness: { kind: 'https', port: 8443, path: '', timeoutSeconds: 2 },
    readiness: { kind: 'http', port: 9090, path: '/', timeoutSeconds: 5 },
  },
];

describe('probe listeners in the bootstrap', () => {
  it('golden: HTTP routes by container, HTTPS passed through, tcpSocket left to osm-healthcheck', () => {
    const file = path.join(TESTDATA, 'bootstrap-probes.yaml');
    const bootstrap = new EnvoyAdapter().bootstrap(proxy, server, { healthProbes: PROBES }) as { staticResources: unknown };
    const actual = testing.goldenYaml({ staticResources: bootstrap.staticResources });
    if (process.env['UPDATE_GOLDEN'] === '1') fs.writeFileSync(file, actual);
    assert.equal(actual, fs.readFileSync(file, 'utf8'), 'bootstrap-probes.yaml differs (UPDATE_GOLDEN=1 rewrites)');
  });

  it('serves each rewritten HTTP probe at /osm-<type>-probe/<container> on 15901-15903 and forwards to the original port and path', () => {
    const { listeners, clusters } = probeResources(PROBES);
    assert.deepEqual(listeners.map((l) => [l['name'], (l['address'] as { socketAddress: { portValue: number } }).socketAddress.portValue]), [
      ['liveness_listener', 15901],
      ['readiness_listener', 15902],
    ]);
    const json = JSON.stringify(listeners);
    assert.match(json, /"path":"\/osm-liveness-probe\/web"\},"route":\{"cluster":"web_liveness_cluster","prefixRewrite":"\/healthz","timeout":"3s"\}/);
    assert.match(json, /"transportProtocol":"tls"\},"filters":\[\{"name":"envoy.filters.network.tcp_proxy","typedConfig":\{[^}]*"cluster":"api_liveness_cluster"/);
    assert.deepEqual(clusters.map((c) => c['name']), ['web_liveness_cluster', 'web_readiness_cluster', 'api_liveness_cluster', 'api_readiness_cluster']);
    assert.doesNotMatch(JSON.stringify(clusters), /startup/);
  });

  it('adds nothing for a pod without HTTP or HTTPS probes (the bootstrap is the plain one)', () => {
    const plain = new EnvoyAdapter().bootstrap(proxy, server);
    assert.deepEqual(new EnvoyAdapter().bootstrap(proxy, server, { healthProbes: [] }), plain);
    assert.deepEqual(new EnvoyAdapter().bootstrap(proxy, server, { healthProbes: [{ container: 'db', liveness: { kind: 'tcp', port: 5432, path: '', timeoutSeconds: 1 } }] }), plain);
    assert.equal((plain as { staticResources: Record<string, unknown> }).staticResources['listeners'], undefined);
  });

  describe('Envoy validation', () => {
    before(ensureChecker);
    it('accepts the bootstrap with probe listeners', () => {
      const json = new EnvoyAdapter().bootstrap(proxy, server, { healthProbes: PROBES });
      const line = JSON.stringify({ typeUrl: 'type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap', name: 'bootstrap-probes', json });
      const res = spawnSync(CHECKER, [], { input: `${line}\n`, encoding: 'utf8' });
      assert.equal(res.status, 0, res.stdout + res.stderr);
      assert.match(res.stdout + res.stderr, /1 valid, 0 invalid/);
    });
  });
});
