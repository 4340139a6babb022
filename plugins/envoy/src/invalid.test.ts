/**
 * Negative cases: testdata-invalid/<case>/input.yaml, a mesh with invalid manifests -> errors.yaml: each
 * refused document and why, the warnings, and what every proxy is still served from the rest.
 * UPDATE_GOLDEN=1 rewrites the expected files.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { INVALID_TESTDATA, invalidCaseDirs, invalidCaseYaml } from './harness.js';

const REQUIRED = ['service-bad-port', 'split-negative-weight', 'split-zero-weights', 'split-missing-backend', 'route-group-bad-regex', 'egress-bad-cidr', 'yaml-syntax', 'service-selects-nothing'];

describe('envoy negative cases', () => {
  const cases = invalidCaseDirs();
  it('has the cases', () => {
    for (const c of REQUIRED) assert.ok(cases.includes(c), `missing negative case ${c}`);
  });
  for (const name of cases) {
    it(name, () => {
      const actual = invalidCaseYaml(name);
      const target = path.join(INVALID_TESTDATA, name, 'errors.yaml');
      if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(target, actual);
      assert.ok(fs.existsSync(target), `${target} missing; run with UPDATE_GOLDEN=1 to create it`);
      assert.equal(actual, fs.readFileSync(target, 'utf8'), `${name}/errors.yaml differs (UPDATE_GOLDEN=1 rewrites)`);
    });
  }
});
