/**
 * Golden tests: testdata/<case>/input.yaml (manifests) -> per proxy and resource type
 * `<pod>.{listeners,routes,clusters,endpoints,secrets}.yaml`, every resource it is served decoded from its
 * wire bytes, sorted by name. UPDATE_GOLDEN=1 rewrites the expected files.
 */
import { describe, it } from 'node:test';
import { testing } from '@weft/core';
import { GOLDEN_SUFFIXES, TESTDATA, goldenFiles, loadCase, proxyResources } from './harness.js';

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
