import assert from 'node:assert/strict';
import type * as fs from 'node:fs';
import * as os from 'node:os';
import { afterEach, describe, it } from 'node:test';
import { silentLogger } from '@weft/core';
import { Harness, until } from './harness.js';
import { plugin } from './index.js';

const svc = (name: string, port: number, ns = 'shop'): string => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${ns} }
spec:
  selector: { app: ${name} }
  ports: [{ name: http, port: ${port} }]
`;
const sa = (name: string, ns = 'shop'): string => `apiVersion: v1
kind: ServiceAccount
metadata: { name: ${name}, namespace: ${ns} }
`;

describe('files source', () => {
  let h: Harness;
  afterEach(async () => h.close());

  it('appends the initial folder as one batch, then edits, additions and deletions as they happen', async () => {
    h = await new Harness().open();
    h.write('a.yaml', `${svc('web', 80)}---\n${sa('web')}`);
    h.write('nested/b.yml', svc('api', 8080));
    h.write('README.md', 'not a manifest');
    await h.start();
    assert.equal(h.batches.length, 1, 'the initial load is one batch');
    assert.deepEqual(
      h.batches[0]!.events.map((e) => `${e.op} ${e.kind} ${e.key}`),
      ['upsert Service shop/api', 'upsert Service shop/web', 'upsert ServiceAccount shop/web'],
    );
    assert.equal(h.batches[0]!.events[0]!.source, 'files');

    h.write('nested/b.yml', svc('api', 8081));
    await until('the edit', () => h.port('api') === 8081);
    assert.equal(h.batches.length, 2);
    assert.deepEqual(
      h.batches[1]!.events.map((e) => `${e.op} ${e.kind} ${e.key}`),
      ['upsert Service shop/api'],
      'only the changed resource is appended',
    );

    h.write('c.json', JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'c', namespace: 'shop' } }));
    await until('the new file', () => h.catalog.get('ServiceAccount', 'shop/c') !== undefined);

    h.remove('a.yaml');
    await until('the deletion', () => h.port('web') === undefined);
    const last = h.batches[h.batches.length - 1]!;
    assert.deepEqual(
      last.events.map((e) => `${e.op} ${e.kind} ${e.key}`),
      ['delete Service shop/web', 'delete ServiceAccount shop/web'],
    );
    assert.deepEqual(h.errors(), []);
  });

  it('deletes a resource whose document disappears from a file that stays', async () => {
    h = await new Harness().open();
    h.write('a.yaml', `${svc('web', 80)}---\n${svc('db', 5432)}`);
    await h.start();
    h.write('a.yaml', svc('web', 80));
    await until('the deletion', () => h.port('db') === undefined);
    assert.equal(h.port('web'), 80);
    assert.deepEqual(
      h.batches[h.batches.length - 1]!.events.map((e) => `${e.op} ${e.key}`),
      ['delete shop/db'],
    );
  });

  it('rejects an invalid document, keeps its last good version and the rest, and takes the fix', async () => {
    h = await new Harness().open();
    h.write('a.yaml', `${svc('web', 80)}---\n${svc('db', 5432)}`);
    h.write('b.yaml', svc('api', 8080));
    await h.start();

    // db breaks while web changes in the same file: web's change applies, db keeps its last good version.
    h.write('a.yaml', `${svc('web', 81)}---\n${svc('db', -1)}`);
    await until('the valid half of the edit', () => h.port('web') === 81);
    assert.equal(h.port('db'), 5432, 'the broken document keeps its last good version');
    assert.equal(h.port('api'), 8080, 'other files are untouched');
    const errors = h.errors();
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /invalid manifest rejected a\.yaml document 1 \(Service shop\/db\): spec\.ports\[0\]\.port: must be a port number/);

    h.write('a.yaml', `${svc('web', 81)}---\n${svc('db', 5433)}`);
    await until('the fix', () => h.port('db') === 5433);
  });

  it('keeps every resource of a file that no longer parses as YAML', async () => {
    h = await new Harness().open();
    h.write('a.yaml', `${svc('web', 80)}---\n${sa('web')}`);
    await h.start();
    const before = h.batches.length;
    h.write('a.yaml', `${svc('web', 80)}---\nmetadata: [unclosed\n`);
    await until('the error', () => h.errors().length > 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(h.batches.length, before, 'nothing is appended for a file that does not parse');
    assert.ok(h.catalog.get('ServiceAccount', 'shop/web') !== undefined);
    assert.match(h.errors()[0]!, /YAML syntax error/);
  });

  it('names both files when a resource is defined twice, keeps the first and hands over when it goes', async () => {
    h = await new Harness().open();
    h.write('a.yaml', svc('web', 80));
    h.write('b.yaml', svc('web', 90));
    await h.start();
    assert.equal(h.port('web'), 80);
    const conflict = h.logger.records.find((r) => r.level === 'error' && /defined in both/.test(r.msg));
    assert.ok(conflict !== undefined, 'the conflict is reported');
    assert.equal(conflict.msg, 'Service/shop/web is defined in both a.yaml and b.yaml; keeping a.yaml, remove one of them');

    h.remove('a.yaml');
    await until('b.yaml to take over', () => h.port('web') === 90);
  });

  it('appends nothing on a restart over unchanged files, and only the difference after edits made while down', async () => {
    h = await new Harness().open();
    h.write('a.yaml', `${svc('web', 80)}---\n${svc('db', 5432)}`);
    await h.start();
    await h.stopAll();
    const head = h.log.head();

    await h.start();
    assert.equal(h.log.head(), head, 'a restart with unchanged files appends nothing');
    await h.stopAll();

    h.write('a.yaml', svc('web', 81));
    await h.start();
    assert.deepEqual(
      h.batches[h.batches.length - 1]!.events.map((e) => `${e.op} ${e.key}`),
      ['upsert shop/web', 'delete shop/db'].sort(),
    );
    assert.equal(h.port('web'), 81);
  });

  it('runs again when started after a stop (a replica that is the log writer again), with the worker parser', async () => {
    h = await new Harness().open();
    h.write('a.yaml', svc('web', 80));
    const source = await h.startPlugin();
    await h.stopAll();
    // Made while stopped: the next start reconciles them; made after it: the watch sees them.
    h.write('b.yaml', svc('api', 8080));
    await h.startAgain(source);
    assert.equal(h.port('api'), 8080, 'the start after a stop appends what changed meanwhile');
    h.write('a.yaml', svc('web', 81));
    await until('an edit after the second start', () => h.port('web') === 81);
    assert.deepEqual(h.errors(), []);
  });

  it('picks up changes through the periodic rescan when no watch event arrives', async () => {
    h = await new Harness().open();
    h.write('a.yaml', svc('web', 80));
    const source = await h.start({ rescanMs: 50 });
    // Stop the watcher so only the rescan can see the edit.
    (source as unknown as { watcher?: fs.FSWatcher }).watcher?.close();
    h.write('a.yaml', svc('web', 82));
    await until('the rescan', () => h.port('web') === 82);
  });
});

describe('files plugin config', () => {
  it('fills defaults and rejects bad fields with their path', () => {
    assert.deepEqual(plugin.validateConfig!({ dir: 'm' }), {
      dir: 'm',
      debounceMs: 100,
      rescanMs: 2000,
      name: 'files',
      maxFileBytes: 16 * 1024 * 1024,
      maxObjects: 100_000,
      parseTimeoutMs: 120_000,
    });
    assert.throws(() => plugin.validateConfig!({}), /^Error: dir: must name the folder|dir: must name the folder/);
    assert.throws(() => plugin.validateConfig!({ dir: 'm', debounceMs: -1 }), /debounceMs: must be an integer from 0/);
    assert.throws(() => plugin.validateConfig!({ dir: 'm', watch: true }), /watch: unknown field/);
    assert.throws(() => plugin.validateConfig!({ dir: 'm', maxFileBytes: 10 }), /maxFileBytes: must be an integer from 1024 to 1073741824 \(got 10\)/);
    assert.throws(() => plugin.validateConfig!({ dir: 'm', maxObjects: 0 }), /maxObjects: must be an integer from 1 to 10000000/);
    assert.equal(plugin.validateConfig!({ dir: 'm', maxFileBytes: 65536, maxObjects: 5 }).maxFileBytes, 65536);
  });

  it('refuses a folder that does not exist when registering', () => {
    assert.throws(
      () =>
        plugin.register(
          { register: () => undefined } as never,
          { dir: 'missing', debounceMs: 1, rescanMs: 0, name: 'files', maxFileBytes: 1024, maxObjects: 1, parseTimeoutMs: 100 },
          { logger: silentLogger, dataDir: os.tmpdir(), configDir: os.tmpdir(), trustDomain: 'cluster.local' },
        ),
      /dir: .*missing is not a directory/,
    );
  });
});
