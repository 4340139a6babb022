/**
 * Golden tests: testdata/<case>/input.yaml (manifests) -> <pod>.out.yaml per proxy (the dumps of every
 * resource it is served, by type, sorted). UPDATE_GOLDEN=1 rewrites the expected files.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { TESTDATA, caseDirs, goldenYaml, loadCase, proxyResources } from './harness.js';

const update = process.env.UPDATE_GOLDEN === '1';

describe('envoy goldens', () => {
  const cases = caseDirs();
  it('has a case per feature', () => {
    for (const c of ['basic-http', 'tcp-route', 'traffic-split', 'permissive', 'egress', 'ingress-backend', 'retry', 'upstream-traffic-setting', 'prometheus-scrape', 'app-protocols']) {
      assert.ok(cases.includes(c), `missing golden case ${c}`);
    }
  });
  for (const name of cases) {
    it(name, () => {
      const mesh = loadCase(name);
      assert.ok(mesh.proxies.length > 0, `${name}: no pod carries an osm-proxy-uuid label`);
      const expectedFiles = new Set(fs.readdirSync(path.join(TESTDATA, name)).filter((f) => f.endsWith('.out.yaml')));
      for (const proxy of mesh.proxies) {
        const file = `${proxy.pod}.out.yaml`;
        const actual = goldenYaml(proxyResources(mesh, proxy));
        const target = path.join(TESTDATA, name, file);
        if (update) fs.writeFileSync(target, actual);
        assert.ok(fs.existsSync(target), `${target} missing; run with UPDATE_GOLDEN=1 to create it`);
        assert.equal(actual, fs.readFileSync(target, 'utf8'), `${name}/${file} differs from the golden file (UPDATE_GOLDEN=1 rewrites)`);
        expectedFiles.delete(file);
      }
      if (!update) assert.deepEqual([...expectedFiles], [], `${name}: golden files without a proxy`);
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
