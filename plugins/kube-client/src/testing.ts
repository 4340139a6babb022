/**
 * For the tests of every package that talks to Kubernetes: finds a kube-apiserver (WEFT_KUBECONFIG, or the
 * one deploy/kubernetes/start.sh runs, starting it when none runs) and a small admin client to change
 * objects in it. With CI=true an apiserver that cannot be found or started is a test failure, never a skip
 * (the callers check that).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const repoRoot = path.resolve(__dirname, '../../..');
export const deployDir = path.join(repoRoot, 'deploy/kubernetes');

export interface ApiServerLookup {
  /** A kubeconfig file for an admin identity, or null with the reason. */
  readonly kubeconfig: string | null;
  readonly reason: string;
  /** etcd's client URL (the tests compact it), when known: WEFT_ETCD_ENDPOINT or start.sh's etcd-endpoint. */
  readonly etcd: string | null;
  /** Stop it when done: this lookup started it. */
  readonly stop: (() => Promise<void>) | null;
}

const runDir = (): string => process.env['WEFT_KUBE_RUN_DIR'] ?? path.join(deployDir, 'run');

function running(dir: string): boolean {
  try {
    for (const p of ['etcd', 'kube-apiserver']) process.kill(Number(fs.readFileSync(path.join(dir, `${p}.pid`), 'utf8').trim()), 0);
    return true;
  } catch {
    // No pid file, or no such process: no apiserver of ours runs there.
    return false;
  }
}

/** The test apiserver: WEFT_KUBECONFIG, else the one start.sh runs (started now when none runs). */
export async function findApiServer(): Promise<ApiServerLookup> {
  const env = process.env['WEFT_KUBECONFIG'];
  if (env !== undefined && env.trim() !== '') {
    return { kubeconfig: env.trim(), reason: 'WEFT_KUBECONFIG', etcd: process.env['WEFT_ETCD_ENDPOINT'] ?? null, stop: null };
  }
  const dir = runDir();
  const wasRunning = running(dir);
  const scriptEnv = { ...process.env, WEFT_KUBE_RUN_DIR: dir };
  try {
    const { stdout } = await run(path.join(deployDir, 'start.sh'), [], { env: scriptEnv, timeout: 180_000 });
    const kubeconfig = stdout.trim().split('\n').at(-1) ?? '';
    if (!fs.existsSync(kubeconfig)) throw new Error(`start.sh printed no kubeconfig path (got ${JSON.stringify(stdout)})`);
    return {
      kubeconfig,
      etcd: fs.readFileSync(path.join(dir, 'etcd-endpoint'), 'utf8').trim(),
      reason: wasRunning ? 'deploy/kubernetes/start.sh (running)' : 'deploy/kubernetes/start.sh (started)',
      stop: wasRunning
        ? null
        : async () => {
            await run(path.join(deployDir, 'stop.sh'), [], { env: scriptEnv, timeout: 60_000 });
          },
    };
  } catch (err) {
    const e = err as Error & { stderr?: string };
    return {
      kubeconfig: null,
      reason: `no kube-apiserver: WEFT_KUBECONFIG is unset and deploy/kubernetes/start.sh failed: ${e.stderr?.trim() || e.message}`,
      etcd: null,
      stop: null,
    };
  }
}

export interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** An admin client for the tests: plain JSON requests with the kubeconfig's credentials. */
export class Admin {
  private constructor(
    private readonly server: string,
    private readonly options: https.RequestOptions,
  ) {}

  static async open(kubeconfig: string): Promise<Admin> {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    const options: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(options);
    return new Admin(kc.getCurrentCluster()!.server, options);
  }

  request(method: string, p: string, body?: unknown, contentType = 'application/json'): Promise<Answer> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = https.request(
        new URL(this.server + p),
        {
          ...this.options,
          method,
          headers: { ...this.options.headers, Accept: 'application/json', ...(data ? { 'Content-Type': contentType } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  /** A request that must succeed (2xx); the apiserver's message otherwise. */
  async ok(method: string, p: string, body?: unknown, contentType?: string): Promise<Record<string, unknown>> {
    const a = await this.request(method, p, body, contentType);
    if (a.status < 200 || a.status > 299) throw new Error(`${method} ${p}: HTTP ${a.status}: ${String(a.body['message'] ?? JSON.stringify(a.body))}`);
    return a.body;
  }

  create(collection: string, obj: unknown): Promise<Record<string, unknown>> {
    return this.ok('POST', collection, obj);
  }

  /** A JSON merge patch of one object (or its /status). */
  patch(objectPath: string, patch: unknown): Promise<Record<string, unknown>> {
    return this.ok('PATCH', objectPath, patch, 'application/merge-patch+json');
  }

  delete(objectPath: string): Promise<Record<string, unknown>> {
    return this.ok('DELETE', objectPath);
  }
}

/**
 * Compacts etcd's history up to its current revision (through its JSON gateway), as the apiserver's own
 * compactor does every few minutes: a watch from an older resourceVersion then gets 410 Gone.
 */
export async function compactEtcd(endpoint: string): Promise<number> {
  const post = async (p: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(endpoint + p, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`POST ${endpoint}${p}: HTTP ${res.status}: ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const head = (await post('/v3/kv/range', { key: Buffer.from('/').toString('base64') }))['header'] as { revision: string };
  await post('/v3/kv/compaction', { revision: head.revision, physical: true });
  return Number(head.revision);
}
