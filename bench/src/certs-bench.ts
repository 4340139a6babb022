/**
 * Certificate issuance cost per workload certificate, key generation included:
 * ECDSA P-256 (forge ASN.1 structure + Node crypto key and signature) vs RSA 2048 (forge's certificate API).
 *
 *   npm run bench:certs -w bench -- [--n 10000] [--rsa-n 200] [--json]
 */
import { performance } from 'node:perf_hooks';
import { X509Certificate } from 'node:crypto';
import { serviceCertificateRequest } from '@weft/core';
import { LocalCa, type KeyAlgorithm } from '@weft/plugin-ca-local';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`--${name} must be a positive whole number (got ${process.argv[i + 1] ?? 'nothing'})`);
  }
  return value;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

interface Result {
  readonly algorithm: KeyAlgorithm;
  readonly path: string;
  readonly n: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  /** Process CPU time per certificate (user + system): the figure to compare when the machine is shared. */
  readonly cpuMeanMs: number;
  readonly totalS: number;
}

async function run(algorithm: KeyAlgorithm, n: number): Promise<Result> {
  const ca = await LocalCa.open({ keyAlgorithm: algorithm });
  const warmup = Math.min(50, Math.ceil(n / 10));
  for (let i = 0; i < warmup; i++) await ca.issue(serviceCertificateRequest({ namespace: 'bench', serviceAccount: `warm-${i}` }));
  const times: number[] = [];
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  let last = '';
  for (let i = 0; i < n; i++) {
    const request = serviceCertificateRequest({ namespace: `ns-${i % 100}`, serviceAccount: `sa-${i}` });
    const t0 = performance.now();
    last = (await ca.issue(request)).certPem;
    times.push(performance.now() - t0);
  }
  const totalS = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // Sanity: the last certificate really is signed by the root.
  const root = new X509Certificate(ca.trustBundle()[0]!);
  if (!new X509Certificate(last).verify(root.publicKey)) throw new Error(`${algorithm}: the issued certificate does not verify`);
  times.sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    algorithm,
    path: algorithm === 'ecdsa-p256' ? 'forge ASN.1 + node crypto' : 'forge pki (native keygen via forge)',
    n,
    medianMs: round(quantile(times, 0.5)),
    p99Ms: round(quantile(times, 0.99)),
    meanMs: round(times.reduce((s, x) => s + x, 0) / n),
    cpuMeanMs: round((cpu.user + cpu.system) / 1000 / n),
    totalS: round(totalS),
  };
}

async function main(): Promise<void> {
  const n = arg('n', 10_000);
  const rsaN = arg('rsa-n', 200);
  const results = [await run('ecdsa-p256', n), await run('rsa-2048', rsaN)];
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ bench: 'certs', node: process.version, results })}\n`);
    return;
  }
  process.stdout.write('algorithm    path                                   n       median ms  p99 ms    mean ms   cpu/cert ms  total s\n');
  for (const r of results) {
    process.stdout.write(
      `${r.algorithm.padEnd(12)} ${r.path.padEnd(38)} ${String(r.n).padEnd(7)} ${String(r.medianMs).padEnd(10)} ` +
        `${String(r.p99Ms).padEnd(9)} ${String(r.meanMs).padEnd(9)} ${String(r.cpuMeanMs).padEnd(12)} ${r.totalS}\n`,
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exitCode = 1;
});
