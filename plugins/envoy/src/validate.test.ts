/**
 * Every resource of every golden, and a bootstrap, through Envoy's own validation rules (go-control-plane's
 * generated ValidateAll, nested Anys unpacked) in the checker under test/envoy-validate. With CI=true a
 * missing checker is a failure; elsewhere the test builds it first (needs Go and the module proxy).
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, before } from 'node:test';
import { TypeUrl, encodeAnyBytes, packAny } from '@weft/core';
import { envoyType } from '@weft/core';
import { EnvoyAdapter } from './adapter.js';
import { caseDirs, loadCase, proxyResources } from './harness.js';

const CHECKER_DIR = path.resolve(__dirname, '..', '..', '..', 'test', 'envoy-validate');
const CHECKER = path.join(CHECKER_DIR, 'bin', 'envoy-validate');

interface Line {
  readonly typeUrl: string;
  readonly name: string;
  readonly any?: string;
  readonly json?: unknown;
}

function runChecker(lines: readonly Line[]): { status: number | null; out: string } {
  const input = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
  const res = spawnSync(CHECKER, [], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (res.error !== undefined) throw res.error;
  return { status: res.status, out: res.stdout + res.stderr };
}

describe('Envoy validation (go-control-plane)', () => {
  before(() => {
    if (fs.existsSync(CHECKER)) return;
    if (process.env.CI === 'true') {
      assert.fail(`${CHECKER} is missing: CI must run test/envoy-validate/build.sh before the tests`);
    }
    const build = spawnSync(path.join(CHECKER_DIR, 'build.sh'), [], { encoding: 'utf8' });
    assert.equal(build.status, 0, `building the checker failed (needs Go and the Go module proxy):\n${build.stdout}${build.stderr}`);
  });

  it('accepts every resource of every golden case', () => {
    const lines: Line[] = [];
    const seen = new Set<string>();
    for (const name of caseDirs()) {
      const mesh = loadCase(name);
      for (const proxy of mesh.proxies) {
        for (const list of proxyResources(mesh, proxy).values()) {
          for (const r of list) {
            const any = Buffer.from(r.any).toString('base64');
            if (seen.has(any)) continue;
            seen.add(any);
            lines.push({ typeUrl: r.typeUrl, name: `${name}: ${r.name}`, any });
          }
        }
      }
    }
    const types = new Set(lines.map((l) => l.typeUrl));
    for (const t of Object.values(TypeUrl)) assert.ok(types.has(t), `goldens produce no ${t}`);
    const { status, out } = runChecker(lines);
    assert.equal(status, 0, out);
    assert.match(out, new RegExp(`checked ${lines.length} resources: ${lines.length} valid, 0 invalid`));
  });

  it('accepts the bootstrap', () => {
    const bootstrap = new EnvoyAdapter().bootstrap(
      { uuid: '00000000-0000-4000-8000-000000000001', kind: 'envoy', namespace: 'bookbuyer', serviceAccount: 'bookbuyer', trustDomain: 'cluster.local' },
      { host: 'weft.weft-system.svc.cluster.local', port: 15128, tls: { certFile: '/etc/weft/tls.crt', keyFile: '/etc/weft/tls.key', caFile: '/etc/weft/ca.crt' } },
    );
    const { status, out } = runChecker([{ typeUrl: 'type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap', name: 'bootstrap', json: bootstrap }]);
    assert.equal(status, 0, out);
  });

  it('rejects invalid resources (the checker can fail)', () => {
    const cluster = envoyType(TypeUrl.Cluster);
    const bad = cluster.encode(cluster.fromObject({ name: '', connectTimeout: { seconds: -1 } })).finish();
    // A valid Listener carrying an HCM without stat_prefix: the error is only visible inside the nested Any.
    const hcmUrl = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
    const hcm = envoyType(hcmUrl);
    const listener = envoyType(TypeUrl.Listener);
    const nestedBad = listener
      .encode(
        listener.fromObject({
          name: 'l',
          address: { socketAddress: { address: '0.0.0.0', portValue: 1 } },
          filterChains: [{ filters: [{ name: 'hcm', typedConfig: packAny(hcmUrl, hcm.fromObject({ rds: { routeConfigName: 'r' } })) }] }],
        }),
      )
      .finish();
    const { status, out } = runChecker([
      { typeUrl: TypeUrl.Cluster, name: 'bad-cluster', any: Buffer.from(encodeAnyBytes(TypeUrl.Cluster, bad)).toString('base64') },
      { typeUrl: TypeUrl.Listener, name: 'nested-bad', any: Buffer.from(encodeAnyBytes(TypeUrl.Listener, nestedBad)).toString('base64') },
    ]);
    assert.equal(status, 1, out);
    assert.match(out, /INVALID Cluster "bad-cluster"[\s\S]*Name: value length must be at least 1/);
    assert.match(out, /ConnectTimeout: value must be greater than 0s/);
    assert.match(out, /INVALID Listener "nested-bad"[\s\S]*HttpConnectionManager/);
    assert.match(out, /checked 2 resources: 0 valid, 2 invalid/);
  });
});
