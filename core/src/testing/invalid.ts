/**
 * Negative golden cases for proxy adapters: `<testdata>/<case>/input.yaml` is a mesh with invalid manifests,
 * `<case>/errors.yaml` what comes of it: each refused document with its code and message, the warnings
 * about the set (references naming nothing, selectors selecting nothing), and what every proxy is still
 * served from the documents that loaded, by resource name per type.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseManifests } from '../model/parse.js';
import { danglingReferences, unselectedServices } from '../model/references.js';
import type { ProxyAdapter } from '../xds/adapter.js';
import { goldenCaseDirs, goldenYaml, loadTestEvents, proxyResourceLists, type TestMeshOptions } from './golden.js';

export interface InvalidCaseOptions<A extends ProxyAdapter> extends TestMeshOptions<A> {
  /** The name each resource type is listed under (type URL otherwise). */
  readonly sections: Readonly<Record<string, string>>;
}

/** The errors.yaml text of one negative case. */
export function invalidCaseYaml<A extends ProxyAdapter>(testdata: string, name: string, options: InvalidCaseOptions<A>): string {
  const file = `${name}/input.yaml`;
  const parsed = parseManifests(fs.readFileSync(path.join(testdata, file), 'utf8'), file);
  const events = parsed.resources.map((r) => ({ op: 'upsert' as const, kind: r.kind, key: r.key, body: r.body }));
  const mesh = loadTestEvents(events, options);
  const served: Record<string, Record<string, string[]>> = {};
  for (const proxy of mesh.proxies) {
    const byType: Record<string, string[]> = {};
    for (const [typeUrl, list] of proxyResourceLists(mesh, proxy)) byType[options.sections[typeUrl] ?? typeUrl] = list.map((r) => r.name);
    served[proxy.pod] = byType;
  }
  return goldenYaml({
    errors: parsed.errors.map((e) => ({ code: e.code, message: e.message })),
    warnings: [...danglingReferences(parsed.resources), ...unselectedServices(parsed.resources)].map((d) => d.message),
    served,
  });
}

type TestFn = (name: string, fn: () => void) => unknown;

/** Registers one test per negative case (UPDATE_GOLDEN=1 rewrites errors.yaml) and one that the required cases exist. */
export function defineInvalidSuite<A extends ProxyAdapter>(
  t: { describe: TestFn; it: TestFn },
  suite: { readonly title: string; readonly testdata: string; readonly requiredCases: readonly string[]; readonly options: () => InvalidCaseOptions<A> },
): void {
  t.describe(suite.title, () => {
    const cases = goldenCaseDirs(suite.testdata);
    t.it('has a case per kind of error', () => {
      for (const c of suite.requiredCases) assert.ok(cases.includes(c), `missing negative case ${c}`);
    });
    for (const name of cases) {
      t.it(name, () => {
        const actual = invalidCaseYaml(suite.testdata, name, suite.options());
        const target = path.join(suite.testdata, name, 'errors.yaml');
        if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(target, actual);
        assert.ok(fs.existsSync(target), `${target} missing; run with UPDATE_GOLDEN=1 to create it`);
        assert.equal(actual, fs.readFileSync(target, 'utf8'), `${name}/errors.yaml differs from the golden file (UPDATE_GOLDEN=1 rewrites)`);
      });
    }
  });
}
