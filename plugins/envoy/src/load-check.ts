/**
 * Test support: runs the Envoy checker under test/envoy-validate over whole proxy configurations — what one
 * proxy is served (listeners, routes, clusters, endpoints, secrets) — with the rules Envoy applies when it
 * loads them together: every RDS/CDS/EDS/SDS name referenced is served, filter chain matches do not overlap,
 * the router is the last HTTP filter, virtual-host domains and listener addresses are unique, cluster
 * discovery types agree with how endpoints arrive, TLS contexts have their secrets. Also runs go-control-plane's
 * ValidateAll on each resource. The rules and the Envoy sources they follow: test/envoy-validate/README.md.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TypeUrl, type EncodedResource } from '@weft/core';

export const CHECKER_DIR = path.resolve(__dirname, '..', '..', '..', 'test', 'envoy-validate');
export const CHECKER = path.join(CHECKER_DIR, 'bin', 'envoy-validate');

/** Makes sure the checker binary exists: with CI=true a missing one fails the test; elsewhere it is built. */
export function ensureChecker(): void {
  if (fs.existsSync(CHECKER)) return;
  if (process.env.CI === 'true') {
    assert.fail(`${CHECKER} is missing: CI must run test/envoy-validate/build.sh before the tests`);
  }
  const build = spawnSync(path.join(CHECKER_DIR, 'build.sh'), [], { encoding: 'utf8' });
  assert.equal(build.status, 0, `building the checker failed (needs Go and the Go module proxy):\n${build.stdout}${build.stderr}`);
}

/** One served resource as the checker reads it: the wire Any, or proto3 JSON of the message. */
export interface CheckerResource {
  readonly name: string;
  readonly any?: string;
  readonly json?: unknown;
}

/** One proxy's whole configuration, by section. */
export interface ProxyConfigInput {
  readonly proxy: string;
  readonly listeners: readonly CheckerResource[];
  readonly routes: readonly CheckerResource[];
  readonly clusters: readonly CheckerResource[];
  readonly endpoints: readonly CheckerResource[];
  readonly secrets: readonly CheckerResource[];
}

export interface LoadViolation {
  readonly proxy: string;
  /** Rule id, e.g. rds-served, filter-chain-unique (see test/envoy-validate/README.md). */
  readonly rule: string;
  readonly type: string;
  readonly resource: string;
  readonly reason: string;
}

export interface LoadReport {
  readonly proxies: number;
  readonly resources: number;
  readonly violations: readonly LoadViolation[];
}

const SECTION: Readonly<Record<string, keyof Omit<ProxyConfigInput, 'proxy'>>> = {
  [TypeUrl.Listener]: 'listeners',
  [TypeUrl.RouteConfiguration]: 'routes',
  [TypeUrl.Cluster]: 'clusters',
  [TypeUrl.ClusterLoadAssignment]: 'endpoints',
  [TypeUrl.Secret]: 'secrets',
};

/** Builds the checker's input for one proxy from the resources it is served (any type order). */
export function proxyConfig(proxy: string, resources: Iterable<EncodedResource>): ProxyConfigInput {
  const sections: Record<keyof Omit<ProxyConfigInput, 'proxy'>, CheckerResource[]> = { listeners: [], routes: [], clusters: [], endpoints: [], secrets: [] };
  for (const r of resources) {
    const section = SECTION[r.typeUrl];
    if (section === undefined) throw new Error(`${proxy}: ${r.name} has type ${r.typeUrl}, which is not part of an Envoy proxy's configuration`);
    sections[section].push({ name: r.name, any: Buffer.from(r.any).toString('base64') });
  }
  return { proxy, ...sections };
}

/** Runs the checker in whole-proxy mode. `status` is 0 (no violation), 1 (violations) or 2 (bad input). */
export function checkProxies(proxies: readonly ProxyConfigInput[]): { status: number | null; report: LoadReport; raw: string } {
  const input = proxies.map((p) => JSON.stringify(p)).join('\n') + '\n';
  const res = spawnSync(CHECKER, ['-proxy', '-format', 'json'], { input, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (res.error !== undefined) throw res.error;
  const raw = res.stdout + res.stderr;
  if (res.status === 2) return { status: res.status, report: { proxies: 0, resources: 0, violations: [] }, raw };
  return { status: res.status, report: JSON.parse(res.stdout) as LoadReport, raw };
}

/** One line per violation, for assertion messages. */
export function formatViolations(violations: readonly LoadViolation[]): string {
  return violations.map((v) => `${v.proxy} [${v.rule}] ${v.type} "${v.resource}": ${v.reason}`).join('\n');
}

/**
 * The checker as one long-running process fed proxy by proxy, for runs too large to hold in memory at once:
 * it checks while the caller translates the next mesh (two cores busy instead of one), and reports once, at
 * `finish()`. Writes wait for the pipe to drain, so at most a pipe's worth of input is buffered.
 */
export class StreamingChecker {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly exited: Promise<{ status: number | null; stdout: string; stderr: string }>;
  private sent = 0;

  constructor() {
    this.child = spawn(CHECKER, ['-proxy', '-format', 'json']);
    let stdout = '';
    let stderr = '';
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    this.exited = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
  }

  /** Proxies sent so far. */
  get count(): number {
    return this.sent;
  }

  async send(proxy: ProxyConfigInput): Promise<void> {
    this.sent++;
    if (!this.child.stdin.write(JSON.stringify(proxy) + '\n')) await once(this.child.stdin, 'drain');
  }

  /** Closes the input and returns the report; `status` as for `checkProxies`. */
  async finish(): Promise<{ status: number | null; report: LoadReport; raw: string }> {
    this.child.stdin.end();
    const { status, stdout, stderr } = await this.exited;
    const raw = stdout + stderr;
    if (status === 2) return { status, report: { proxies: 0, resources: 0, violations: [] }, raw };
    return { status, report: JSON.parse(stdout) as LoadReport, raw };
  }
}
