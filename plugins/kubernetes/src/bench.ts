/**
 * The figures in README.md "Measured": the source over a cluster of 2,000 Pods and 200 Services (plus
 * whatever else the apiserver holds), against the test apiserver (deploy/kubernetes/start.sh):
 *
 *   npx tsc -b plugins/kubernetes && node --expose-gc plugins/kubernetes/dist/bench.js
 *
 * It creates its objects in a namespace of its own (weft-bench-<random>), then measures the initial list
 * (start() until the batch is appended), a restart over the unchanged cluster, the time from a Service
 * PATCH to the change in the catalog (20 changes), and the heap the running source holds.
 */
import { randomBytes } from 'node:crypto';
import { silentLogger } from '@weft/core';
import { builtinBackends, Catalog, createSourceSink } from '@weft/core/testing';
import { KubernetesSource } from './source.js';
import { connectKubernetes } from '@weft/kube-client';
import { Admin, findApiServer } from './testing.js';

const PODS = Number(process.env['BENCH_PODS'] ?? 2000);
const SERVICES = Number(process.env['BENCH_SERVICES'] ?? 200);
const CHANGES = 20;

async function main(): Promise<void> {
  const found = await findApiServer();
  if (found.kubeconfig === null) throw new Error(found.reason);
  const admin = await Admin.open(found.kubeconfig);
  const ns = `weft-bench-${randomBytes(3).toString('hex')}`;
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await admin.create(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web' } });
  const t0 = Date.now();
  const queue: (() => Promise<unknown>)[] = [];
  for (let i = 0; i < SERVICES; i++) {
    queue.push(() =>
      admin.create(`/api/v1/namespaces/${ns}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: `svc-${i}` },
        spec: { selector: { app: `svc-${i}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      }),
    );
  }
  for (let i = 0; i < PODS; i++) {
    queue.push(async () => {
      await admin.create(`/api/v1/namespaces/${ns}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `pod-${i}`, labels: { app: `svc-${i % SERVICES}` } },
        spec: { serviceAccountName: 'web', automountServiceAccountToken: false, containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      });
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      await admin.patch(`/api/v1/namespaces/${ns}/pods/pod-${i}/status`, {
        status: { podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] },
      });
    });
  }
  // Eight requests at a time: quick to fill, without swamping the shared apiserver.
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let job = queue.shift(); job !== undefined; job = queue.shift()) await job();
    }),
  );
  console.log(`created ${SERVICES} Services and ${PODS} Pods in ${ns} in ${Date.now() - t0} ms`);

  const memory = builtinBackends(silentLogger).find((b) => b.scheme === 'memory')!;
  const log = await memory.open('memory:');
  const catalog = new Catalog();
  let events = 0;
  const sub = log.follow(0, (b) => {
    events += b.events.length;
    catalog.apply(b);
  });
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;

  const client = await connectKubernetes({ kubeconfig: found.kubeconfig });
  const make = (): KubernetesSource =>
    new KubernetesSource({ name: 'kubernetes', client, watchTimeoutSeconds: 300, retryMs: 1000, missingKindRetryMs: 30_000, logger: silentLogger });

  let source = make();
  let t = process.hrtime.bigint();
  await source.start(createSourceSink(source, log, catalog, silentLogger));
  const initialMs = Number(process.hrtime.bigint() - t) / 1e6;
  while (catalog.lastOffset < log.head() - 1) await new Promise((r) => setImmediate(r));
  const objects = events;
  await source.stop();

  source = make();
  t = process.hrtime.bigint();
  await source.start(createSourceSink(source, log, catalog, silentLogger));
  const restartMs = Number(process.hrtime.bigint() - t) / 1e6;

  const lags: number[] = [];
  for (let i = 1; i <= CHANGES; i++) {
    const port = 1000 + i;
    t = process.hrtime.bigint();
    await admin.patch(`/api/v1/namespaces/${ns}/services/svc-0`, { spec: { ports: [{ name: 'http', port, targetPort: 8080 }] } });
    while (catalog.get('Service', `${ns}/svc-0`)?.ports[0]?.port !== port) await new Promise((r) => setImmediate(r));
    lags.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  gc?.();
  const heapAfter = process.memoryUsage().heapUsed;
  const rss = process.memoryUsage().rss;
  await source.stop();
  await sub.close();
  await log.close();

  lags.sort((a, b) => a - b);
  const mib = (n: number): string => (n / 1024 / 1024).toFixed(1);
  console.log(`objects in the initial batch (all namespaces): ${objects}`);
  console.log(`initial list, validate, reconcile, append: ${initialMs.toFixed(0)} ms`);
  console.log(`restart over the unchanged cluster: ${restartMs.toFixed(0)} ms`);
  console.log(`Service PATCH -> catalog over ${CHANGES}: median ${lags[CHANGES >> 1]!.toFixed(1)} ms, max ${lags.at(-1)!.toFixed(1)} ms`);
  console.log(`heap held by the running source, catalog and memory log: ${mib(heapAfter - heapBefore)} MiB (rss ${mib(rss)} MiB)`);
  // The test apiserver runs no namespace controller: deleting the namespace would leave its objects behind.
  await admin.delete(`/api/v1/namespaces/${ns}/pods`);
  await admin.delete(`/api/v1/namespaces/${ns}/services`);
  await admin.delete(`/api/v1/namespaces/${ns}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
