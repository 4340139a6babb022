/**
 * Golden tests: testdata/<case>/ (manifests) -> per gRPC proxy `<pod>.{listeners,routes,clusters,endpoints}.yaml`
 * (every resource it is served, decoded from its wire bytes, sorted by name) and `<pod>.notices.yaml` (the
 * policies it cannot carry out). UPDATE_GOLDEN=1 rewrites the files.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkFields } from '@weft/core';
import * as testing from '@weft/core/testing';
import { GOLDEN_SUFFIXES, TESTDATA, caseDirs, goldenFiles, loadCase, proxyResources } from './harness.js';

testing.defineGoldenSuite(
  { describe, it },
  {
    title: 'grpc goldens',
    testdata: TESTDATA,
    requiredCases: ['bookstore', 'permissive-plaintext', 'split-matches', 'unsupported-policies', 'localities', 'tcp-route'],
    loadCase,
    render: goldenFiles,
    suffixes: GOLDEN_SUFFIXES,
  },
);

describe('grpc translator trees', () => {
  // Typed builders are encoded without core's runtime field walk (the compiler checked them); a cast or a
  // Record<string, unknown> could still carry a field protobufjs would drop, so every golden tree is walked here.
  it('name only fields of their types, in every resource of every golden case', () => {
    let checked = 0;
    for (const name of caseDirs()) {
      const mesh = loadCase(name);
      for (const proxy of mesh.proxies) {
        for (const [typeUrl, list] of proxyResources(mesh, proxy)) {
          for (const r of list) {
            checkFields(typeUrl, r.dump, `${name} ${r.name}`);
            checked++;
          }
        }
      }
    }
    assert.ok(checked > 50, `only ${checked} resources checked`);
  });
});
