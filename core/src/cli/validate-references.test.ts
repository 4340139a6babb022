/** `weft validate` warns about references to resources the manifests do not define (and still exits 0). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { validatePaths } from './validate.js';

// No selector: a selector matching no Pod would be warned about too (validate-selectors.test.ts).
const service = (name: string): string => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec:
  ports: [{name: http, port: 80}]
`;

const SPLIT = `apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: web-split, namespace: shop}
spec:
  service: web.shop.svc.cluster.local
  backends:
    - {service: web-v1, weight: 90}
    - {service: web-v2, weight: 10}
`;

function folder(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-validate-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

test('a TrafficSplit whose root or backend services are not defined is a warning naming the field', () => {
  const dir = folder({ 'split.yaml': SPLIT, 'services.yaml': service('web-v1') });
  try {
    const { text, ok } = validatePaths(['.'], dir);
    assert.equal(ok, true, 'a dangling reference is a warning, not an error');
    assert.deepEqual(text.trimEnd().split('\n'), [
      'warning: split.yaml (TrafficSplit shop/web-split): spec.service: Service shop/web is not defined, so the split applies to no traffic until it is',
      'warning: split.yaml (TrafficSplit shop/web-split): spec.backends[1].service: Service shop/web-v2 is not defined, so the split leaves it out (weight 10) until it is',
      '2 file(s), 2 valid resource(s) (Service 1, TrafficSplit 1), 0 ignored document(s), 0 error(s), 2 warning(s)',
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a TrafficSplit whose services are all defined, in whichever file, gives no warning', () => {
  const dir = folder({ 'split.yaml': SPLIT, 'services.yaml': [service('web'), service('web-v1'), service('web-v2')].join('---\n') });
  try {
    const { text, ok } = validatePaths(['.'], dir);
    assert.equal(ok, true);
    assert.equal(text, '2 file(s), 4 valid resource(s) (Service 3, TrafficSplit 1), 0 ignored document(s), 0 error(s)\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
