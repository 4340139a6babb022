/**
 * Golden tests: testdata/<case>/input.yaml (manifests) -> <pod>.out.yaml per proxy (the dumps of every
 * resource it is served, by type, sorted). UPDATE_GOLDEN=1 rewrites the expected files.
 */
import { describe, it } from 'node:test';
import { testing } from '@weft/core';
import { TESTDATA, goldenYaml, loadCase, proxyResources } from './harness.js';

testing.defineGoldenSuite(
  { describe, it },
  {
    title: 'envoy goldens',
    testdata: TESTDATA,
    requiredCases: ['basic-http', 'tcp-route', 'traffic-split', 'permissive', 'egress', 'ingress-backend', 'retry', 'upstream-traffic-setting', 'prometheus-scrape', 'app-protocols'],
    loadCase,
    render: (mesh, proxy) => goldenYaml(proxyResources(mesh, proxy)),
  },
);
