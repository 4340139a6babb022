import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { ProxyAdapter, ProxyIdentity, ResourceSet } from '../xds/adapter.js';
import { caseManifests, defineGoldenSuite, loadTestMesh, type TestMesh } from './golden.js';

const POD = (name: string, uuid: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: shop\n  labels:\n    osm-proxy-uuid: ${uuid}\nspec:\n  serviceAccountName: web\n  containers:\n    - name: app\n      image: x\nstatus:\n  podIP: 10.0.0.1\n`;

/** An adapter serving nothing: the helper's job is the plumbing around it. */
const adapter: ProxyAdapter = {
  kind: 'probe',
  typeUrls: ['type.googleapis.com/envoy.config.cluster.v3.Cluster'],
  resources: (proxy: ProxyIdentity) => ({ id: `probe/${proxy.uuid}`, compute: (): ResourceSet => new Map() }),
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-golden-'));
const root = path.join(tmp, 'testdata');
const examples = path.join(tmp, 'examples');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeCase(name: string, files: Record<string, string>): void {
  fs.mkdirSync(path.join(root, name), { recursive: true });
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(root, name, f), text);
}

describe('golden-test helper', () => {
  writeCase('inline', { 'input.yaml': POD('web-0', 'u-0') });
  writeCase('shared', { source: '../../examples\n' });
  fs.mkdirSync(examples);
  fs.writeFileSync(path.join(examples, 'b.yaml'), POD('web-2', 'u-2'));
  fs.writeFileSync(path.join(examples, 'a.yaml'), POD('web-1', 'u-1'));
  fs.writeFileSync(path.join(examples, 'notes.txt'), 'not a manifest');

  it('reads a case from input.yaml or from the directory its source file names', () => {
    assert.deepEqual(caseManifests(root, 'inline').map((f) => f.name), ['inline/input.yaml']);
    assert.deepEqual(caseManifests(root, 'shared').map((f) => f.name), ['a.yaml', 'b.yaml']);
  });

  it('makes a proxy of the adapter kind per workload with a proxy uuid, after prepare saw them', () => {
    let prepared: readonly string[] = [];
    const mesh = loadTestMesh(caseManifests(root, 'shared'), { adapter, prepare: (_engine, proxies) => (prepared = proxies.map((p) => p.pod)) });
    assert.deepEqual(mesh.proxies.map((p) => [p.pod, p.uuid, p.kind, `${p.namespace}/${p.serviceAccount}`]), [
      ['web-1', 'u-1', 'probe', 'shop/web'],
      ['web-2', 'u-2', 'probe', 'shop/web'],
    ]);
    assert.deepEqual(prepared, ['web-1', 'web-2']);
    assert.equal(mesh.nextOffset, 2);
  });

  it('names the file when a manifest is bad', () => {
    assert.throws(() => loadTestMesh([{ text: 'apiVersion: v1\nkind: Pod\nmetadata: {}\n', name: 'broken.yaml' }], { adapter }), /broken\.yaml/);
  });

  it('fails a case whose rendering differs from its golden file, and one with a golden file without a proxy', async () => {
    writeCase('golden', { 'input.yaml': POD('web-0', 'u-0'), 'web-0.out.yaml': 'pod: web-0\n' });
    const results = new Map<string, unknown>();
    const collected: [string, () => void][] = [];
    let render = (_m: TestMesh, p: { pod: string }): string => `pod: ${p.pod}\n`;
    const suite = {
      title: 't',
      testdata: root,
      requiredCases: ['golden'],
      loadCase: (name: string) => loadTestMesh(caseManifests(root, name), { adapter }),
      render: (m: TestMesh, p: { pod: string }) => render(m, p),
    };
    // Checking, not rewriting, whatever the environment of this run says.
    const saved = process.env.UPDATE_GOLDEN;
    delete process.env.UPDATE_GOLDEN;
    defineGoldenSuite({ describe: (_n, fn) => fn(), it: (n, fn) => collected.push([n, fn]) }, suite);
    if (saved !== undefined) process.env.UPDATE_GOLDEN = saved;
    const run = (name: string): unknown => {
      const test = collected.find(([n]) => n === name);
      assert.ok(test !== undefined, `no test ${name}`);
      try {
        test[1]();
        return 'ok';
      } catch (e) {
        return e;
      }
    };
    results.set('match', run('golden'));
    render = () => 'pod: somebody else\n';
    results.set('differs', run('golden'));
    fs.writeFileSync(path.join(root, 'golden', 'ghost.out.yaml'), 'x\n');
    render = (_m, p) => `pod: ${p.pod}\n`;
    results.set('orphan', run('golden'));
    assert.equal(results.get('match'), 'ok');
    assert.match(String(results.get('differs')), /golden\/web-0\.out\.yaml differs/);
    assert.match(String(results.get('orphan')), /golden files without a proxy/);
    assert.equal(run('has a case per feature'), 'ok');
    assert.equal(run('is deterministic: a fresh catalog and engine give byte-identical resources'), 'ok');
  });
});
