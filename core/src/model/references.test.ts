import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseManifests } from './parse.js';
import { danglingReferences, unselectedServices } from './references.js';
import type { NormalizedResource } from './validate.js';

function load(text: string): NormalizedResource[] {
  const r = parseManifests(text, 'f.yaml');
  assert.deepEqual(r.errors, []);
  return r.resources;
}

const service = (ns: string, name: string): string =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${ns}}\n---\n`;
const group = (ns: string, name: string): string =>
  `apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  matches: [{name: all, pathRegex: ".*"}]\n---\n`;
const SPLIT = `apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: s, namespace: shop}
spec:
  service: web.shop.svc.cluster.local
  backends: [{service: web-v1, weight: 1}, {service: web-v2, weight: 0}, {service: web-v3, weight: 3}]
  matches: [{kind: HTTPRouteGroup, name: canary}, {kind: HTTPRouteGroup, name: beta}]
`;

test('every reference of a TrafficSplit to a resource not in the set, with its field path', () => {
  // web-v2 and the beta group exist only in another namespace, which does not count.
  const resources = load(service('shop', 'web-v1') + service('other', 'web-v2') + group('shop', 'canary') + group('other', 'beta') + SPLIT);
  assert.deepEqual(
    danglingReferences(resources).map((d) => [d.path, `${d.missing.kind} ${d.missing.key}`]),
    [
      ['spec.service', 'Service shop/web'],
      ['spec.backends[1].service', 'Service shop/web-v2'],
      ['spec.backends[2].service', 'Service shop/web-v3'],
      ['spec.matches[1].name', 'HTTPRouteGroup shop/beta'],
    ],
  );
  const [apex, , v3, beta] = danglingReferences(resources);
  assert.deepEqual([apex!.kind, apex!.key], ['TrafficSplit', 'shop/s']);
  assert.equal(apex!.message, 'TrafficSplit shop/s: spec.service: Service shop/web is not defined, so the split applies to no traffic until it is');
  assert.equal(v3!.rule, 'Service shop/web-v3 is not defined, so the split leaves it out (weight 3) until it is');
  assert.equal(beta!.rule, 'HTTPRouteGroup shop/beta is not defined, so no request is split by it until it is');
});

test('no warning when everything a TrafficSplit names is defined; order of the set does not matter', () => {
  const resources = load(`${SPLIT}---\n` + group('shop', 'canary') + group('shop', 'beta') + ['web', 'web-v1', 'web-v2', 'web-v3'].map((n) => service('shop', n)).join(''));
  assert.deepEqual(danglingReferences(resources), []);
});

test('the bookstore example has no dangling references', () => {
  const dir = resolve(__dirname, '../../../deploy/examples/bookstore');
  const resources = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseManifests(readFileSync(join(dir, f), 'utf8'), f).resources);
  assert.ok(resources.some((r) => r.kind === 'TrafficSplit'));
  assert.deepEqual(danglingReferences(resources), []);
});

const pod = (ns: string, name: string, labels: string, status = 'status: {podIP: 10.0.0.1}'): string =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${ns}, labels: {${labels}}}\nspec:\n  containers: [{name: app, image: app}]\n${status}\n---\n`;
const selecting = (ns: string, name: string, selector: string): string =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  selector: {${selector}}\n  ports: [{name: http, port: 80}]\n---\n`;
const endpoints = (ns: string, name: string): string =>
  `apiVersion: v1\nkind: Endpoints\nmetadata: {name: ${name}, namespace: ${ns}}\nsubsets: [{addresses: [{ip: 10.0.0.9}], ports: [{name: http, port: 80}]}]\n---\n`;

test('a Service whose selector matches no Pod, or no ready Pod with an IP, and that has no Endpoints is a warning', () => {
  const resources = load(
    selecting('shop', 'web', 'app: web') +
      // A pod of another namespace, or missing one label of the selector, is not selected.
      pod('other', 'web-0', 'app: web') +
      pod('shop', 'web-1', 'app: webby') +
      selecting('shop', 'api', 'app: api, tier: back') +
      pod('shop', 'api-0', 'app: api') +
      selecting('shop', 'db', 'app: db') +
      pod('shop', 'db-0', 'app: db', 'status: {podIP: 10.0.0.2, conditions: [{type: Ready, status: "False"}]}') +
      pod('shop', 'db-1', 'app: db', 'status: {phase: Pending}') +
      // Fine: a ready pod; Endpoints given by hand; no selector (endpoints managed by hand).
      selecting('shop', 'ok', 'app: ok') +
      pod('shop', 'ok-0', 'app: ok') +
      selecting('shop', 'manual', 'app: manual') +
      endpoints('shop', 'manual') +
      service('shop', 'plain'),
  );
  const warnings = unselectedServices(resources);
  assert.deepEqual(
    warnings.map((w) => w.message),
    [
      'Service shop/web: spec.selector: Service shop/web selects no Pod (app=web), so it has no endpoints until one is defined',
      'Service shop/api: spec.selector: Service shop/api selects no Pod (app=api, tier=back), so it has no endpoints until one is defined',
      'Service shop/db: spec.selector: Service shop/db selects no ready Pod with an IP (shop/db-0 is not ready, shop/db-1 has no status.podIP), so it has no endpoints until one is',
    ],
  );
  assert.deepEqual([warnings[0]!.kind, warnings[0]!.key, warnings[0]!.path], ['Service', 'shop/web', 'spec.selector']);
});

test('the bookstore example: every Service selects a Pod', () => {
  const dir = resolve(__dirname, '../../../deploy/examples/bookstore');
  const resources = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseManifests(readFileSync(join(dir, f), 'utf8'), f).resources);
  assert.deepEqual(unselectedServices(resources), []);
});
