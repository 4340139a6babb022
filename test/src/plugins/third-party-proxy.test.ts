import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { captureLogger, PluginLoadError, TypeUrl } from '@weft/core';
import { loadConfigFile, startWeft, type RunningWeft } from '@weft/core/testing';
import { DeltaClient, SotwClient } from '../support/delta-client.js';
import { assertProxiesLoad, heldResources, holdEverything } from '../support/load-check.js';

/**
 * A third-party proxy plugin (test/fixtures/third-party-plugin, depending on @weft/core only) loaded by
 * path from a weft.yaml, next to the gRPC adapter loaded by package name, both serving the same mesh
 * policy (deploy/examples/grpc-bookstore) to proxies of their kinds.
 */
const REPO = path.resolve(__dirname, '..', '..', '..');
const FIXTURE = path.join(REPO, 'test', 'fixtures', 'third-party-plugin');
const EXAMPLE = path.join(REPO, 'deploy', 'examples', 'grpc-bookstore');

function weftYaml(dir: string, toyConfig: string, grpcConfig = 'mtls: false'): string {
  const file = path.join(dir, 'weft.yaml');
  fs.writeFileSync(
    file,
    `log: "memory:"
xds: { host: 127.0.0.1, port: 0, insecure: true, coalesceMs: 0 }
debug: { enabled: false }
metrics: { enabled: false }
plugins:
  - name: "@weft/plugin-files"
    config: { dir: ${JSON.stringify(EXAMPLE)} }
  - name: "@weft/plugin-grpc"
    config: { ${grpcConfig} }
  - path: ${JSON.stringify(path.relative(dir, FIXTURE))}
    config: { ${toyConfig} }
`,
  );
  return file;
}

function node(id: string, kind: string, namespace: string, serviceAccount: string): { id: string; metadata: Record<string, string> } {
  return { id, metadata: { kind, namespace, serviceAccount } };
}

describe('a third-party proxy plugin loaded by path', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-third-party-'));
  let weft: RunningWeft | undefined;
  const clients: SotwClient[] = [];
  after(async () => {
    for (const c of clients) c.close();
    await weft?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves its proxy kind from the same policy as the gRPC adapter', async () => {
    const logger = captureLogger('info');
    weft = await startWeft(loadConfigFile(weftYaml(dir, 'clusterPrefix: "toy:"'), {}, dir), { logger });
    assert.deepEqual(weft.plugins.map((p) => p.name).slice(1), ['grpc', 'toy-proxy']);
    assert.deepEqual(weft.adapters.map((a) => a.kind).sort(), ['grpc', 'toy']);
    assert.equal(weft.plugins[2]?.file, path.join(FIXTURE, 'index.js'), 'loaded from the path in weft.yaml');
    const address = `127.0.0.1:${weft.xdsAddress.port}`;

    const cds = async (n: ReturnType<typeof node>): Promise<string[]> => {
      const c = new SotwClient(address, n);
      clients.push(c);
      c.request({ typeUrl: TypeUrl.Cluster });
      return (await c.next(5000)).resources.map((r) => r.name).sort();
    };
    // bookbuyer may call bookstore (TrafficTarget): the services of the bookstore identity.
    assert.deepEqual(await cds(node('toy-buyer', 'toy', 'bookbuyer', 'bookbuyer')), ['toy:bookstore/bookstore', 'toy:bookstore/bookstore-v1', 'toy:bookstore/bookstore-v2']);
    // bookstore may call nothing.
    assert.deepEqual(await cds(node('toy-store', 'toy', 'bookstore', 'bookstore')), []);
    // The gRPC adapter, same mesh: bookbuyer's channel to xds:///bookstore.bookstore resolves.
    const grpcClient = new SotwClient(address, node('grpc-buyer', 'grpc', 'bookbuyer', 'bookbuyer'));
    clients.push(grpcClient);
    grpcClient.request({ typeUrl: TypeUrl.Listener, resourceNames: ['bookstore.bookstore'] });
    const lds = await grpcClient.next(5000);
    assert.deepEqual(lds.resources.map((r) => r.name), ['bookstore.bookstore']);
    // Everything the gRPC adapter serves bookbuyer, as one configuration, passes Envoy's load-time rules:
    // a proxyless client reads the same fields (test/envoy-validate/README.md, random meshes).
    const everything = new DeltaClient(address, node('grpc-buyer-all', 'grpc', 'bookbuyer', 'bookbuyer'));
    try {
      const held = await holdEverything(everything, [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration]);
      assert.ok(held.get(TypeUrl.Listener)?.has('bookstore.bookstore'), 'the wildcard holds the listener asked for by name above');
      assertProxiesLoad([{ proxy: 'third-party-proxy/grpc/bookbuyer', resources: heldResources(held) }]);
    } finally {
      everything.close();
    }
    assert.ok(logger.records.some((r) => r.msg === 'toy proxy adapter registered' && r.plugin === 'toy-proxy'));
  });

  it('a bad config section of either plugin names the plugin and the config path, and nothing starts', async () => {
    for (const [toy, grpcCfg, where] of [
      ['clusterPrefix: "BAD PREFIX"', 'mtls: false', /plugins\[2\]\.config\.clusterPrefix: .*\(plugin toy-proxy\)/],
      ['clusterPrefix: "toy:"', 'refreshInterval: soon', /plugins\[1\]\.config\.refreshInterval: must be a duration in seconds .*\(plugin grpc\)/],
    ] as const) {
      const logger = captureLogger('info');
      const err = await startWeft(loadConfigFile(weftYaml(dir, toy, grpcCfg), {}, dir), { logger }).then(
        () => assert.fail('Weft started on a bad plugin config'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof PluginLoadError, String(err));
      assert.match(err.message, where);
      assert.ok(!logger.records.some((r) => r.msg === 'xds server listening' || r.msg === 'source started'), 'nothing listened or watched');
    }
  });
});
