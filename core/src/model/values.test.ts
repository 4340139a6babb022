import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCidr, isDnsLabel, labelValueProblem, parseDuration, qualifiedNameProblem } from './values.js';

test('parseDuration reads Go duration syntax into milliseconds', () => {
  const table: [string, number | null][] = [
    ['0', 0],
    ['1s', 1000],
    ['500ms', 500],
    ['24h', 86_400_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['0.1s', 100],
    ['.5s', 500],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['1000000ns', 1],
    ['+2m', 120_000],
    ['2h45m30.5s', 9_930_500],
    ['', null],
    ['1', null],
    ['s', null],
    ['-1s', null],
    ['1 s', null],
    ['1d', null],
    ['1s ', null],
    ['1.s', 1000],
  ];
  for (const [text, ms] of table) assert.equal(parseDuration(text), ms, text);
});

test('isCidr follows net.ParseCIDR', () => {
  assert.equal(isCidr('10.0.0.0/8'), true);
  assert.equal(isCidr('10.0.0.1/8'), true); // host bits set are allowed
  assert.equal(isCidr('0.0.0.0/0'), true);
  assert.equal(isCidr('2001:db8::/32'), true);
  assert.equal(isCidr('::/0'), true);
  assert.equal(isCidr('10.0.0.0'), false);
  assert.equal(isCidr('10.0.0.0/33'), false);
  assert.equal(isCidr('2001:db8::/129'), false);
  assert.equal(isCidr('10.0.0/8'), false);
  assert.equal(isCidr('10.0.0.0/'), false);
  assert.equal(isCidr('10.0.0.0/-1'), false);
  assert.equal(isCidr('host/8'), false);
});

test('isDnsLabel', () => {
  assert.equal(isDnsLabel('bookstore-v1'), true);
  assert.equal(isDnsLabel('a'.repeat(63)), true);
  assert.equal(isDnsLabel('a'.repeat(64)), false);
  assert.equal(isDnsLabel('-a'), false);
  assert.equal(isDnsLabel('A'), false);
  assert.equal(isDnsLabel('a.b'), false);
});

test('qualifiedNameProblem applies Kubernetes\' label-key rule and says what is wrong', () => {
  const table: [string, string | null][] = [
    ['app', null],
    ['a', null],
    ['App.Name_1-x', null],
    ['example.com/app', null],
    ['openservicemesh.io/monitored-by', null],
    ['kubernetes.io/Name', null],
    [`${'p'.repeat(253)}/x`, null],
    ['n'.repeat(63), null],
    ['', 'its name part is empty'],
    ['example.com/', 'its name part is empty'],
    ['/app', 'its prefix is empty'],
    ['a/b/c', 'it has more than one "/"'],
    ['Example.com/app', 'its prefix "Example.com" is not a lower-case DNS subdomain'],
    ['ex_ample.com/app', 'its prefix "ex_ample.com" is not a lower-case DNS subdomain'],
    [`${'p'.repeat(254)}/x`, 'its prefix is 254 characters long'],
    ['n'.repeat(64), 'its name part is 64 characters long'],
    ['bad key!', 'its name part has characters other than those'],
    ['-app', 'its name part does not begin and end with a letter or digit'],
    ['app.', 'its name part does not begin and end with a letter or digit'],
    ['_', 'its name part does not begin and end with a letter or digit'],
    ['caf\u00e9', 'its name part has characters other than those'],
  ];
  for (const [key, problem] of table) assert.equal(qualifiedNameProblem(key), problem, key);
});

test('labelValueProblem: empty, or at most 63 characters of the qualified-name pattern', () => {
  const table: [string, string | null][] = [
    ['', null],
    ['v1', null],
    ['1.0_rc-2', null],
    ['V'.repeat(63), null],
    ['V'.repeat(64), 'it is 64 characters long'],
    ['v@l ue', 'it has characters other than those'],
    ['a/b', 'it has characters other than those'],
    ['-v1', 'it does not begin and end with a letter or digit'],
  ];
  for (const [value, problem] of table) assert.equal(labelValueProblem(value), problem, value);
});
