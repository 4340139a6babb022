import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  captureLogger,
  proxyCertificateRequest,
  Tokens,
  TypeUrl,
  type CertificateIssuer,
  type IssuedCertificate,
} from '@weft/core';
import { normalizeConfig, startWeft, xdsServerNames, type RunningWeft } from '@weft/core/testing';
import { DeltaClient } from '../support/delta-client.js';
import { applyDelta, assertProxiesLoad, heldResources, type Held } from '../support/load-check.js';
import { leaks } from './key-forms.js';

/** The repository root, from test/dist/certs. */
const EXAMPLE = path.resolve(__dirname, '..', '..', '..', 'deploy', 'examples', 'bookstore');

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return fs.statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

function get(port: number, urlPath: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on('error', reject);
  });
}

/** Proxies of the example mesh (uuids from its pods), one per identity. */
const PROXIES = [
  { uuid: '5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f01', namespace: 'bookbuyer', serviceAccount: 'bookbuyer' },
  { uuid: '5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f03', namespace: 'bookstore', serviceAccount: 'bookstore' },
  { uuid: '5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f06', namespace: 'bookwarehouse', serviceAccount: 'bookwarehouse' },
];

/**
 * A live Weft (files source on the example mesh, local CA, Envoy adapter, file log) with connected Envoy
 * proxies and a root rotation; afterwards no private key it ever handled appears in the event log files,
 * any debug endpoint, /metrics or the structured logs.
 */
describe('no private key in the log, the debug endpoints, the metrics or the logs of a live Weft', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-nokeyleak-'));
  const logger = captureLogger('debug');
  let weft: RunningWeft;
  const clients: DeltaClient[] = [];
  /** What each client holds, by client. */
  const held = new Map<DeltaClient, Held>();
  const keys = new Map<string, string>();
  const remember = (what: string, cert: IssuedCertificate): void => void keys.set(cert.keyPem, what);

  before(async () => {
    fs.cpSync(EXAMPLE, path.join(dir, 'mesh'), { recursive: true });
    const config = normalizeConfig(
      {
        dataDir: 'data',
        logLevel: 'debug',
        xds: { host: '127.0.0.1', port: 0, coalesceMs: 0 },
        debug: { host: '127.0.0.1', port: 0 },
        metrics: { host: '127.0.0.1', port: 0 },
        plugins: [
          { name: '@weft/plugin-files', config: { dir: 'mesh', debounceMs: 10 } },
          { name: '@weft/plugin-ca-local' },
          { name: '@weft/plugin-envoy' },
        ],
      },
      { file: path.join(dir, 'weft.yaml'), label: 'weft.yaml', configDir: dir },
    );
    weft = await startWeft(config, { logger });
    const manager = weft.certificates!;
    const issuer = weft.container.resolveAll<CertificateIssuer>(Tokens.CertificateIssuer)[0]!;
    // From here on every issuance is seen as it happens (root rotation re-issues everything).
    const issue = issuer.issue.bind(issuer);
    issuer.issue = async (request) => {
      const cert = await issue(request);
      remember(`issued ${request.commonName}`, cert);
      return cert;
    };
    const names = xdsServerNames(config);
    remember('ADS serving certificate', await manager.serverCertificate(names.dnsNames, { ipAddresses: names.ipAddresses }));

    const rootPem = manager.trustBundle()[0]!;
    for (const p of PROXIES) {
      const leaf = await issuer.issue(proxyCertificateRequest({ uuid: p.uuid, kind: 'envoy', namespace: p.namespace, serviceAccount: p.serviceAccount }));
      const creds = grpc.credentials.createSsl(Buffer.from(rootPem), Buffer.from(leaf.keyPem), Buffer.from([leaf.certPem, ...leaf.chainPem].join('\n')));
      const client = new DeltaClient(`127.0.0.1:${weft.xdsAddress.port}`, { id: p.uuid }, creds);
      clients.push(client);
      client.request({ typeUrl: TypeUrl.Secret, subscribe: [`service-cert:${p.namespace}/${p.serviceAccount}`, 'root-cert-for-mtls-inbound'] });
      const sds = await client.next(5000);
      assert.ok(sds.resources.some((r) => r.name.startsWith('service-cert:')), `${p.uuid} got its certificate`);
      client.ack(sds);
      held.set(client, new Map());
      applyDelta(held.get(client)!, sds);
      for (const typeUrl of [TypeUrl.Cluster, TypeUrl.Listener]) {
        client.request({ typeUrl, subscribe: ['*'] });
        const res = await client.next(5000);
        client.ack(res);
        applyDelta(held.get(client)!, res);
      }
    }
    for (const p of PROXIES) remember(`${p.namespace}/${p.serviceAccount} first certificate`, manager.current(p)!);

    // A root rotation: new roots, every certificate re-issued and pushed, the old root dropped.
    await manager.beginRootRotation();
    await manager.reissueUnderNewRoot();
    await manager.completeRootRotation();
    for (const p of PROXIES) remember(`${p.namespace}/${p.serviceAccount} after root rotation`, manager.current(p)!);
    // The CA's own keys (root and staged roots) from its directory: they must not leak anywhere else.
    for (const file of filesUnder(path.join(dir, 'data'))) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----/g)) keys.set(m[0], `CA key in ${path.relative(dir, file)}`);
    }
    // Every proxy has its re-issued certificate before the endpoints are read.
    for (const c of clients) {
      for (;;) {
        const r = await c.next(5000);
        c.ack(r);
        applyDelta(held.get(c)!, r);
        if (r.typeUrl === TypeUrl.Secret && r.resources.some((x) => x.name.startsWith('service-cert:'))) break;
      }
    }
    // After the root rotation, what each holds (every cluster and listener, two secrets by name; no routes
    // or endpoints asked for) loads in Envoy.
    assertProxiesLoad(
      clients.map((c, i) => ({
        proxy: `no-key-leak/${PROXIES[i]!.namespace}/${PROXIES[i]!.serviceAccount}`,
        resources: heldResources(held.get(c)!),
        partial: [TypeUrl.RouteConfiguration, TypeUrl.ClusterLoadAssignment, TypeUrl.Secret],
      })),
    );
  });
  after(async () => {
    for (const c of clients) c.close();
    await weft?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('collected the keys it looks for, and the search finds a key where there is one', () => {
    const kinds = [...keys.values()];
    assert.ok(kinds.some((k) => k.startsWith('CA key')), 'the CA root key');
    assert.ok(kinds.some((k) => k === 'ADS serving certificate'));
    assert.ok(keys.size >= 3 + 3 + 3 + 2, `${keys.size} keys: ${kinds.join('; ')}`);
    const [key] = keys.keys();
    assert.ok(leaks(Buffer.from(JSON.stringify({ secret: key })), key!).length > 0);
  });

  it('finds none in the event log files, the debug endpoints, /metrics or the logs', async () => {
    const haystacks: { where: string; bytes: Buffer }[] = [];
    const logFiles = filesUnder(path.join(dir, 'data', 'log'));
    assert.ok(logFiles.length > 0, 'the file log is under the data directory');
    for (const f of logFiles) haystacks.push({ where: `log file ${path.relative(dir, f)}`, bytes: fs.readFileSync(f) });

    const debugPort = weft.debug!.port;
    const index = JSON.parse((await get(debugPort, '/no-such-route')).text) as { routes: string[] };
    assert.ok(index.routes.includes('/debug/proxies'), `routes: ${index.routes.join(', ')}`);
    const paths = new Set<string>();
    for (const route of index.routes) {
      if (!route.endsWith('/*')) paths.add(route);
      else for (const p of PROXIES) paths.add(route.replace('*', p.uuid)).add(route.replace('*', `${p.uuid}/config`));
    }
    paths.add(`/debug/log?from=0&limit=100000`);
    let fetched = 0;
    for (const p of paths) {
      const res = await get(debugPort, p);
      if (res.status === 200) fetched++;
      haystacks.push({ where: `debug ${p} (${res.status})`, bytes: Buffer.from(res.text) });
    }
    assert.ok(fetched >= 10, `${fetched} debug endpoints answered`);
    const config = haystacks.find((h) => h.where.startsWith(`debug /debug/proxies/${PROXIES[0]!.uuid}/config`))!;
    assert.match(config.bytes.toString(), /service-cert:bookbuyer\/bookbuyer/, 'the config dump shows the secret (by fingerprint)');

    const metrics = await get(weft.metricsAddress!.port, '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /osm_cert_issued_count \d+/);
    haystacks.push({ where: '/metrics', bytes: Buffer.from(metrics.text) });
    haystacks.push({ where: 'structured logs', bytes: Buffer.from(logger.records.map((r) => JSON.stringify(r)).join('\n')) });
    assert.ok(logger.records.length > 20);

    const found: string[] = [];
    for (const h of haystacks) {
      if (h.bytes.includes('PRIVATE KEY')) found.push(`"PRIVATE KEY" in ${h.where}`);
      for (const [key, what] of keys) {
        const forms = leaks(h.bytes, key).filter((f) => f !== 'PEM header');
        if (forms.length > 0) found.push(`${what}: ${forms.join(', ')} in ${h.where}`);
      }
    }
    assert.deepEqual(found, []);
  });
});
