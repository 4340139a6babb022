import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseManifests } from './parse.js';

const account = (name: string): string => `apiVersion: v1
kind: ServiceAccount
metadata: { name: ${name}, namespace: shop }
`;

describe('parseManifests on hostile input', () => {
  it('rejects the document whose aliases would expand without bound, and loads the others', () => {
    const bomb = [
      'apiVersion: v1',
      'kind: ServiceAccount',
      'metadata: { name: lol, namespace: shop }',
      'x:',
      '  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]',
      ...Array.from({ length: 8 }, (_, i) => `  a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(', ')}]`),
    ].join('\n');
    const r = parseManifests(`${account('a')}---\n${bomb}\n---\n${account('b')}`, 'f.yaml');
    assert.deepEqual(
      r.resources.map((x) => x.key),
      ['shop/a', 'shop/b'],
    );
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0]!.message, /^f\.yaml document 1 \(ServiceAccount shop\/lol\): cannot be expanded: Excessive alias count/);
    // What the document declared is read from its syntax tree, so a source keeps that resource's last good version.
    assert.equal(r.errors[0]!.resourceName, 'lol');
  });

  it('still takes aliases within the bound', () => {
    const r = parseManifests(
      'apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: shop, labels: &l { app: web } }\n' +
        'spec: { selector: *l, ports: [{ port: 80 }] }\n',
      'f.yaml',
    );
    assert.deepEqual(r.errors, []);
    assert.equal(r.resources.length, 1);
  });

  it('reports the first ten YAML syntax errors of a document and counts the rest', () => {
    const r = parseManifests(']'.repeat(25), 'junk.yaml');
    assert.equal(r.errors.length, 11);
    assert.match(r.errors[0]!.message, /^junk\.yaml document 0: YAML syntax error at line 1, column 1: /);
    assert.equal(r.errors[10]!.message, 'junk.yaml document 0: 15 more YAML syntax errors; fix the ones above first');
  });
});
