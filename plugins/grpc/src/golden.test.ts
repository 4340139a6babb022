/**
 * Golden tests: testdata/<case>/ (manifests) -> per gRPC proxy `<pod>.{listeners,routes,clusters,endpoints}.yaml`
 * (every resource it is served, decoded from its wire bytes, sorted by name) and `<pod>.notices.yaml` (the
 * policies it cannot carry out). UPDATE_GOLDEN=1 rewrites the files.
 */
import { describe, it } from 'node:test';
import { testing } from '@weft/core';
import { GOLDEN_SUFFIXES, TESTDATA, goldenFiles, loadCase } from './harness.js';

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
