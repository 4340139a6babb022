import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TypeUrl, captureLogger, pemFingerprint, type Endpoints } from '@weft/core';
import {
  loadConfigFile,
  openReplay,
  type ConfigDump,
  type EnvoyConfigDump,
  type OpenedReplay,
  type RunningWeft,
} from '@weft/core/testing';
import { cliMain as main } from '@weft/core/testing';
import { getJson, runWeft } from '../cli/helpers.js';
import { AckingProxy, settled } from './live-client.js';
import { startExampleWeft } from '../support/example-weft.js';
import { assertProxiesLoad, heldResources } from '../support/load-check.js';

/**
 * Invariant 1 against a live control plane: for every connected proxy, replaying the log at its head gives
 * the resources the proxy last ACKed, byte for byte (delta versions are hashes of the Any bytes); secrets,
 * whose keys are not on the log, compare by certificate fingerprint. Then a change, a replay at the earlier
 * offset, a diff across it, and the debug endpoints (same config as replay, and no key material).
 */


type Msg = Record<string, unknown>;
const bytesText = (v: unknown): string => Buffer.from(v as Uint8Array).toString('utf8');
const pemBlocks = (text: string): string[] => text.match(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g) ?? [];

/** The fingerprints a secret's readable dump should show, computed from what the proxy actually holds. */
function secretFingerprints(message: Msg): unknown {
  const tls = message['tlsCertificate'] as Msg | undefined;
  if (tls !== undefined) {
    const chain = pemBlocks(bytesText((tls['certificateChain'] as Msg)['inlineBytes']));
    return { leaf: pemFingerprint(chain[0]!) };
  }
  const vc = message['validationContext'] as Msg;
  return { roots: pemBlocks(bytesText((vc['trustedCa'] as Msg)['inlineBytes'])).map(pemFingerprint) };
}

function dumpFingerprints(resource: unknown): unknown {
  const r = resource as Msg;
  const tls = r['tlsCertificate'] as Msg | undefined;
  if (tls !== undefined) return { leaf: (tls['certificateChain'] as Msg)['sha256'] };
  return { roots: ((r['validationContext'] as Msg)['trustedCa'] as Msg)['sha256'] };
}

function assertSameAsHeld(proxy: AckingProxy, dump: ConfigDump): number {
  let compared = 0;
  for (const t of dump.types) {
    const held = proxy.held.get(t.typeUrl) ?? new Map();
    assert.deepEqual(
      t.resources.map((r) => r.name),
      [...held.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
      `${proxy.uuid} ${t.type}: replay and the proxy hold the same resource names`,
    );
    for (const r of t.resources) {
      const got = held.get(r.name)!;
      if (t.typeUrl === TypeUrl.Secret) {
        assert.equal(r.version, 'redacted');
        assert.deepEqual(dumpFingerprints(r.resource), secretFingerprints(got.message), `${proxy.uuid} secret ${r.name} fingerprints`);
      } else {
        assert.equal(r.version, got.version, `${proxy.uuid} ${t.type} ${r.name}: replayed bytes hash to what the proxy ACKed`);
      }
      compared++;
    }
  }
  return compared;
}

describe('replay against a live Weft', () => {
  let dir: string;
  let weft: RunningWeft;
  let proxies: AckingProxy[] = [];
  let configFile: string;
  let keySample = '';

  before(async () => {
    const started = await startExampleWeft('weft-replay-');
    dir = started.dir;
    configFile = started.configFile;
    weft = started.weft;
    const address = `127.0.0.1:${weft.xdsAddress.port}`;
    proxies = weft.catalog
      .list('Workload')
      .filter((w) => w.proxyUuid !== null)
      .map((w) => new AckingProxy(address, w.proxyUuid!, w.meta.namespace, w.serviceAccount));
    assert.ok(proxies.length >= 5, `the example mesh has proxies (${proxies.length})`);
    await settled(proxies);
  });

  after(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await weft?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const open = (): Promise<OpenedReplay> =>
    openReplay(loadConfigFile(configFile, {}, dir), { trustBundle: weft.certificates!.trustBundle(), logger: captureLogger() });

  let headBefore = -1;
  const dumpsBefore = new Map<string, ConfigDump>();

  it('replay at the head equals what every connected proxy last ACKed', async () => {
    await weft.caughtUp(weft.log.head() - 1);
    const { replay } = await open();
    headBefore = replay.timeline.lastOffset;
    let compared = 0;
    let secrets = 0;
    for (const p of proxies) {
      const dump = replay.config(p.uuid);
      assert.equal(dump.at.offset, headBefore);
      compared += assertSameAsHeld(p, dump);
      secrets += dump.types.find((t) => t.typeUrl === TypeUrl.Secret)!.resources.length;
      dumpsBefore.set(p.uuid, dump);
      // Same answer by identity (namespace/serviceaccount) for a single-replica identity.
      if (weft.catalog.lookup('workloadsByServiceAccount', `${p.namespace}/${p.serviceAccount}`).length === 1) {
        assert.deepEqual(replay.config(`${p.namespace}/${p.serviceAccount}`), dump);
      }
    }
    assert.ok(compared > proxies.length * 4, `compared ${compared} resources`);
    assert.ok(secrets >= proxies.length * 2, 'service certificates and roots were compared by fingerprint');
    const held = proxies[0]!.held.get(TypeUrl.Secret)!;
    const cert = [...held.values()].find((r) => r.message['tlsCertificate'] !== undefined)!;
    const keyPem = bytesText(((cert.message['tlsCertificate'] as Msg)['privateKey'] as Msg)['inlineBytes']);
    assert.match(keyPem, /PRIVATE KEY/, 'the proxy received its key (the sample for the leak checks)');
    keySample = keyPem.split('\n')[1]!.slice(0, 40);
  });

  it('after a change: head matches again, the earlier offset replays the earlier config, and the diff names the change', async () => {
    const eps = weft.catalog.get('Endpoints', 'bookwarehouse/bookwarehouse')!;
    const moved: Endpoints = {
      ...eps,
      // The first address moves to a new IP (same workload behind it): a real EDS change.
      subsets: eps.subsets.map((s, i) => ({ ...s, addresses: s.addresses.map((a, j) => (i === 0 && j === 0 ? { ...a, ip: '10.9.9.9' } : a)) })),
    };
    const [offset] = await weft.log.append([{ source: 'test', op: 'upsert', kind: 'Endpoints', key: 'bookwarehouse/bookwarehouse', body: moved }]);
    await weft.caughtUp(offset!);
    await settled(proxies);
    // What every proxy holds after the incremental EDS update still loads in Envoy as a whole.
    assertProxiesLoad(proxies.map((p) => ({ proxy: `replay-live/${p.namespace}/${p.serviceAccount}/${p.uuid}`, resources: heldResources(p.held) })));
    const { replay } = await open();
    for (const p of proxies) assertSameAsHeld(p, replay.config(p.uuid));
    for (const p of proxies) assert.deepEqual(replay.config(p.uuid, { type: 'offset', offset: headBefore }), dumpsBefore.get(p.uuid));

    // The bookstore proxies call bookwarehouse: they hold its load assignment.
    const buyer = proxies.find((p) => p.serviceAccount === 'bookstore' && [...(p.held.get(TypeUrl.ClusterLoadAssignment)?.keys() ?? [])].some((n) => n.startsWith('bookwarehouse/bookwarehouse|')))!;
    assert.ok(buyer !== undefined, 'a bookstore proxy holds the bookwarehouse endpoints');
    const edsName = [...buyer.held.get(TypeUrl.ClusterLoadAssignment)!.keys()].find((n) => n.startsWith('bookwarehouse/bookwarehouse|'))!;
    const diff = replay.diff(buyer.uuid, { type: 'offset', offset: headBefore }, { type: 'offset', offset: offset! });
    assert.equal(diff.identical, false);
    const eds = diff.types.find((t) => t.type === 'EDS')!;
    assert.deepEqual(eds.added, []);
    assert.deepEqual(eds.removed, []);
    assert.deepEqual(eds.changed.map((c) => c.name), [edsName]);
    assert.ok(eds.changed[0]!.fields.some((f) => JSON.stringify(f.after).includes('10.9.9.9')), 'the new address is the changed field');
    assert.ok(diff.types.every((t) => t.type === 'EDS'), `only EDS changed: ${diff.types.map((t) => t.type).join(',')}`);

    const why = replay.explain(buyer.uuid, { type: 'head' }, `EDS/${edsName}`);
    assert.ok(why.events.some((e) => e.offset === offset && e.kind === 'Endpoints' && e.source === 'test'), 'the change is among the reasons');
    assert.ok(why.events.every((e) => e.offset <= offset!));

    const steps = [...replay.step({ from: { type: 'offset', offset: offset! } })];
    assert.equal(steps.length, 1);
    const touched = steps[0]!.proxies.filter((p) => p.resources.some((r) => r.type === 'EDS' && r.name === edsName));
    assert.equal(steps[0]!.proxiesChanged, touched.length);
    assert.ok(touched.some((p) => p.uuid === buyer.uuid));
  });

  it('debug endpoints: proxy config equals replay at the head; no key material anywhere', async () => {
    const debug = `127.0.0.1:${weft.debug!.port}`;
    const { replay } = await open();
    const texts: string[] = [];
    const get = async (p: string): Promise<{ status: number; body: unknown }> => {
      const r = await getJson(debug, p);
      texts.push(JSON.stringify(r.body));
      return r;
    };
    for (const p of proxies) {
      const live = await get(`/debug/proxies/${p.uuid}/config`);
      assert.equal(live.status, 200);
      const body = live.body as EnvoyConfigDump;
      assert.ok(Array.isArray(body.configs), JSON.stringify(body).slice(0, 300));
      // Envoy's config dump, equal to replay's at the head: versions, fingerprints and last_updated times.
      assert.deepEqual(body, replay.envoyConfig(p.uuid), `${p.uuid}: /config is replay at the head`);
      assert.equal((await get(`/debug/proxies/${p.uuid}`)).status, 200);
    }
    assert.equal((await get('/debug/proxies/nope/config')).status, 404);
    const page = await get('/debug/log?from=0&limit=5');
    assert.equal(page.status, 200);
    const events = (page.body as { events: { offset: number }[] }).events;
    assert.deepEqual(events.map((e) => e.offset), [0, 1, 2, 3, 4]);
    const all = await get(`/debug/log?from=0&limit=1000`);
    assert.ok((all.body as { events: { kind: string }[] }).events.some((e) => e.kind === 'CertificateIssued'));
    assert.equal((await get('/debug/log?from=x')).status, 400);
    const derivations = await get('/debug/derivations');
    const d = derivations.body as { derivations: number; hits: number; groups: Record<string, unknown> };
    assert.ok(d.derivations > 0 && d.hits > 0 && Object.keys(d.groups).length > 0);
    for (const p of ['/debug/proxies', '/healthz', '/readyz', '/debug/xds', '/debug/engine']) assert.equal((await get(p)).status, 200, p);
    const text = texts.join('\n');
    assert.ok(keySample.length === 40);
    assert.equal(text.includes(keySample), false, 'no private key bytes');
    assert.doesNotMatch(text, /-----BEGIN|PRIVATE KEY/);
  });

  it('weft replay on the command line: config, errors for an unknown proxy, an offset past the end, a missing log', async () => {
    const uuid = proxies[0]!.uuid;
    const ok = await runWeft(['replay', '--config', configFile, '--proxy', uuid, '--at', String(headBefore)]);
    assert.equal(ok.code, 0, ok.stderr);
    const dump = JSON.parse(ok.stdout) as EnvoyConfigDump;
    // The CLI takes the roots from the configured issuer's CA directory: the same trust bundle. It prints
    // Envoy's config dump (the API's ConfigDump stays available as Replay.config).
    const { replay } = await open();
    assert.deepEqual(dump, replay.envoyConfig(uuid, { type: 'offset', offset: headBefore }));
    const before = dumpsBefore.get(uuid)!;
    const clusters = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump')!;
    assert.deepEqual(
      (clusters['dynamic_active_clusters'] as { version_info: string }[]).map((c) => c.version_info),
      before.types.find((t) => t.typeUrl === TypeUrl.Cluster)!.resources.map((r) => r.version),
      'the same resources, at the same versions',
    );
    assert.equal(ok.stdout.includes(keySample), false);
    assert.doesNotMatch(ok.stdout, /-----BEGIN|PRIVATE KEY/);

    // The error paths in-process (the same main() the binary runs): clear messages, exit code 1.
    const run = async (args: string[]): Promise<{ code: number; stderr: string }> => {
      let stderr = '';
      const code = await main(['replay', '--config', configFile, ...args], { stdout: () => undefined, stderr: (t) => (stderr += t), cwd: dir, env: {}, logger: captureLogger() });
      return { code, stderr };
    };
    const unknown = await run(['--proxy', 'no-such-proxy']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /ever had osm-proxy-uuid=no-such-proxy.*proxies on the log: /);
    const past = await run(['--proxy', uuid, '--at', '999999']);
    assert.equal(past.code, 1);
    assert.match(past.stderr, /offset 999999 is past the end of the log .*its last event is at offset \d+/);
    const missing = await run(['--log', path.join(dir, 'nope'), '--proxy', uuid]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no event log at .*nope: the directory does not exist/);
    // A flipped bit in the middle of a copy of the log: a clear error naming the file, never a wrong answer.
    const copy = path.join(dir, 'corrupt-log');
    fs.cpSync(path.join(dir, 'data', 'log'), copy, { recursive: true });
    const segment = fs.readdirSync(copy).filter((f) => !f.endsWith('.lock')).sort()[0]!;
    const bytes = fs.readFileSync(path.join(copy, segment));
    bytes[Math.floor(bytes.length / 3)]! ^= 0x40;
    fs.writeFileSync(path.join(copy, segment), bytes);
    const corrupt = await run(['--log', copy, '--proxy', uuid]);
    assert.equal(corrupt.code, 1);
    assert.match(corrupt.stderr, new RegExp(`${segment}`));
    const badPoint = await run(['--proxy', uuid, '--at', 'yesterday']);
    assert.equal(badPoint.code, 1);
    assert.match(badPoint.stderr, /--at "yesterday" is neither a log offset/);
    const usage = await run(['--diff', '1..2']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--proxy <uuid \| namespace\/serviceaccount> is required/);
  });
});
