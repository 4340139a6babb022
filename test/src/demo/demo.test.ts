import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { getJson, runWeft, scratchWithExample, until, WeftProcess } from '../cli/helpers.js';
import { demoManifests } from './connect.js';

/**
 * `weft demo` as a newcomer runs it: `weft start` (the default config, deploy/weft.yaml) on a copy of the
 * example mesh in one process, `weft demo` in another; its grpc-js-xds workloads show up in the running
 * Weft's /debug/proxies, and it ends with a summary that says the mesh followed the policy.
 */

const DEMO_UUIDS = ['de300000-0000-4000-8000-000000000001', 'de300000-0000-4000-8000-000000000011', 'de300000-0000-4000-8000-000000000012'];

describe('weft demo', () => {
  const dirs: string[] = [];
  const procs: WeftProcess[] = [];
  after(() => {
    for (const p of procs) p.kill();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('connects real gRPC workloads to the running Weft, shows the split change live and ends with a summary', async () => {
    const dir = scratchWithExample();
    dirs.push(dir);
    const mesh = path.join(dir, 'manifests');
    const data = path.join(dir, 'data');
    // What a demo killed with SIGKILL leaves behind: the next one must still see its own write applied.
    fs.writeFileSync(path.join(mesh, 'weft-demo.yaml'), demoManifests('osm', { v1: 15101, v2: 15102 }, { v1: 50, v2: 50, access: true }));
    const weft = new WeftProcess(['--data-dir', data, '--manifests', mesh, '--xds-port', '0', '--debug-port', '0', '--metrics-port', '0']);
    procs.push(weft);
    const ready = await weft.waitFor((l) => l.msg === 'ready');
    const debug = String(ready.debug);

    const demo = runWeft(['demo', '--data-dir', data, '--manifests', mesh, '--debug', debug, '--phase-seconds', '1'], { timeoutMs: 90_000 });
    // Seen from the running Weft, not from the demo's own account: all three workloads connect.
    let seen: string[] = [];
    await until(
      'the demo workloads in /debug/proxies',
      async () => {
        const rows = ((await getJson(debug, '/debug/proxies')).body as { proxies: { uuid: string; kind: string }[] }).proxies;
        seen = rows.filter((r) => DEMO_UUIDS.includes(r.uuid) && r.kind === 'grpc').map((r) => r.uuid);
        return seen.length === 3;
      },
      60_000,
    );
    const result = await demo;
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);

    const out = result.stdout;
    const summary = out.slice(out.indexOf('== summary'));
    assert.ok(out.includes('== summary'), out);
    assert.match(summary, /^proxies connected: +3 \(bookbuyer-0, bookstore-v1-0, bookstore-v2-0\) over mTLS/m);
    const rpcs = Number(/^RPCs: +(\d+) /m.exec(summary)?.[1]);
    assert.ok(rpcs > 20, `RPCs were made (${rpcs})`);
    const split = (label: string): [number, number] => {
      const m = new RegExp(`^${label}: +bookstore-v1 (\\d+)% / bookstore-v2 (\\d+)% of (\\d+) RPCs`, 'm').exec(summary);
      assert.ok(m !== null, `${label} in:\n${summary}`);
      return [Number(m[1]), Number(m[2])];
    };
    const [b1, b2] = split('split before');
    assert.ok(b1 >= 20 && b2 >= 20, `50/50 reaches both backends (${b1}/${b2})`);
    const [a1] = split('split after');
    assert.ok(a1 >= 75, `90/10 sends most calls to v1 (${a1}%)`);
    assert.match(summary, /^access removed: +[1-9]\d* of \d+ RPCs PERMISSION_DENIED/m);
    assert.match(summary, /^time to converge: +split \d+\.\d\d s, access removed \d+\.\d\d s .*; the first call denied \d+\.\d\d s after the write$/m);
    assert.match(out, /^all three in http:\/\/.*\/debug\/proxies after \d+\.\d\d s$/m);

    // The demo leaves the mesh as it found it: its file is gone, and Weft deleted what the file held.
    assert.ok(!fs.existsSync(path.join(mesh, 'weft-demo.yaml')));
    await until('the demo resources deleted', async () => {
      const log = (await getJson(debug, '/debug/log?limit=1000')).body as { events: { op: string; key: string; kind: string }[] };
      return log.events.some((e) => e.kind === 'TrafficSplit' && e.key === 'weft-demo/bookstore-split' && e.op === 'delete');
    });
    weft.signal('SIGTERM');
    assert.equal((await weft.exited).code, 0);
  });

  it('says how to start Weft when none answers, and refuses to write into a tracked example, exit 1', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const mesh = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-demo-mesh-'));
    dirs.push(mesh);
    const r = await runWeft(['demo', '--manifests', mesh, '--debug', `127.0.0.1:${port}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^weft demo: no Weft answers at http://127\\.0\\.0\\.1:${port} .*npx weft start --manifests mesh`, 'm'));
    const tracked = await runWeft(['demo', '--manifests', 'deploy/examples/bookstore', '--debug', `127.0.0.1:${port}`]);
    assert.equal(tracked.code, 1, tracked.stderr);
    assert.match(tracked.stderr, /is one of the repository's examples; run Weft on a copy \(cp -r deploy\/examples\/bookstore mesh/);
    const usage = await runWeft(['demo', '--debug', 'nowhere']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--debug must be host:port/);
  });
});
