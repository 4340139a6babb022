/**
 * prometheus.io/scrape is read as OSM reads it (Go's strconv.ParseBool, parse errors meaning off), both as a
 * pure parse and through a proxy's listeners.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { TypeUrl } from '@weft/core';
import { isPrometheusScrapeEnabled, parseGoBool } from './annotations.js';
import { TESTDATA, loadMesh, proxyResources } from './harness.js';
import { PROMETHEUS_LISTENER } from './names.js';

const TRUE = ['1', 't', 'T', 'TRUE', 'true', 'True'];
const FALSE = ['0', 'f', 'F', 'FALSE', 'false', 'False'];
const NEITHER = ['', 'yes', 'on', 'tRUE', 'TRue', ' true', 'true ', '2', 'enabled'];

describe('prometheus.io/scrape', () => {
  it("parses booleans exactly as Go's strconv.ParseBool", () => {
    for (const v of TRUE) assert.equal(parseGoBool(v), true, v);
    for (const v of FALSE) assert.equal(parseGoBool(v), false, v);
    for (const v of NEITHER) assert.equal(parseGoBool(v), undefined, JSON.stringify(v));
  });

  it('is on for every true spelling and off otherwise, absent included', () => {
    for (const v of TRUE) assert.equal(isPrometheusScrapeEnabled({ 'prometheus.io/scrape': v }), true, v);
    for (const v of [...FALSE, ...NEITHER]) assert.equal(isPrometheusScrapeEnabled({ 'prometheus.io/scrape': v }), false, JSON.stringify(v));
    assert.equal(isPrometheusScrapeEnabled({}), false);
  });

  it('gives a sidecar the Prometheus listener for any spelling ParseBool reads as true', () => {
    const input = fs.readFileSync(path.join(TESTDATA, 'prometheus-scrape', 'input.yaml'), 'utf8');
    const line = /^( +)prometheus\.io\/scrape: "true"$/m;
    assert.match(input, line);
    for (const [v, expected] of [...TRUE.map((t) => [t, true] as const), ...['False', '0', 'yes'].map((f) => [f, false] as const)]) {
      const mesh = loadMesh(input.replace(line, `$1prometheus.io/scrape: "${v}"`), `scrape-${v}.yaml`);
      const proxy = mesh.proxies.find((p) => p.serviceAccount === 'bookstore')!;
      const listeners = (proxyResources(mesh, proxy).get(TypeUrl.Listener) ?? []).map((r) => r.name);
      assert.equal(listeners.includes(PROMETHEUS_LISTENER), expected, `prometheus.io/scrape: "${v}" -> ${listeners.join(', ')}`);
    }
  });
});
