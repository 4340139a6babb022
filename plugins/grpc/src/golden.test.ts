/**
 * Golden tests: testdata/<case>/ (manifests) -> <pod>.out.yaml per gRPC proxy (the dump of every resource
 * it is served, by type, and the policies it cannot carry out). UPDATE_GOLDEN=1 rewrites the files.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { TESTDATA, caseDirs, goldenYaml, loadCase, proxyResources } from './harness.js';

const update = process.env.UPDATE_GOLDEN === '1';

describe('grpc goldens', () => {
  const cases = caseDirs();
  it('has a case per feature', () => {
    for (const c of ['bookstore', 'permissive-plaintext', 'split-matches', 'unsupported-policies', 'localities', 'tcp-route']) {
      assert.ok(cases.includes(c), `missing golden case ${c}`);
    }
  });
  for (const name of cases) {
    it(name, () => {
      const mesh = loadCase(name);
      assert.ok(mesh.proxies.length > 0, `${name}: no pod carries an osm-proxy-uuid label`);
      const expected = new Set(fs.readdirSync(path.join(TESTDATA, name)).filter((f) => f.endsWith('.out.yaml')));
      for (const proxy of mesh.proxies) {
        const file = `${proxy.pod}.out.yaml`;
        const actual = goldenYaml(mesh, proxy);
        const target = path.join(TESTDATA, name, file);
        if (update) fs.writeFileSync(target, actual);
        assert.ok(fs.existsSync(target), `${target} missing; run with UPDATE_GOLDEN=1 to create it`);
        assert.equal(actual, fs.readFileSync(target, 'utf8'), `${name}/${file} differs from the golden file (UPDATE_GOLDEN=1 rewrites)`);
        expected.delete(file);
      }
      if (!update) assert.deepEqual([...expected], [], `${name}: golden files without a proxy`);
    });
  }

  it('is deterministic: a fresh catalog and engine give byte-identical resources', () => {
    for (const name of cases) {
      const a = loadCase(name);
      const b = loadCase(name);
      for (const [i, proxy] of a.proxies.entries()) {
        const ra = proxyResources(a, proxy);
        const rb = proxyResources(b, b.proxies[i] ?? proxy);
        for (const [type, list] of ra) {
          assert.deepEqual(
            list.map((r) => Buffer.from(r.any).toString('base64')),
            (rb.get(type) ?? []).map((r) => Buffer.from(r.any).toString('base64')),
            `${name}/${proxy.pod} ${type}`,
          );
        }
      }
    }
  });
});
