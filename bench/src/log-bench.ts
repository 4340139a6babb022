/**
 * Event log benchmark: appends N events (default 100k) of realistic normalized resources (Workloads,
 * Endpoints, Services; ~300-500 B of canonical JSON each) to a FileEventLog, in 100-event batches and as
 * 1-event batches from concurrent appenders (group commit), then reads them back (open scan, read + decode)
 * and replays them into the Catalog: batch by batch (the live path) and as `weft start` does (CompactingFold).
 *
 *   npm run bench:log -w bench [-- --events 100000 --concurrency 64 --history churn|distinct --cold-runs 3]
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  silentLogger,
  type Endpoints,
  type EventInput,
  type EventLog,
  type LogBatch,
  type Service,
  type Workload,
} from '@weft/core';
import { Catalog, CompactingFold, canonicalJson, FileEventLog } from '@weft/core/testing';
import { arg, cpuMs, stringArg } from './util.js';

const NAMESPACES = 20;
const SERVICES_PER_NS = 25;
const PODS_PER_SERVICE = 40;

const meta = (namespace: string, name: string, labels: Record<string, string> = {}): Workload['meta'] => ({
  namespace,
  name,
  labels,
  annotations: {},
});

function service(ns: string, s: number): Service {
  return {
    meta: meta(ns, `svc-${s}`, { app: `svc-${s}` }),
    ports: [{ name: 'http', port: 14001, targetPort: 14001, protocol: 'TCP', appProtocol: 'http' }],
    selector: { app: `svc-${s}` },
    clusterIP: `10.96.${s}.${ns.length}`,
  };
}

function workload(ns: string, s: number, p: number, gen: number): Workload {
  return {
    meta: meta(ns, `svc-${s}-pod-${p}`, {
      app: `svc-${s}`,
      version: `v${gen % 3}`,
      'pod-template-hash': `5d8f${(s * 977 + p) % 10000}`,
      'osm-proxy-uuid': `0f0e${String(s).padStart(4, '0')}-${String(p).padStart(4, '0')}-4000-8000-00000000${String(gen % 10000).padStart(4, '0')}`,
    }),
    serviceAccount: `svc-${s}`,
    ips: [`10.${NAMESPACES + (s % 200)}.${p}.${gen % 250}`],
    ports: [
      { name: 'http', containerPort: 14001, protocol: 'TCP' },
      { name: 'metrics', containerPort: 15010, protocol: 'TCP' },
    ],
    proxyUuid: `0f0e${String(s).padStart(4, '0')}-${String(p).padStart(4, '0')}-4000-8000-00000000${String(gen % 10000).padStart(4, '0')}`,
    ready: gen % 7 !== 0,
  };
}

function endpoints(ns: string, s: number, gen: number): Endpoints {
  return {
    meta: meta(ns, `svc-${s}`),
    subsets: [
      {
        addresses: [0, 1, 2].map((k) => ({ ip: `10.${NAMESPACES + (s % 200)}.${(gen + k) % PODS_PER_SERVICE}.${k}`, workload: `${ns}/svc-${s}-pod-${(gen + k) % PODS_PER_SERVICE}` })),
        ports: [{ name: 'http', port: 14001, protocol: 'TCP', appProtocol: 'http' }],
      },
    ],
  };
}

/** Every service of the mesh (at most n), the start of both histories. */
function servicesFirst(n: number): EventInput[] {
  const out: EventInput[] = [];
  for (let ns = 0; ns < NAMESPACES && out.length < n; ns++) {
    for (let s = 0; s < SERVICES_PER_NS && out.length < n; s++) {
      const namespace = `ns-${ns}`;
      out.push({ source: 'bench', op: 'upsert', kind: 'Service', key: `${namespace}/svc-${s}`, body: service(namespace, s) });
    }
  }
  return out;
}

/** A mesh's history: services first, then pods coming and going and endpoints following them. */
export function meshEvents(n: number): EventInput[] {
  const out = servicesFirst(n);
  for (let i = 0; out.length < n; i++) {
    const ns = `ns-${i % NAMESPACES}`;
    const s = Math.floor(i / NAMESPACES) % SERVICES_PER_NS;
    const p = Math.floor(i / (NAMESPACES * SERVICES_PER_NS)) % PODS_PER_SERVICE;
    const gen = Math.floor(i / (NAMESPACES * SERVICES_PER_NS * PODS_PER_SERVICE));
    const key = `${ns}/svc-${s}-pod-${p}`;
    if (i % 4 === 3) out.push({ source: 'bench', op: 'upsert', kind: 'Endpoints', key: `${ns}/svc-${s}`, body: endpoints(ns, s, i) });
    else if (i % 23 === 22) out.push({ source: 'bench', op: 'delete', kind: 'Workload', key });
    else out.push({ source: 'bench', op: 'upsert', kind: 'Workload', key, body: workload(ns, s, p, gen + i) });
  }
  return out;
}

/**
 * The start-up fold's worst case: no churn, every event a different resource (a first list of a large mesh),
 * so every body is parsed and indexed.
 */
export function distinctEvents(n: number): EventInput[] {
  const out = servicesFirst(n);
  for (let i = 0; out.length < n; i++) {
    const ns = `ns-${i % NAMESPACES}`;
    const s = Math.floor(i / NAMESPACES) % SERVICES_PER_NS;
    const p = Math.floor(i / (NAMESPACES * SERVICES_PER_NS));
    const w = workload(ns, s, p, 0);
    const name = `svc-${s}-pod-${p}`;
    out.push({ source: 'bench', op: 'upsert', kind: 'Workload', key: `${ns}/${name}`, body: { ...w, meta: { ...w.meta, name } } });
  }
  return out;
}

function rate(events: number, ms: number): string {
  return `${Math.round(events / (ms / 1000)).toLocaleString('en-US')} events/s`;
}

let lastCpuMs = 0;
async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await fn();
  const ms = performance.now() - t0;
  lastCpuMs = cpuMs(c0);
  return [r, ms];
}

const cpu = (events: number): string => `cpu ${lastCpuMs.toFixed(0)} ms = ${rate(events, lastCpuMs)} per cpu`;

/**
 * Reads every batch of a log and hands it to `apply`: the replay path. With `apply` a catalog's, this is
 * start-up replay; with a no-op it measures read + decode alone.
 */
export async function replay(
  log: EventLog,
  apply: (batch: LogBatch) => void,
): Promise<{ events: number; ms: number; cpuMs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let events = 0;
  for await (const batch of log.read(0)) {
    apply(batch);
    events += batch.events.length;
  }
  return { events, ms: performance.now() - t0, cpuMs: cpuMs(c0) };
}

async function main(): Promise<void> {
  const total = arg('events', 100_000);
  const concurrency = arg('concurrency', 64);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-log-bench-'));
  const lines: string[] = [];
  const say = (s: string): void => {
    lines.push(s);
    console.log(s);
  };
  try {
    const history = stringArg('history') ?? 'churn';
    if (history !== 'churn' && history !== 'distinct') throw new Error(`--history ${history}: use churn (pods coming and going) or distinct (every event a new resource)`);
    const events = history === 'churn' ? meshEvents(total) : distinctEvents(total);
    const bodyBytes = events.reduce((sum, e) => sum + (e.body === undefined ? 0 : Buffer.byteLength(canonicalJson(e.body))), 0);
    const withBody = events.filter((e) => e.body !== undefined).length;
    say(`log bench: ${total} events (${history} history), mean body ${Math.round(bodyBytes / withBody)} B (canonical JSON), node ${process.version}, ${os.cpus().length} cpus`);

    // 1. 100 events per batch, one append at a time.
    const dirA = path.join(root, 'batch100');
    const logA = await FileEventLog.open(dirA, { logger: silentLogger });
    const [, msA] = await timed(async () => {
      for (let i = 0; i < total; i += 100) await logA.append(events.slice(i, i + 100));
    });
    const statsA = logA.stats();
    await logA.close();
    const bytesA = fs.readdirSync(dirA).filter((f) => f.endsWith('.seg')).reduce((s, f) => s + fs.statSync(path.join(dirA, f)).size, 0);
    say(`append, 100 per batch, sequential: ${rate(total, msA)} (${msA.toFixed(0)} ms, ${cpu(total)}, ${statsA.syncs} syncs, ${(bytesA / 1048576).toFixed(1)} MiB on disk)`);

    // 2. 1 event per batch from concurrent appenders: group commit.
    const dirB = path.join(root, 'batch1');
    const logB = await FileEventLog.open(dirB, { logger: silentLogger });
    let next = 0;
    const [, msB] = await timed(async () => {
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < total) {
            const e = events[next++]!;
            await logB.append([e]);
          }
        }),
      );
    });
    const statsB = logB.stats();
    await logB.close();
    say(
      `append, 1 per batch, ${concurrency} concurrent appenders: ${rate(total, msB)} (${msB.toFixed(0)} ms, ${cpu(total)}, ` +
        `${statsB.syncs} syncs, ${(statsB.batches / statsB.syncs).toFixed(1)} batches per sync)`,
    );

    // 3. Open (verifies every record) and read + decode.
    for (const [label, dir] of [
      ['100-event batches', dirA],
      ['1-event batches', dirB],
    ] as const) {
      const [log, msOpen] = await timed(() => FileEventLog.open(dir, { readOnly: true, logger: silentLogger }));
      const r = await replay(log, () => undefined);
      await log.close();
      if (r.events !== total) throw new Error(`read ${r.events} events from ${label}, wrote ${total}`);
      say(
        `open + verify (${label}): ${msOpen.toFixed(0)} ms (${rate(total, msOpen)}, ${cpu(total)}); ` +
          `read + decode: ${rate(r.events, r.ms)} (${r.ms.toFixed(0)} ms, cpu ${r.cpuMs.toFixed(0)} ms = ${rate(r.events, r.cpuMs)} per cpu)`,
      );
    }

    // 4. Replay into the catalog batch by batch (read + decode + apply): the live path, exact provenance.
    {
      const [log, msOpen] = await timed(() => FileEventLog.open(dirA, { readOnly: true, logger: silentLogger }));
      const catalog = new Catalog();
      let applyMs = 0;
      const r = await replay(log, (batch) => {
        const t0 = performance.now();
        catalog.apply(batch);
        applyMs += performance.now() - t0;
      });
      await log.close();
      say(
        `replay into Catalog batch by batch (100-event batches, the live path): ${rate(r.events, r.ms)} read+decode+apply (${r.ms.toFixed(0)} ms, ` +
          `of which apply ${applyMs.toFixed(0)} ms; cpu ${r.cpuMs.toFixed(0)} ms = ${rate(r.events, r.cpuMs)} per cpu); ` +
          `with open ${rate(r.events, r.ms + msOpen)}; ` +
          `${catalog.size('Workload')} workloads, ${catalog.size('Endpoints')} endpoints, ${catalog.size('Service')} services`,
      );
    }

    // 5. The start-up replay, as `weft start` does it: open the log for writing (every record verified), scan
    //    the envelopes and fold each resource's last event into the catalog (CompactingFold).
    {
      const [r, ms] = await timed(async () => {
        const t0 = performance.now();
        const log = await FileEventLog.open(dirA, { logger: silentLogger, keepRecords: true });
        const tOpen = performance.now() - t0;
        const fold = new CompactingFold();
        for await (const events of log.readEncoded(0)) fold.add(events);
        const tScan = performance.now() - t0 - tOpen;
        const catalog = fold.finish();
        const tFinish = performance.now() - t0 - tOpen - tScan;
        await log.close();
        return { catalog, events: fold.events, kept: fold.resources, tOpen, tScan, tFinish };
      });
      if (r.events !== total) throw new Error(`start-up replay folded ${r.events} events, wrote ${total}`);
      say(
        `start-up replay into Catalog (open + verify + scan + fold last events, as weft start): ${rate(r.events, ms)} ` +
          `(${ms.toFixed(0)} ms: open ${r.tOpen.toFixed(0)}, scan ${r.tScan.toFixed(0)}, parse + index ${r.kept} resources ${r.tFinish.toFixed(0)}; ${cpu(total)}); ` +
          `${r.catalog.size('Workload')} workloads, ${r.catalog.size('Endpoints')} endpoints, ${r.catalog.size('Service')} services`,
      );
    }

    // 6. The same from a cold process: `weft start` on this log (no plugins), three times; the time it logs for
    //    the start-up replay (open included), and from spawn to `ready`.
    const coldRuns = arg('cold-runs', 3);
    const runs: { replayMs: number; cpuMs: number; readyMs: number }[] = [];
    for (let i = 0; i < coldRuns; i++) runs.push(await coldStart(root, dirA));
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const replayMs = median(runs.map((r) => r.replayMs));
    const replayCpu = median(runs.map((r) => r.cpuMs));
    say(
      `cold weft start on this log (median of ${coldRuns}): start-up replay ${replayMs} ms = ${rate(total, replayMs)}, ` +
        `cpu ${replayCpu} ms = ${rate(total, replayCpu)} per cpu (runs ${runs.map((r) => `${r.replayMs}/${r.cpuMs}`).join(', ')} ms wall/cpu); ` +
        `spawn to ready ${median(runs.map((r) => r.readyMs))} ms`,
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Runs `weft start` over `logDir` until it is ready; returns the replay time it logged and the time to ready. */
async function coldStart(root: string, logDir: string): Promise<{ replayMs: number; cpuMs: number; readyMs: number }> {
  const config = path.join(root, 'cold.yaml');
  fs.writeFileSync(
    config,
    [`log: ${JSON.stringify(`file:${logDir}`)}`, `dataDir: ${JSON.stringify(path.join(root, 'cold-data'))}`, 'xds: { host: 127.0.0.1, port: 0, insecure: true }', 'metrics: { enabled: false }', 'plugins: []', ''].join('\n'),
  );
  const bin = path.join(path.dirname(require.resolve('@weft/core/package.json')), 'bin', 'weft.js');
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, 'start', '--config', config, '--insecure'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let replayMs = -1;
  let cpuMs = -1;
  let stderr = '';
  try {
    const readyMs = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`weft start was not ready within 60 s:\n${stderr}`)), 60_000);
      child.on('exit', (code) => reject(new Error(`weft start exited with ${String(code)}:\n${stderr}`)));
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        stderr += chunk;
        for (const line of stderr.split('\n')) {
          if (!line.startsWith('{')) continue;
          const rec = JSON.parse(line) as { msg?: string; ms?: number; cpuMs?: number };
          if (rec.msg === 'log replayed into the catalog' && typeof rec.ms === 'number') {
            replayMs = rec.ms;
            cpuMs = rec.cpuMs ?? -1;
          }
          if (rec.msg === 'ready') {
            clearTimeout(timer);
            resolve(Math.round(performance.now() - t0));
          }
        }
        stderr = stderr.slice(stderr.lastIndexOf('\n') + 1);
      });
    });
    if (replayMs < 0) throw new Error('weft start logged no "log replayed into the catalog" line');
    return { replayMs, cpuMs, readyMs };
  } finally {
    child.removeAllListeners('exit');
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
