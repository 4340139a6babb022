import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { EXAMPLE, runWeft } from './helpers.js';

describe('weft validate', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-validate-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('accepts the example mesh and summarizes it', async () => {
    const r = await runWeft(['validate', EXAMPLE]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^6 file\(s\), 41 valid resource\(s\) \(.*Service 7.*Workload 7\), 0 ignored document\(s\), 0 error\(s\)\n$/);
  });

  it('lists every error with file, document, resource and field, and exits 1', async () => {
    fs.writeFileSync(
      path.join(dir, 'split.yaml'),
      `apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: { name: s, namespace: shop }
spec:
  service: web
  backends:
    - { service: web-v1, weight: -5 }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { ports: [{ port: 80 }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
`,
    );
    fs.writeFileSync(path.join(dir, 'dup.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { ports: [{ port: 81 }] } }));
    fs.writeFileSync(path.join(dir, 'bad-version.yml'), 'apiVersion: split.smi-spec.io/v9\nkind: TrafficSplit\nmetadata: { name: t, namespace: shop }\n');
    const r = await runWeft(['validate', '.', 'missing.yaml'], { cwd: dir });
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    const errors = lines.filter((l) => l.startsWith('error: '));
    assert.equal(errors.length, 4, r.stdout);
    assert.ok(errors.includes('error: missing.yaml: no such file or directory'), r.stdout);
    assert.ok(errors.some((l) => /^error: split\.yaml document 0 \(TrafficSplit shop\/s\): spec\.backends\[0\]\.weight: .*-5/.test(l)), r.stdout);
    assert.ok(errors.some((l) => /^error: bad-version\.yml document 0 .*apiVersion/.test(l)), r.stdout);
    assert.ok(errors.some((l) => /^error: split\.yaml: Service shop\/web is also defined in dup\.json/.test(l)), r.stdout);
    assert.ok(lines.some((l) => /^ignored: split\.yaml document 2 \(Deployment shop\/web\)/.test(l)), r.stdout);
    assert.match(lines[lines.length - 1]!, /^3 file\(s\), 1 valid resource\(s\) \(Service 1\), 1 ignored document\(s\), 4 error\(s\)$/);
  });

  it('treats an empty folder and a missing argument as mistakes', async () => {
    const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
    const r = await runWeft(['validate', empty]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /no manifest files/);
    const usage = await runWeft(['validate']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /give at least one file or folder/);
  });
});
