/**
 * Replicas on one Kafka log: two Weft instances follow one topic, A with the files source (it appends the
 * bookstore example), B with no source (it only follows). At the same log offset both hold the same
 * resource versions and bytes for a proxy, so
 *  - a delta-xDS proxy that moves from A to B with initial_resource_versions is sent nothing (0 bytes) for
 *    a mesh that did not change, and after a change both send the same versions and bytes;
 *  - a SotW proxy's version_info means the same on both.
 * And readiness from the log: with the broker frozen (SIGSTOP, as if cut off), B's lag still reads 0 but
 * its /readyz fails within the Kafka plugin's requestTimeoutMs while it keeps its proxies' streams; with the
 * broker back it is ready again.
 *
 * The test runs its own single Kafka broker (deploy/kafka/start.sh in a temporary directory) since it
 * freezes it; with CI=true a broker that cannot be started fails it. No certificate issuer is loaded (xDS
 * without mTLS): each replica would issue its own leaf certificates, so secrets differ between replicas.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { captureLogger, TypeUrl } from '@weft/core';
import { loadConfigFile, startWeft, type RunningWeft } from '@weft/core/testing';
import { startBroker, stopBroker } from '@weft/plugin-kafka/dist/testing.js';
import { envoyType } from '@weft/protos';
import { DeltaClient, SotwClient, type DeltaResponseView } from '../support/delta-client.js';
import { assertProxiesLoad, fromWire } from '../support/load-check.js';

const ci = process.env['CI'] === 'true';
const REPO = path.resolve(__dirname, '..', '..', '..');
const EXAMPLE = path.join(REPO, 'deploy', 'examples', 'bookstore');
const BUYER = '5a7e4c1e-0b1f-4c8e-9d7a-1b2c3d4e5f01.sidecar.bookbuyer.bookbuyer.cluster.local';
const REQUEST_TIMEOUT_MS = 5000;

/** One resource as a delta response carried it: its version and the bytes of its Any's value. */
interface Held {
  readonly version: string;
  readonly bytes: string;
}

/** The next response on `s`, ACKed, or undefined when none came within `ms`. */
async function nextAcked(s: DeltaClient, ms: number): Promise<DeltaResponseView | undefined> {
  const r = await s.nextOrNone(ms);
  if (r !== undefined) s.ack(r);
  return r;
}

const held = (r: DeltaResponseView): Map<string, Held> => new Map(r.resources.map((x) => [x.name, { version: x.version, bytes: x.value.toString('base64') }]));
const versions = (m: Map<string, Held>): Record<string, string> => Object.fromEntries([...m].map(([k, v]) => [k, v.version]));

function readyz(port: number): Promise<{ status: number; body: { checks?: Record<string, { ok: boolean }> } }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/readyz', timeout: 5000 }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { checks?: Record<string, { ok: boolean }> } }));
      })
      .on('error', reject);
  });
}

async function until(check: () => Promise<boolean> | boolean, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('replicas on one Kafka log', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-replicas-'));
  const runDir = path.join(dir, 'kafka');
  let brokers: string | null = null;
  let reason = '';
  let a: RunningWeft | undefined;
  let b: RunningWeft | undefined;
  const streams: { close(): void }[] = [];

  before(async () => {
    try {
      brokers = await startBroker(runDir);
    } catch (err) {
      reason = `deploy/kafka/start.sh failed: ${(err as Error).message}`;
      if (ci) throw new Error(`CI=true and ${reason}`);
    }
  });

  after(async () => {
    for (const s of streams) s.close();
    await b?.close();
    await a?.close();
    try {
      process.kill(Number(fs.readFileSync(path.join(runDir, 'pid'), 'utf8')), 'SIGCONT');
    } catch {
      // No broker, or it is not stopped.
    }
    if (brokers !== null) await stopBroker(runDir);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function replica(name: string, withSource: boolean): Promise<RunningWeft> {
    const home = path.join(dir, name);
    fs.mkdirSync(home, { recursive: true });
    if (withSource) fs.cpSync(EXAMPLE, path.join(home, 'manifests'), { recursive: true });
    fs.writeFileSync(
      path.join(home, 'weft.yaml'),
      `dataDir: data
trustDomain: cluster.local
log: kafka://${brokers!}/weft-replicas
xds: { host: 127.0.0.1, port: 0, insecure: true, coalesceMs: 0 }
debug: { host: 127.0.0.1, port: 0 }
metrics: { host: 127.0.0.1, port: 0 }
plugins:
${withSource ? "  - name: '@weft/plugin-files'\n    config: { dir: manifests, debounceMs: 20 }\n" : ''}  - name: '@weft/plugin-kafka'
    config: { requestTimeoutMs: ${REQUEST_TIMEOUT_MS}, connectionTimeoutMs: 1000 }
  - name: '@weft/plugin-envoy'
`,
    );
    return startWeft(loadConfigFile(path.join(home, 'weft.yaml'), {}, home), { logger: captureLogger() });
  }

  /** Subscribes CDS and LDS (wildcard) and EDS (what CDS names); the resources held per type. */
  async function fetchAll(s: DeltaClient, initial: Map<string, Map<string, Held>> = new Map()): Promise<{ got: Map<string, Map<string, Held>>; bytes: number; resources: number }> {
    const got = new Map<string, Map<string, Held>>();
    let bytes = 0;
    let resources = 0;
    const ask = async (typeUrl: string, names: string[]): Promise<void> => {
      s.request({ typeUrl, subscribe: names, initialResourceVersions: versions(initial.get(typeUrl) ?? new Map()) });
      // A replica that has nothing new for the proxy may answer with an empty response, or not at all.
      const r = await nextAcked(s, initial.has(typeUrl) ? 1000 : 10_000);
      if (r === undefined) {
        assert.ok(initial.has(typeUrl), `a first ${typeUrl} response`);
        got.set(typeUrl, new Map());
        return;
      }
      assert.equal(r.typeUrl, typeUrl);
      for (const x of r.resources) bytes += x.value.length;
      resources += r.resources.length;
      got.set(typeUrl, held(r));
    };
    await ask(TypeUrl.Cluster, ['*']);
    await ask(TypeUrl.Listener, ['*']);
    const eds = [...(initial.get(TypeUrl.ClusterLoadAssignment)?.keys() ?? [])];
    if (eds.length === 0) {
      for (const [name, h] of got.get(TypeUrl.Cluster)!) {
        const c = envoyType(TypeUrl.Cluster).decode(Buffer.from(h.bytes, 'base64')) as unknown as { edsClusterConfig?: unknown };
        if (c.edsClusterConfig !== undefined) eds.push(name);
      }
    }
    assert.ok(eds.length > 0, 'bookbuyer reaches bookstore through EDS clusters');
    await ask(TypeUrl.ClusterLoadAssignment, eds);
    return { got, bytes, resources };
  }

  it('send a proxy that moves between them nothing for an unchanged mesh, the same bytes after a change, and one SotW version; a replica cut off from the brokers is not ready', { timeout: 120_000 }, async (t) => {
    if (brokers === null) return t.skip(reason);
    a = await replica('a', true);
    b = await replica('b', false);
    await b.caughtUp(a.catalog.lastOffset);
    assert.equal(b.catalog.lastOffset, a.catalog.lastOffset);
    assert.ok(a.catalog.list('Workload').some((w) => w.meta.name === 'bookbuyer-0'));

    // The proxy on A: everything it is sent.
    const onA = new DeltaClient(`127.0.0.1:${a.xdsAddress.port}`, { id: BUYER });
    streams.push(onA);
    const first = await fetchAll(onA);
    assert.ok(first.resources > 0 && first.bytes > 0);
    onA.close();

    // It moves to B holding those versions: B sends no resource.
    const onB = new DeltaClient(`127.0.0.1:${b.xdsAddress.port}`, { id: BUYER });
    streams.push(onB);
    const moved = await fetchAll(onB, first.got);
    console.log(`# first connection to A: ${first.resources} resources, ${first.bytes} bytes; moved to B: ${moved.resources} resources, ${moved.bytes} bytes resent`);
    assert.equal(moved.bytes, 0, 'bytes resent by B for an unchanged mesh');
    assert.equal(moved.resources, 0);

    // The proxy also holds a stream on A again (as a second proxy would): a change reaches both the same.
    const againA = new DeltaClient(`127.0.0.1:${a.xdsAddress.port}`, { id: BUYER });
    streams.push(againA);
    const stillA = await fetchAll(againA, first.got);
    assert.equal(stillA.resources, 0);

    const sotwA = new SotwClient(`127.0.0.1:${a.xdsAddress.port}`, { id: BUYER });
    const sotwB = new SotwClient(`127.0.0.1:${b.xdsAddress.port}`, { id: BUYER });
    streams.push(sotwA, sotwB);
    sotwA.request({ typeUrl: TypeUrl.Cluster });
    sotwB.request({ typeUrl: TypeUrl.Cluster });
    const [cdsA, cdsB] = await Promise.all([sotwA.next(10_000), sotwB.next(10_000)]);
    assert.equal(cdsB.versionInfo, cdsA.versionInfo, 'SotW version_info of CDS');
    assert.deepEqual(cdsB.resources, cdsA.resources);

    // A change lands (bookstore-v1's address moves): both replicas send the same versions and bytes.
    const store = path.join(dir, 'a', 'manifests', 'bookstore.yaml');
    const text = fs.readFileSync(store, 'utf8');
    assert.ok(text.includes('10.244.2.10'));
    fs.writeFileSync(store, text.replaceAll('10.244.2.10', '10.244.2.99'));
    const [changedA, changedB] = await Promise.all([nextAcked(againA, 15_000), nextAcked(onB, 15_000)]);
    assert.ok(changedA !== undefined && changedB !== undefined, 'both replicas push the change');
    assert.equal(changedA.typeUrl, TypeUrl.ClusterLoadAssignment);
    assert.deepEqual([...held(changedB)], [...held(changedA)], 'the same names, versions and bytes');
    assert.ok(changedA.resources.some((r) => r.value.includes(Buffer.from('10.244.2.99'))));
    assert.equal(b.catalog.lastOffset, a.catalog.lastOffset);
    // What the proxy holds before and after the change loads in Envoy. It asked for no routes or secrets.
    const afterChange = new Map([...first.got].map(([typeUrl, byName]) => [typeUrl, new Map(byName)]));
    for (const [name, h] of held(changedB)) afterChange.get(TypeUrl.ClusterLoadAssignment)!.set(name, h);
    assertProxiesLoad(
      [first.got, afterChange].map((got, i) => ({
        proxy: `identical-replicas/bookbuyer/${i === 0 ? 'on A' : 'on B after the change'}`,
        resources: [...got].flatMap(([typeUrl, byName]) => [...byName].map(([name, h]) => fromWire(typeUrl, name, Buffer.from(h.bytes, 'base64'), h.version))),
        partial: [TypeUrl.RouteConfiguration, TypeUrl.Secret],
      })),
    );

    // Readiness from the log: the broker freezes; B's lag reads 0, but it is not ready, and keeps its streams.
    assert.equal((await readyz(b.debug!.port)).status, 200);
    const pid = Number(fs.readFileSync(path.join(runDir, 'pid'), 'utf8'));
    process.kill(pid, 'SIGSTOP');
    const frozenAt = Date.now();
    try {
      await until(async () => (await readyz(b!.debug!.port)).status === 503, "B's /readyz to fail", REQUEST_TIMEOUT_MS * 4);
      const notReadyMs = Date.now() - frozenAt;
      const report = (await readyz(b.debug!.port)).body;
      assert.equal(report.checks?.['reach']?.ok, false, JSON.stringify(report));
      assert.equal(report.checks?.['lag']?.ok, true, 'cut off, the lag reads 0: only the contact check tells');
      assert.equal(onB.ended, false, 'B keeps the proxies it has');
      console.log(`# broker frozen: B not ready after ${notReadyMs} ms (bound ${REQUEST_TIMEOUT_MS} ms)`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await until(async () => (await readyz(b!.debug!.port)).status === 200, "B's /readyz to pass again", REQUEST_TIMEOUT_MS * 5);
  });
});
