/**
 * Golden tests: testdata/<case>/input.yaml (manifests) -> per proxy and resource type
 * `<pod>.{listeners,routes,clusters,endpoints,secrets}.yaml`, every resource it is served decoded from its
 * wire bytes, sorted by name. UPDATE_GOLDEN=1 rewrites the expected files.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypeUrl, checkFields } from '@weft/core';
import * as testing from '@weft/core/testing';
import { GOLDEN_SUFFIXES, TESTDATA, caseDirs, goldenFiles, loadCase, proxyResources } from './harness.js';

testing.defineGoldenSuite(
  { describe, it },
  {
    title: 'envoy goldens',
    testdata: TESTDATA,
    requiredCases: ['basic-http', 'tcp-route', 'traffic-split', 'permissive', 'egress', 'ingress-backend', 'retry', 'upstream-traffic-setting', 'prometheus-scrape', 'app-protocols'],
    loadCase,
    render: (mesh, proxy) => goldenFiles(proxyResources(mesh, proxy)),
    suffixes: GOLDEN_SUFFIXES,
  },
);

describe('envoy translator trees', () => {
  // Typed builders are encoded without core's runtime field walk (the compiler checked them); a cast or a
  // Record<string, unknown> could still carry a field protobufjs would drop, so every golden tree is walked here.
  it('name only fields of their types, in every resource of every golden case', () => {
    let checked = 0;
    for (const name of caseDirs()) {
      const mesh = loadCase(name);
      for (const proxy of mesh.proxies) {
        for (const [typeUrl, list] of proxyResources(mesh, proxy)) {
          if (typeUrl === TypeUrl.Secret) continue; // encoded with the check; their dumps are redacted
          for (const r of list) {
            checkFields(typeUrl, r.dump, `${name}/${proxy.pod} ${r.name}`);
            checked++;
          }
        }
      }
    }
    assert.ok(checked > 100, `only ${checked} resources checked`);
  });

  it('the walk finds a misspelt field', () => {
    assert.throws(() => checkFields(TypeUrl.Cluster, { name: 'c', lbPolicy: 'ROUND_ROBIN', connectTimout: { seconds: 1 } }), /has no field "connectTimout"/);
  });
});
