import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { normalizeManifest } from '@weft/core';
import { Admin, findApiServer, type Answer, type ApiServerLookup } from '@weft/plugin-kubernetes/dist/testing.js';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { buildCases, KINDS, type CrdCase } from './crd-cases.js';

/**
 * The CRD schemas in deploy/kubernetes/crds against Weft's model: every object of crd-cases.ts goes to the
 * model (normalizeManifest, what the files and Kubernetes sources run) and, as a server-side dry-run create
 * with strict field validation (what kubectl apply sends), to a real kube-apiserver with those CRDs applied.
 * Valid objects must pass both; invalid ones must be refused by both, the API server naming the field;
 * the rules a schema cannot state are listed and held to being Weft's alone.
 */

const ci = process.env['CI'] === 'true';
const REPO = path.resolve(__dirname, '..', '..', '..');
const CRD_DIR = path.join(REPO, 'deploy', 'kubernetes', 'crds');
const ns = `weft-crd-${Date.now().toString(36)}`;

/** The model's verdict: the first problem's path, or null when the object loads. */
function modelProblem(object: Record<string, unknown>): string | null {
  const result = normalizeManifest(object, { file: 'case', document: 1 });
  if (result.errors.length > 0) return `${result.errors[0]!.path}: ${result.errors[0]!.rule}`;
  assert.equal(result.resources.length, 1, `the model neither refused nor loaded ${JSON.stringify(object)}`);
  return null;
}

function collection(object: Record<string, unknown>): string {
  const kind = KINDS[object['kind'] as string]!;
  return `/apis/${kind.apiVersion}/namespaces/${ns}/${kind.plural}`;
}

/** Server-side apply of every CRD file (kubectl apply --server-side), taking the fields over from start.sh. */
async function applyCrds(admin: Admin): Promise<string[]> {
  const names: string[] = [];
  for (const file of fs.readdirSync(CRD_DIR).filter((f) => f.endsWith('.yaml'))) {
    const crd = parseYaml(fs.readFileSync(path.join(CRD_DIR, file), 'utf8')) as { metadata: { name: string } };
    names.push(crd.metadata.name);
    await admin.ok(
      'PATCH',
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=weft-crds&force=true`,
      crd,
      'application/apply-patch+yaml',
    );
  }
  return names;
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function message(a: Answer): string {
  return String(a.body['message'] ?? JSON.stringify(a.body));
}

describe('CRD schemas agree with the model', () => {
  let apiserver: ApiServerLookup;
  let admin: Admin | undefined;
  const cases = buildCases(ns);
  const answers = new Map<string, Answer>();

  before(async () => {
    apiserver = await findApiServer();
    if (apiserver.kubeconfig === null) return;
    admin = await Admin.open(apiserver.kubeconfig);
    const names = await applyCrds(admin);
    await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    for (const name of names) {
      await waitFor(`CRD ${name} established`, async () => {
        const crd = await admin!.ok('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
        const conditions = ((crd['status'] as Record<string, unknown> | undefined)?.['conditions'] ?? []) as { type: string; status: string }[];
        return conditions.some((c) => c.type === 'Established' && c.status === 'True');
      });
    }
    // An updated schema reaches the handlers a moment after the CRD is written: wait until an object only
    // the new schemas refuse is refused.
    const probe = cases.find((c) => c.name === 'TrafficSplit: a negative weight')!;
    await waitFor('the new TrafficSplit schema in force', async () => {
      const a = await admin!.request('POST', `${collection(probe.object)}?dryRun=All`, probe.object);
      return a.status === 422;
    });
    // Every case at once: each is a dry run, nothing is stored.
    await Promise.all(
      cases.map(async (c) => answers.set(c.name, await admin!.request('POST', `${collection(c.object)}?dryRun=All&fieldValidation=Strict`, c.object))),
    );
  });

  after(async () => {
    await apiserver?.stop?.();
  });

  const needApiserver = (t: { skip: (why: string) => void }): boolean => {
    if (admin !== undefined) return true;
    if (ci) assert.fail(`CI=true and there is no kube-apiserver: ${apiserver.reason}`);
    t.skip(apiserver.reason);
    return false;
  };

  it('covers every kind with valid and invalid objects', () => {
    for (const kind of Object.keys(KINDS)) {
      assert.ok(cases.some((c) => c.object['kind'] === kind && c.expect === 'valid'), `no valid ${kind}`);
      assert.ok(cases.some((c) => c.object['kind'] === kind && c.expect === 'invalid'), `no invalid ${kind}`);
    }
  });

  for (const c of buildCases(ns)) {
    it(`${c.expect}: ${c.name}`, (t) => {
      if (!needApiserver(t)) return;
      const problem = modelProblem(c.object);
      const answer = answers.get(c.name)!;
      const refused = answer.status === 400 || answer.status === 422;
      if (!refused) assert.equal(answer.status, 201, `unexpected answer from the API server: HTTP ${answer.status}: ${message(answer)}`);
      check(c, problem, refused, answer);
    });
  }

  it("takes every SMI and OSM object of the repository's examples (deploy/examples)", async (t) => {
    if (!needApiserver(t)) return;
    const examples = path.join(REPO, 'deploy', 'examples');
    const objects: Record<string, unknown>[] = [];
    for (const file of fs.readdirSync(examples, { recursive: true, encoding: 'utf8' }).filter((f) => /\.ya?ml$/.test(f))) {
      for (const doc of parseAllDocuments(fs.readFileSync(path.join(examples, file), 'utf8'))) {
        const o = doc.toJS() as Record<string, unknown> | null;
        if (o !== null && typeof o['kind'] === 'string' && KINDS[o['kind']] !== undefined) objects.push(o);
      }
    }
    assert.ok(objects.length >= 10, `found ${objects.length} SMI and OSM objects in deploy/examples`);
    for (const o of objects) {
      // In this test's namespace (a dry run needs it to exist); the object itself as written.
      const object = { ...o, metadata: { ...(o['metadata'] as Record<string, unknown>), namespace: ns } };
      const a = await admin!.request('POST', `${collection(object)}?dryRun=All&fieldValidation=Strict`, object);
      assert.equal(a.status, 201, `${String(o['kind'])} ${JSON.stringify(o['metadata'])}: HTTP ${a.status}: ${message(a)}`);
    }
  });

  it('refuses a bad TrafficSplit on server-side apply (kubectl apply --server-side), naming the field; takes a good one', async (t) => {
    if (!needApiserver(t)) return;
    const split = (weight: number): Record<string, unknown> => ({
      apiVersion: 'split.smi-spec.io/v1alpha2',
      kind: 'TrafficSplit',
      metadata: { name: 'applied', namespace: ns },
      spec: { service: 'shop', backends: [{ service: 'shop-v1', weight }] },
    });
    const at = `/apis/split.smi-spec.io/v1alpha2/namespaces/${ns}/trafficsplits/applied?fieldManager=kubectl&fieldValidation=Strict`;
    const bad = await admin!.request('PATCH', at, split(-5), 'application/apply-patch+yaml');
    assert.equal(bad.status, 422, message(bad));
    assert.match(message(bad), /spec\.backends\[0\]\.weight: Invalid value: -5: spec\.backends\[0\]\.weight in body should be greater than or equal to 0/);
    const good = await admin!.request('PATCH', at, split(100), 'application/apply-patch+yaml');
    assert.equal(good.status, 201, message(good));
  });
});

function check(c: CrdCase, problem: string | null, refused: boolean, answer: Answer): void {
  const said = `model: ${problem ?? 'accepted'}; API server: HTTP ${answer.status} ${refused ? message(answer) : ''}`;
  switch (c.expect) {
    case 'valid':
      assert.equal(problem, null, said);
      assert.equal(refused, false, said);
      break;
    case 'invalid': {
      assert.notEqual(problem, null, `the model accepts it; ${said}`);
      assert.equal(refused, true, `the API server accepts it; ${said}`);
      // The API server names the field the model names (or the one the case gives, for list-level rules).
      const field = c.field ?? problem!.slice(0, problem!.indexOf(': '));
      assert.ok(message(answer).includes(field), `the API server's message does not name ${field}; ${said}`);
      break;
    }
    case 'weftOnly':
      assert.notEqual(problem, null, `the model accepts it; ${said}`);
      assert.equal(refused, false, `the API server refuses it now: make it an invalid case and drop it from the CRD's list of rules only Weft checks; ${said}`);
      break;
    case 'schemaOnly':
      assert.equal(problem, null, said);
      assert.equal(refused, true, said);
      if (c.field !== undefined) assert.ok(message(answer).includes(c.field), `the API server's message does not name ${c.field}; ${said}`);
      break;
  }
}
