import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Tokens, TypeUrl, captureLogger, type CertificateIssuer, type IssuedCertificate } from '@weft/core';
import { loadConfigFile, startWeft, type RunningWeft } from '@weft/core/testing';
import { parse } from 'yaml';
import { assertProxiesLoad } from '../support/load-check.js';
import { SotwClient, type SotwResponseView } from '../support/delta-client.js';

/**
 * An Envoy sidecar that OSM v1.2 injected moves to Weft without re-injection: it keeps the bootstrap and
 * the bootstrap certificate OSM gave it (test/fixtures/osm-v1.2, shaped as OSM writes them), connects over
 * mTLS as that bootstrap says, and gets its configuration, including the secrets OSM's listeners named.
 */

const REPO = path.resolve(__dirname, '..', '..', '..');
const EXAMPLE = path.join(REPO, 'deploy', 'examples', 'bookstore');
const OSM = path.join(REPO, 'test', 'fixtures', 'osm-v1.2');

type Msg = Record<string, unknown>;
const at = (v: unknown, ...keys: (string | number)[]): unknown => keys.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], v);
const pemText = (v: unknown): string => Buffer.from(v as Uint8Array).toString('utf8');

describe('an OSM v1.2 sidecar connects unchanged', () => {
  let dir: string;
  let weft: RunningWeft;
  let issuer: CertificateIssuer;
  const bootstrap = parse(fs.readFileSync(path.join(OSM, 'bootstrap.yaml'), 'utf8')) as Msg;
  const nodeId = at(bootstrap, 'node', 'id') as string;
  const [uuid, kind, sa, ns, ...td] = nodeId.split('.');

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-osm-'));
    const manifests = path.join(dir, 'manifests');
    fs.cpSync(EXAMPLE, manifests, { recursive: true });
    // A pod annotated for Prometheus with a spelling OSM's strconv.ParseBool reads as true.
    const store = path.join(manifests, 'bookstore.yaml');
    const pod = '  name: bookstore-v1-0\n  namespace: bookstore\n';
    const text = fs.readFileSync(store, 'utf8');
    assert.ok(text.includes(pod));
    fs.writeFileSync(store, text.replace(pod, `${pod}  annotations:\n    prometheus.io/scrape: "True"\n`));
    const config = path.join(dir, 'weft.yaml');
    fs.writeFileSync(
      config,
      `dataDir: data
trustDomain: cluster.local
xds: { host: 127.0.0.1, port: 0, insecure: false }
debug: { host: 127.0.0.1, port: 0 }
metrics: { host: 127.0.0.1, port: 0 }
plugins:
  - name: '@weft/plugin-files'
    config: { dir: manifests, debounceMs: 20 }
  - name: '@weft/plugin-ca-local'
    config: { keyAlgorithm: rsa-2048 }
  - name: '@weft/plugin-envoy'
`,
    );
    weft = await startWeft(loadConfigFile(config, {}, dir), { logger: captureLogger() });
    issuer = weft.container.resolveAll<CertificateIssuer>(Tokens.CertificateIssuer)[0]!;
  });

  after(async () => {
    await weft?.close();
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The bootstrap certificate as OSM's issuer makes it: CN = DNS SAN = <uuid>.<kind>.<sa>.<ns>.<td>, no URI SAN, client and server use. */
  const osmCertificate = (cn: string): Promise<IssuedCertificate> => issuer.issue({ commonName: cn, dnsNames: [cn], usage: 'both' });

  /**
   * What the bootstrap's ADS cluster does: HTTP/2 (ALPN h2) over TLS with the certificate files, checking the
   * server's chain against the roots and nothing else (no SNI, no SAN match in OSM's validation context).
   */
  function connect(cert: IssuedCertificate, id: string): SotwClient {
    const creds = grpc.credentials.createSsl(Buffer.from(issuer.trustBundle().join('\n')), Buffer.from(cert.keyPem), Buffer.from([cert.certPem, ...cert.chainPem].join('\n')), {
      checkServerIdentity: () => undefined,
    });
    return new SotwClient(`127.0.0.1:${weft.xdsAddress.port}`, { id }, creds);
  }

  async function response(client: SotwClient, typeUrl: string): Promise<SotwResponseView> {
    const res = await client.next(5000);
    assert.equal(res.typeUrl, typeUrl);
    // ACK, keeping the subscription as it was (empty = the wildcard of CDS and LDS, else the names asked for).
    client.request({ typeUrl, versionInfo: res.versionInfo, responseNonce: res.nonce, resourceNames: res.typeUrl === TypeUrl.Cluster || res.typeUrl === TypeUrl.Listener ? [] : res.resources.map((r) => r.name) });
    return res;
  }

  it('the fixture is OSM v1.2-shaped: node.id is the whole CN of kind sidecar, ADS through the static cluster osm-controller on 15128', () => {
    assert.equal(kind, 'sidecar');
    assert.deepEqual([sa, ns, td.join('.')], ['bookstore', 'bookstore', 'cluster.local']);
    assert.equal(at(bootstrap, 'dynamic_resources', 'ads_config', 'api_type'), 'GRPC');
    assert.equal(at(bootstrap, 'dynamic_resources', 'ads_config', 'grpc_services', 0, 'envoy_grpc', 'cluster_name'), 'osm-controller');
    const cluster = at(bootstrap, 'static_resources', 'clusters', 0) as Msg;
    assert.equal(cluster['name'], 'osm-controller');
    assert.equal(at(cluster, 'load_assignment', 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address', 'socket_address', 'port_value'), 15128);
    assert.deepEqual(at(cluster, 'transport_socket', 'typed_config', 'common_tls_context', 'alpn_protocols'), ['h2']);
    const pod = weft.catalog.list('Workload').find((w) => w.proxyUuid === uuid);
    assert.equal(pod?.meta.name, 'bookstore-v1-0', 'the pod carries osm-proxy-uuid=<uuid>');
  });

  it('is served as an Envoy sidecar: CDS, EDS, LDS (with the Prometheus listener), RDS and SDS under OSM\'s secret names', async () => {
    const cert = await osmCertificate(nodeId);
    const x509 = new X509Certificate(cert.certPem);
    assert.equal(x509.subject.split('\n').find((l) => l.startsWith('CN=')), `CN=${nodeId}`);
    assert.equal(x509.subjectAltName, `DNS:${nodeId}`);
    const client = connect(cert, nodeId);
    try {
      // As Envoy starts: wildcard CDS, then wildcard LDS (set_node_on_first_message_only: node on the first only).
      client.request({ typeUrl: TypeUrl.Cluster });
      const cds = await response(client, TypeUrl.Cluster);
      client.request({ typeUrl: TypeUrl.Listener });
      const lds = await response(client, TypeUrl.Listener);
      const clusters = cds.resources.map((r) => r.name);
      assert.ok(clusters.includes('bookstore/bookstore|14001|local'), clusters.join(', '));
      const listeners = lds.resources.map((r) => r.name);
      assert.deepEqual(listeners.sort(), ['inbound-listener', 'inbound-prometheus-listener', 'outbound-listener']);
      // Then what CDS and LDS name: the EDS clusters' assignments and the route configurations.
      const edsNames = cds.resources.filter((r) => r.message['type'] === 'EDS' || r.message['edsClusterConfig'] !== undefined).map((r) => r.name);
      assert.ok(edsNames.length > 0, 'bookstore calls bookwarehouse through an EDS cluster');
      client.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: edsNames });
      const eds = await response(client, TypeUrl.ClusterLoadAssignment);
      assert.deepEqual(eds.resources.map((r) => r.name).sort(), [...edsNames].sort());
      // The HTTP connection managers (inside the listeners' Anys) name OSM's route configurations by port.
      const rdsNames = ['rds-inbound.14001', 'rds-outbound.14001'];
      client.request({ typeUrl: TypeUrl.RouteConfiguration, resourceNames: rdsNames });
      const rds = await response(client, TypeUrl.RouteConfiguration);
      assert.deepEqual(rds.resources.map((r) => r.name).sort(), [...rdsNames].sort());

      const proxy = weft.xds.proxies().find((p) => p.uuid === uuid);
      assert.equal(proxy?.kind, 'sidecar');
      assert.equal(`${proxy?.namespace}/${proxy?.serviceAccount}`, 'bookstore/bookstore');

      // The names an OSM-configured sidecar holds in its listeners and clusters, asked for again.
      // (The outbound root is what the cluster to bookwarehouse names; the load check below wants every name.)
      const names = [`service-cert:${ns}/${sa}`, `root-cert-for-mtls-inbound:${ns}/${sa}`, 'root-cert-for-mtls-inbound', 'root-cert-for-mtls-outbound:bookwarehouse/bookwarehouse'];
      client.request({ typeUrl: TypeUrl.Secret, resourceNames: names });
      const sds = await client.next(5000);
      assert.equal(sds.typeUrl, TypeUrl.Secret);
      const secrets = new Map(sds.resources.map((r) => [r.name, r.message]));
      assert.deepEqual([...secrets.keys()].sort(), [...names].sort());
      const roots = issuer.trustBundle().join('\n');
      for (const n of names.slice(1)) assert.equal(pemText(at(secrets.get(n), 'validationContext', 'trustedCa', 'inlineBytes')), roots, n);
      const serviceCert = new X509Certificate(pemText(at(secrets.get(names[0]!), 'tlsCertificate', 'certificateChain', 'inlineBytes')));
      assert.equal(serviceCert.subjectAltName?.includes(`DNS:${sa}.${ns}.cluster.local`), true, serviceCert.subjectAltName);

      // Everything it was served, as one configuration: it asked for every name its listeners and clusters use.
      assertProxiesLoad([{ proxy: `osm-sidecar/${nodeId}`, resources: [cds, lds, eds, rds, sds].flatMap((r) => r.resources) }]);
    } finally {
      client.close();
    }
  });

  it('accepts node.id = the uuid as well, and refuses OSM\'s multicluster "gateway" kind naming it and the kinds served', async () => {
    const byUuid = connect(await osmCertificate(nodeId), uuid!);
    try {
      byUuid.request({ typeUrl: TypeUrl.Cluster });
      assert.equal((await byUuid.next(5000)).typeUrl, TypeUrl.Cluster);
    } finally {
      byUuid.close();
    }
    const gatewayCn = `${uuid}.gateway.${sa}.${ns}.cluster.local`;
    const gateway = connect(await osmCertificate(gatewayCn), gatewayCn);
    gateway.request({ typeUrl: TypeUrl.Cluster });
    const status = await gateway.status;
    gateway.close();
    assert.notEqual(status.code, grpc.status.OK);
    assert.match(status.details, /no proxy adapter for kind "gateway".*loaded kinds: envoy, sidecar/);
  });
});
