import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HELP, UsageError, WARMUP, parseArgs } from './run.js';

test('--help documents every option parseArgs accepts', () => {
  let listed = '';
  try {
    parseArgs(['--bogus', '1']);
  } catch (err) {
    assert.ok(err instanceof UsageError);
    listed = err.message.split('options: ')[1] ?? '';
  }
  const options = listed.split(' ').filter((o) => o.startsWith('--'));
  assert.ok(options.length > 10, `options listed: ${listed}`);
  for (const o of options) assert.match(HELP, new RegExp(`${o}\\b`), `--help does not mention ${o}`);
});

test('--warmup defaults to WARMUP and takes 0', () => {
  assert.equal(parseArgs([]).warmup, WARMUP);
  assert.equal(parseArgs(['--warmup', '0']).warmup, 0);
  assert.throws(() => parseArgs(['--warmup', '-1']), /--warmup must be an integer >= 0/);
});
