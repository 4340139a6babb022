/** `weft validate` warns about a Service whose selector matches no Pod that could be an endpoint (and still exits 0). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { validatePaths } from './validate.js';

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
`;

const pod = (labels: string): string => `apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {${labels}}}
spec:
  containers: [{name: app, image: web, ports: [{containerPort: 8080}]}]
status: {podIP: 10.0.0.1}
`;

function validate(files: Record<string, string>): { text: string; ok: boolean } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-validate-'));
  try {
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
    return validatePaths(['.'], dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a Service that selects no Pod (and has no Endpoints) is a warning naming its selector', () => {
  const { text, ok } = validate({ 'web.yaml': SERVICE, 'pod.yaml': pod('app: webby') });
  assert.equal(ok, true, 'a warning, not an error');
  assert.deepEqual(text.trimEnd().split('\n'), [
    'warning: web.yaml (Service shop/web): spec.selector: Service shop/web selects no Pod (app=web), so it has no endpoints until one is defined',
    '2 file(s), 2 valid resource(s) (Service 1, Workload 1), 0 ignored document(s), 0 error(s), 1 warning(s)',
  ]);
});

test('a Service selecting a ready Pod with an IP gives no warning: its endpoints are derived from the Pod', () => {
  const { text } = validate({ 'web.yaml': SERVICE, 'pod.yaml': pod('app: web') });
  assert.equal(text, '2 file(s), 2 valid resource(s) (Service 1, Workload 1), 0 ignored document(s), 0 error(s)\n');
});
