/**
 * Golden files: testdata/<name>.in.yaml|json -> testdata/<name>.out.json (resources, error messages, ignore
 * notices). `UPDATE_GOLDEN=1 node --test core/dist/model/` rewrites the expected files; review the diff.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseManifests } from './parse.js';

// Tests run from dist/model; the golden files stay in the source tree.
const TESTDATA = resolve(__dirname, '../../src/model/testdata');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const inputs = readdirSync(TESTDATA).filter((f) => /\.in\.(ya?ml|json)$/.test(f));

test('golden inputs exist', () => {
  assert.ok(inputs.length >= 8, `expected golden inputs in ${TESTDATA}`);
});

for (const input of inputs) {
  test(`golden ${input}`, () => {
    const text = readFileSync(join(TESTDATA, input), 'utf8');
    const result = parseManifests(text, input);
    const actual = {
      resources: result.resources,
      errors: result.errors.map((e) => e.message),
      ignored: result.ignored,
    };
    const outFile = join(TESTDATA, input.replace(/\.in\.(ya?ml|json)$/, '.out.json'));
    if (UPDATE) {
      writeFileSync(outFile, JSON.stringify(actual, null, 2) + '\n');
      return;
    }
    assert.ok(existsSync(outFile), `${outFile} is missing; run with UPDATE_GOLDEN=1 to create it`);
    const expected: unknown = JSON.parse(readFileSync(outFile, 'utf8'));
    // Through JSON so the comparison sees exactly what would go on the log.
    assert.deepEqual(JSON.parse(JSON.stringify(actual)), expected);
  });
}

test('the same manifests as one JSON array normalize exactly as the YAML stream does', () => {
  for (const input of inputs.filter((f) => /\.ya?ml$/.test(f))) {
    const text = readFileSync(join(TESTDATA, input), 'utf8');
    const objects = parseAllDocuments(text)
      .map((d) => d.toJS() as unknown)
      .filter((v) => v !== null);
    const fromYaml = parseManifests(text, input);
    const fromJson = parseManifests(JSON.stringify(objects), input);
    assert.deepEqual(fromJson.resources, fromYaml.resources, input);
    assert.equal(fromJson.errors.length, fromYaml.errors.length, input);
  }
});
