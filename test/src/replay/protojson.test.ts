import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { captureLogger } from '@weft/core';
import { cliMain as main } from '@weft/core/testing';
import { REPO, runWeft } from '../cli/helpers.js';
import { AckingProxy, settled } from './live-client.js';
import { startExampleWeft } from '../support/example-weft.js';

/**
 * `weft replay --format json` prints an Envoy admin config dump (envoy.admin.v3.ConfigDump) in canonical
 * proto3 JSON: the Go checker under test/protojson-check decodes it with protojson into go-control-plane's
 * ConfigDump (every Any resolved) and prints it again, and the two must be the same JSON. With CI=true a
 * missing checker is a failure; elsewhere the test builds it first (needs Go and the Go module proxy).
 */

const CHECKER_DIR = path.join(REPO, 'test', 'protojson-check');
const CHECKER = path.join(CHECKER_DIR, 'bin', 'protojson-check');

function check(dump: string): { status: number | null; out: string } {
  const res = spawnSync(CHECKER, [], { input: dump, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (res.error !== undefined) throw res.error;
  return { status: res.status, out: res.stdout + res.stderr };
}

type Json = Record<string, unknown>;

describe('weft replay --format json is read by protojson', () => {
  let dir: string;
  let configFile: string;
  let proxies: { uuid: string; namespace: string; serviceAccount: string }[] = [];

  before(async () => {
    if (!fs.existsSync(CHECKER)) {
      if (process.env.CI === 'true') assert.fail(`${CHECKER} is missing: CI must run test/protojson-check/build.sh before the tests`);
      const build = spawnSync(path.join(CHECKER_DIR, 'build.sh'), [], { encoding: 'utf8' });
      assert.equal(build.status, 0, `building the checker failed (needs Go and the Go module proxy):\n${build.stdout}${build.stderr}`);
    }
    // The example mesh on a file log, with the local CA issuing every identity's certificate.
    const started = await startExampleWeft('weft-protojson-');
    dir = started.dir;
    configFile = started.configFile;
    const weft = started.weft;
    try {
      await weft.caughtUp(weft.log.head() - 1);
      proxies = weft.catalog
        .list('Workload')
        .filter((w) => w.proxyUuid !== null)
        .map((w) => ({ uuid: w.proxyUuid!, namespace: w.meta.namespace, serviceAccount: w.serviceAccount }));
      // Certificates are issued when a proxy connects: connect each one so the log holds their issuance.
      const address = `127.0.0.1:${weft.xdsAddress.port}`;
      const connected = proxies.map((p) => new AckingProxy(address, p.uuid, p.namespace, p.serviceAccount));
      try {
        await settled(connected);
      } finally {
        await Promise.all(connected.map((p) => p.close()));
      }
    } finally {
      await weft.close();
    }
    assert.ok(proxies.length >= 5, `the example mesh has proxies (${proxies.length})`);
  });

  after(() => {
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  const replayJson = async (uuid: string): Promise<string> => {
    let stdout = '';
    let stderr = '';
    const code = await main(['replay', '--config', configFile, '--proxy', uuid, '--format', 'json'], {
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      cwd: dir,
      env: {},
      logger: captureLogger(),
    });
    assert.equal(code, 0, stderr);
    return stdout;
  };

  it('the command line prints a dump protojson decodes and prints back the same', async () => {
    const uuid = proxies[0]!.uuid;
    const run = await runWeft(['replay', '--config', configFile, '--proxy', uuid, '--format', 'json']);
    assert.equal(run.code, 0, run.stderr);
    const res = check(run.stdout);
    assert.equal(res.status, 0, res.out);
    assert.match(res.out, /^ok: envoy\.admin\.v3\.ConfigDump with 5 configs/);
  });

  it('for every proxy of the mesh; the shape is Envoy /config_dump; secrets are fingerprints, keys never appear', async () => {
    const counts = { clusters: 0, routes: 0, endpoints: 0 };
    for (const p of proxies) {
      const text = await replayJson(p.uuid);
      const res = check(text);
      assert.equal(res.status, 0, `${p.uuid} (${p.namespace}/${p.serviceAccount}):\n${res.out}`);
      assert.doesNotMatch(text, /-----BEGIN|PRIVATE KEY/, 'no PEM block, no private key');

      const dump = JSON.parse(text) as { configs: Json[] };
      assert.deepEqual(
        dump.configs.map((c) => c['@type']),
        // Envoy's order (it prints endpoints with ?include_eds).
        ['Clusters', 'Endpoints', 'Listeners', 'Routes', 'Secrets'].map((t) => `type.googleapis.com/envoy.admin.v3.${t}ConfigDump`),
      );
      const [clusters, endpoints, listeners, routes, secrets] = dump.configs as [Json, Json, Json, Json, Json];
      const dynamicListeners = listeners['dynamic_listeners'] as Json[];
      assert.ok(dynamicListeners.length > 0);
      for (const l of dynamicListeners) {
        const state = l['active_state'] as Json;
        assert.equal((state['listener'] as Json)['@type'], 'type.googleapis.com/envoy.config.listener.v3.Listener');
        assert.equal((state['listener'] as Json)['name'], l['name']);
        assert.match(String(state['version_info']), /^[0-9a-f]{16}$/);
        assert.match(String(state['last_updated']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      }
      assert.match(String(listeners['version_info']), /^[0-9a-f]{16}$/);
      // Envoy leaves an empty list out, as protojson does.
      counts.clusters += ((clusters['dynamic_active_clusters'] as Json[] | undefined) ?? []).length;
      counts.routes += ((routes['dynamic_route_configs'] as Json[] | undefined) ?? []).length;
      counts.endpoints += ((endpoints['dynamic_endpoint_configs'] as Json[] | undefined) ?? []).length;

      const dynamicSecrets = secrets['dynamic_active_secrets'] as Json[];
      const cert = dynamicSecrets.find((s) => (s['secret'] as Json)['tls_certificate'] !== undefined);
      assert.ok(cert !== undefined, `${p.uuid} holds its service certificate`);
      assert.equal(cert['name'], `service-cert:${p.namespace}/${p.serviceAccount}`);
      const tls = (cert['secret'] as Json)['tls_certificate'] as Json;
      // The key as Envoy's admin redacts it; the certificate as its fingerprint.
      assert.deepEqual(tls['private_key'], { inline_bytes: Buffer.from('[redacted]').toString('base64') });
      assert.match(String((tls['certificate_chain'] as Json)['inline_string']), /^sha256=[0-9a-f]{64} serial=[0-9A-F]+ notAfter=\S+Z$/);
      const roots = dynamicSecrets.find((s) => s['name'] === 'root-cert-for-mtls-inbound');
      assert.match(String((((roots?.['secret'] as Json)['validation_context'] as Json)['trusted_ca'] as Json)['inline_string']), /^sha256=[0-9a-f]{64}$/);
    }
    assert.ok(counts.clusters > proxies.length && counts.routes > 0 && counts.endpoints > 0, JSON.stringify(counts));
  });
});
