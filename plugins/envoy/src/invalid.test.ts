/**
 * Negative cases: testdata-invalid/<case>/input.yaml, a mesh with invalid manifests -> errors.yaml: each
 * refused document and why, the warnings, and what every proxy is still served from the rest.
 * UPDATE_GOLDEN=1 rewrites the expected files.
 */
import { describe, it } from 'node:test';
import * as testing from '@weft/core/testing';
import { INVALID_TESTDATA, invalidCaseOptions } from './harness.js';

testing.defineInvalidSuite(
  { describe, it },
  {
    title: 'envoy negative cases',
    testdata: INVALID_TESTDATA,
    requiredCases: ['service-bad-port', 'split-negative-weight', 'split-zero-weights', 'split-missing-backend', 'route-group-bad-regex', 'egress-bad-cidr', 'yaml-syntax', 'service-selects-nothing'],
    options: invalidCaseOptions,
  },
);
