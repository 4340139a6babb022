/**
 * Replay benchmark: a 100k-event file log (a 1,000-proxy permissive mesh, then pods and endpoints churning)
 * replayed to one proxy's config at the head, the way `weft replay --proxy <uuid>` does it: open the log
 * read-only, read every record (kept encoded), decode and fold them into the catalog, compute the proxy's resources with
 * the Envoy adapter. Also: the same at the middle of the log, a diff across the last 1,000 events, and
 * --step over the last 1,000 batches for one proxy. Wall and CPU time are both shown: on a shared machine
 * CPU time is the steadier figure.
 *
 *   npm run bench:replay -w bench [-- --events 100000 --runs 3 --dir <log dir to keep and reuse>]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseManifests, silentLogger, type Endpoints, type EventInput, type Workload } from '@weft/core';
import { FileEventLog, Replay } from '@weft/core/testing';
import { EnvoyAdapter } from '@weft/plugin-envoy';
import { arg, cpuMs, stringArg } from './util.js';

const NAMESPACES = 10;
const SERVICES_PER_NS = 20;
const PODS_PER_SERVICE = 5;

function uuidOf(ns: number, s: number, p: number): string {
  return `7e1f0000-${String(ns).padStart(4, '0')}-4${String(s).padStart(3, '0')}-8${String(p).padStart(3, '0')}-000000000000`;
}

/** The mesh as manifests: namespaces in the mesh, permissive MeshConfig, services, accounts, pods, endpoints. */
function baseManifests(): string {
  const docs: string[] = [
    `apiVersion: v1\nkind: Namespace\nmetadata: { name: osm-system }`,
    `apiVersion: config.openservicemesh.io/v1alpha2\nkind: MeshConfig\nmetadata: { name: osm-mesh-config, namespace: osm-system }\nspec:\n  traffic: { enablePermissiveTrafficPolicyMode: true, enableEgress: false }`,
  ];
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `ns-${n}`;
    docs.push(`apiVersion: v1\nkind: Namespace\nmetadata: { name: ${ns}, labels: { openservicemesh.io/monitored-by: osm } }`);
    for (let s = 0; s < SERVICES_PER_NS; s++) {
      const svc = `svc-${s}`;
      docs.push(`apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: ${svc}, namespace: ${ns} }`);
      docs.push(
        `apiVersion: v1\nkind: Service\nmetadata: { name: ${svc}, namespace: ${ns} }\nspec:\n  selector: { app: ${svc} }\n  ports: [{ name: http, port: 8080, targetPort: 8080 }]`,
      );
      const addresses: string[] = [];
      for (let p = 0; p < PODS_PER_SERVICE; p++) {
        const ip = `10.${n}.${s}.${p + 1}`;
        docs.push(
          `apiVersion: v1\nkind: Pod\nmetadata: { name: ${svc}-${p}, namespace: ${ns}, labels: { app: ${svc}, osm-proxy-uuid: ${uuidOf(n, s, p)} } }\n` +
            `spec:\n  serviceAccountName: ${svc}\n  containers: [{ name: app, image: app, ports: [{ containerPort: 8080, name: http }] }]\n` +
            `status:\n  phase: Running\n  podIP: ${ip}\n  conditions: [{ type: Ready, status: "True" }]`,
        );
        addresses.push(`{ ip: ${ip}, targetRef: { kind: Pod, name: ${svc}-${p}, namespace: ${ns} } }`);
      }
      docs.push(
        `apiVersion: v1\nkind: Endpoints\nmetadata: { name: ${svc}, namespace: ${ns} }\nsubsets:\n  - addresses: [${addresses.join(', ')}]\n    ports: [{ name: http, port: 8080 }]`,
      );
    }
  }
  return docs.join('\n---\n');
}

/** The base mesh as one batch, then single-resource changes: endpoints moving and pods being replaced. */
function history(total: number): EventInput[][] {
  const parsed = parseManifests(baseManifests(), 'bench-mesh.yaml');
  if (parsed.errors.length > 0) throw new Error(`bench mesh: ${parsed.errors.map((e) => e.message).join('\n')}`);
  const base = parsed.resources.map((r) => ({ source: 'bench', op: 'upsert' as const, kind: r.kind, key: r.key, body: r.body }));
  const endpoints = new Map(base.filter((e) => e.kind === 'Endpoints').map((e) => [e.key, e.body as Endpoints]));
  const workloads = new Map(base.filter((e) => e.kind === 'Workload').map((e) => [e.key, e.body as Workload]));
  const batches: EventInput[][] = [base];
  let n = base.length;
  for (let i = 0; n < total; i++) {
    const ns = i % NAMESPACES;
    const s = Math.floor(i / NAMESPACES) % SERVICES_PER_NS;
    const p = Math.floor(i / (NAMESPACES * SERVICES_PER_NS)) % PODS_PER_SERVICE;
    const ip = `10.${ns}.${s}.${((i >> 3) % 200) + 20}`;
    const wKey = `ns-${ns}/svc-${s}-${p}`;
    const eKey = `ns-${ns}/svc-${s}`;
    // A pod gets a new IP, and its service's endpoints follow: two events, as a Kubernetes source sends them.
    const w = workloads.get(wKey)!;
    const w2: Workload = { ...w, ips: [ip] };
    workloads.set(wKey, w2);
    const e = endpoints.get(eKey)!;
    const e2: Endpoints = {
      ...e,
      subsets: e.subsets.map((sub) => ({ ...sub, addresses: sub.addresses.map((a) => (a.workload === wKey ? { ...a, ip } : a)) })),
    };
    endpoints.set(eKey, e2);
    batches.push([{ source: 'bench', op: 'upsert', kind: 'Workload', key: wKey, body: w2 }]);
    batches.push([{ source: 'bench', op: 'upsert', kind: 'Endpoints', key: eKey, body: e2 }]);
    n += 2;
  }
  return batches;
}

async function writeLog(dir: string, batches: EventInput[][]): Promise<void> {
  const log = await FileEventLog.open(dir, { logger: silentLogger });
  try {
    // Concurrent appends are group-committed (one fsync for many batches), as many sources writing at once.
    for (let i = 0; i < batches.length; i += 512) await Promise.all(batches.slice(i, i + 512).map((b) => log.append(b)));
  } finally {
    await log.close();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number): string => `${x.toFixed(0)} ms`;

async function main(): Promise<void> {
  const total = arg('events', 100_000);
  const runs = arg('runs', 3);
  const dirArg = stringArg('dir');
  const keep = dirArg === undefined ? undefined : path.resolve(dirArg);
  const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'weft-replay-bench-'));
  try {
    const t0 = performance.now();
    if (keep === undefined || !fs.existsSync(keep) || fs.readdirSync(keep).length === 0) {
      const batches = history(total);
      await writeLog(dir, batches);
    }
    const bytes = fs.readdirSync(dir).reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0);
    console.log(`log: ${(bytes / 1e6).toFixed(1)} MB, written (or found) in ${ms(performance.now() - t0)}`);
    console.log(`mesh: ${NAMESPACES * SERVICES_PER_NS} services, ${NAMESPACES * SERVICES_PER_NS * PODS_PER_SERVICE} proxies, permissive (every proxy gets every service)`);

    const adapters = [new EnvoyAdapter()];
    const target = uuidOf(3, 7, 2);
    const totals: number[] = [];
    const cpus: number[] = [];
    const parts: { read: number; fold: number; derive: number; resources: number }[] = [];
    for (let r = 0; r < runs; r++) {
      const a = performance.now();
      const c0 = process.cpuUsage();
      const log = await FileEventLog.open(dir, { readOnly: true, logger: silentLogger });
      const replay = await Replay.open(log, dir, { adapters });
      await log.close();
      const b = performance.now();
      // As replay.config folds for a dump: only the last event of each resource.
      const state = replay.stateAt({ type: 'head' }, { compact: true });
      const c = performance.now();
      const proxy = replay.resolve(state, target, { type: 'head' });
      const dump = replay.dump(state, proxy);
      const d = performance.now();
      totals.push(d - a);
      cpus.push(cpuMs(c0));
      parts.push({ read: b - a, fold: c - b, derive: d - c, resources: dump.types.reduce((x, t) => x + t.resources.length, 0) });
    }
    const best = parts[totals.indexOf(median(totals))]!;
    console.log(
      `replay to one proxy's config at the head: median ${ms(median(totals))} wall, ${ms(median(cpus))} cpu, of ${runs} (open+read records ${ms(best.read)}, ` +
        `compacted fold (envelopes, last event per resource) ${ms(best.fold)}, derive+dump ${ms(best.derive)}; ${best.resources} resources) -- target < 2000 ms: ${median(totals) < 2000 ? 'met' : 'NOT met'}`,
    );

    // The command as users run it: a fresh process (module loading, plugins, the Envoy protos), JSON out.
    const bin = path.join(path.dirname(require.resolve('@weft/core/package.json')), 'bin', 'weft.js');
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-replay-cli-'));
    const cli: number[] = [];
    let outBytes = 0;
    try {
      for (let r = 0; r < runs; r++) {
        const a = performance.now();
        const res = spawnSync(process.execPath, [bin, 'replay', '--log', dir, '--proxy', target], { cwd, maxBuffer: 1 << 28 });
        cli.push(performance.now() - a);
        if (res.status !== 0) throw new Error(`weft replay exited with ${String(res.status)}: ${res.stderr.toString()}`);
        outBytes = res.stdout.length;
      }
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
    console.log(
      `weft replay --log <dir> --proxy ${target} (fresh process, JSON out, ${(outBytes / 1e6).toFixed(1)} MB): median ${ms(median(cli))} wall of ${runs} ` +
        `(${cli.map(ms).join(', ')}; load average ${os.loadavg()[0]!.toFixed(1)}) -- target < 2000 ms: ${median(cli) < 2000 ? 'met' : 'NOT met'}`,
    );

    const log = await FileEventLog.open(dir, { readOnly: true, logger: silentLogger });
    const replay = await Replay.open(log, dir, { adapters });
    await log.close();
    const head = replay.timeline.lastOffset;
    let t = performance.now();
    replay.config(target, { type: 'offset', offset: Math.floor(head / 2) });
    console.log(`config at the middle of the log (--at ${Math.floor(head / 2)}), log already read: ${ms(performance.now() - t)}`);
    t = performance.now();
    const diff = replay.diff(target, { type: 'offset', offset: head - 1000 }, { type: 'head' });
    console.log(`diff across the last 1,000 events (--diff ${head - 1000}..head): ${ms(performance.now() - t)}, ${diff.types.map((x) => `${x.type} ~${x.changed.length}`).join(' ')}`);
    t = performance.now();
    let steps = 0;
    let changedProxies = 0;
    for (const s of replay.step({ proxy: target, from: { type: 'offset', offset: head - 1000 } })) {
      steps++;
      changedProxies += s.proxiesChanged;
    }
    const stepMs = performance.now() - t;
    console.log(
      `--step --proxy over the last ${steps} batches: ${ms(stepMs)} including the baseline fold (${changedProxies} batches changed the proxy)`,
    );
  } finally {
    if (keep === undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
