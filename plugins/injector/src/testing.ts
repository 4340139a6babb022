/**
 * For the tests: the kube-apiserver to run against (WEFT_KUBECONFIG, or the one deploy/kubernetes/start.sh
 * runs, started now when none runs) and a small admin client. Plugins reach Weft only through @weft/core,
 * so this does not borrow the Kubernetes plugin's helper. With CI=true the caller turns a missing
 * apiserver into a failure.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const repoRoot = path.resolve(__dirname, '../../..');
const deployDir = path.join(repoRoot, 'deploy/kubernetes');

export interface ApiServerLookup {
  /** An admin kubeconfig, or null with the reason. */
  readonly kubeconfig: string | null;
  readonly reason: string;
  /** Set when this lookup started the apiserver: stop it when done. */
  readonly stop: (() => Promise<void>) | null;
}

function running(dir: string): boolean {
  try {
    for (const p of ['etcd', 'kube-apiserver']) process.kill(Number(fs.readFileSync(path.join(dir, `${p}.pid`), 'utf8').trim()), 0);
    return true;
  } catch {
    // No pid file or no such process: no apiserver of start.sh runs there.
    return false;
  }
}

export async function findApiServer(): Promise<ApiServerLookup> {
  const env = process.env['WEFT_KUBECONFIG']?.trim();
  if (env !== undefined && env !== '') return { kubeconfig: env, reason: 'WEFT_KUBECONFIG', stop: null };
  const dir = process.env['WEFT_KUBE_RUN_DIR'] ?? path.join(deployDir, 'run');
  const wasRunning = running(dir);
  const scriptEnv = { ...process.env, WEFT_KUBE_RUN_DIR: dir };
  try {
    const { stdout } = await run(path.join(deployDir, 'start.sh'), [], { env: scriptEnv, timeout: 180_000 });
    const kubeconfig = stdout.trim().split('\n').at(-1) ?? '';
    if (!fs.existsSync(kubeconfig)) throw new Error(`start.sh printed no kubeconfig path (got ${JSON.stringify(stdout)})`);
    return {
      kubeconfig,
      reason: wasRunning ? 'deploy/kubernetes/start.sh (running)' : 'deploy/kubernetes/start.sh (started)',
      stop: wasRunning
        ? null
        : async () => {
            await run(path.join(deployDir, 'stop.sh'), [], { env: scriptEnv, timeout: 60_000 });
          },
    };
  } catch (err) {
    const e = err as Error & { stderr?: string };
    return { kubeconfig: null, reason: `no kube-apiserver: WEFT_KUBECONFIG is unset and deploy/kubernetes/start.sh failed: ${e.stderr?.trim() || e.message}`, stop: null };
  }
}

export interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** JSON requests with the kubeconfig's credentials. */
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
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new Error(`${kubeconfig} has no current cluster`);
    return new Admin(cluster.server, options);
  }

  request(method: string, p: string, body?: unknown): Promise<Answer> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = https.request(
        new URL(this.server + p),
        { ...this.options, method, headers: { ...this.options.headers, Accept: 'application/json', ...(data ? { 'Content-Type': 'application/json' } : {}) } },
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
  async ok(method: string, p: string, body?: unknown): Promise<Record<string, unknown>> {
    const a = await this.request(method, p, body);
    if (a.status < 200 || a.status > 299) throw new Error(`${method} ${p}: HTTP ${a.status}: ${String(a.body['message'] ?? JSON.stringify(a.body))}`);
    return a.body;
  }

  create(collection: string, obj: unknown): Promise<Record<string, unknown>> {
    return this.ok('POST', collection, obj);
  }
}
