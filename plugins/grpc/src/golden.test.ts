/**
 * Golden tests: testdata/<case>/ (manifests) -> <pod>.out.yaml per gRPC proxy (the dump of every resource
 * it is served, by type, and the policies it cannot carry out). UPDATE_GOLDEN=1 rewrites the files.
 */
import { describe, it } from 'node:test';
import { testing } from '@weft/core';
import { TESTDATA, goldenYaml, loadCase } from './harness.js';

testing.defineGoldenSuite(
  { describe, it },
  {
    title: 'grpc goldens',
    testdata: TESTDATA,
    requiredCases: ['bookstore', 'permissive-plaintext', 'split-matches', 'unsupported-policies', 'localities', 'tcp-route'],
    loadCase,
    render: goldenYaml,
  },
);
