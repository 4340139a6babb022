/**
 * Negative cases: testdata-invalid/<case>/input.yaml, a mesh with invalid manifests -> errors.yaml: each
 * refused document and why, the warnings, and what every gRPC proxy is still served from the rest.
 * UPDATE_GOLDEN=1 rewrites the expected files.
 */
import { describe, it } from 'node:test';
import * as testing from '@weft/core/testing';
import { INVALID_TESTDATA, invalidCaseOptions } from './harness.js';

testing.defineInvalidSuite(
  { describe, it },
  {
    title: 'grpc negative cases',
    testdata: INVALID_TESTDATA,
    requiredCases: ['service-bad-port', 'service-bad-app-protocol', 'split-negative-weight', 'split-missing-backend', 'retry-bad-condition'],
    options: invalidCaseOptions,
  },
);
