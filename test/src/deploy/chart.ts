/**
 * For the chart's tests: Helm (deploy/helm/bin/helm from deploy/helm/build.sh, or $WEFT_HELM), rendering
 * the chart with values, and the object paths of the Kubernetes API for server-side apply.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const CHART = path.join(REPO, 'deploy', 'helm', 'weft');
export const HELM = process.env['WEFT_HELM'] ?? path.join(REPO, 'deploy', 'helm', 'bin', 'helm');

export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
};

export interface HelmRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Why Helm cannot run here, or null when it can. */
export function helmMissing(): string | null {
  return fs.existsSync(HELM) ? null : `no helm at ${HELM}: run deploy/helm/build.sh once (builds Helm 4 from the Go module proxy), or set WEFT_HELM`;
}

export function helm(args: readonly string[]): Promise<HelmRun> {
  return new Promise((resolve, reject) => {
    // HELM_* homes in a scratch folder: nothing of the user's Helm setup (repositories, plugins) is read.
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-helm-home-'));
    const env = { ...process.env, HELM_CACHE_HOME: home, HELM_CONFIG_HOME: home, HELM_DATA_HOME: home };
    execFile(HELM, args, { env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      fs.rmSync(home, { recursive: true, force: true });
      if (err !== null && typeof err.code !== 'number') return reject(err);
      resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
    });
  });
}

export interface RenderOptions {
  readonly release?: string;
  readonly namespace?: string;
  readonly includeCrds?: boolean;
}

/** `helm template` with a values file made of `values`; the run, with its documents when it succeeded. */
export async function render(values: Record<string, unknown>, options: RenderOptions = {}): Promise<HelmRun & { docs: K8sObject[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-helm-values-'));
  try {
    const file = path.join(dir, 'values.yaml');
    fs.writeFileSync(file, stringify(values));
    const args = ['template', options.release ?? 'weft', CHART, '--namespace', options.namespace ?? 'weft-system', '-f', file];
    if (options.includeCrds === true) args.push('--include-crds');
    const run = await helm(args);
    const docs = run.code === 0 ? parseAllDocuments(run.stdout).map((d) => d.toJS() as K8sObject | null).filter((d): d is K8sObject => d !== null) : [];
    return { ...run, docs };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function find(docs: readonly K8sObject[], kind: string, nameEnds = ''): K8sObject {
  const found = docs.filter((d) => d.kind === kind && d.metadata.name.endsWith(nameEnds));
  if (found.length !== 1) throw new Error(`expected one ${kind} named *${nameEnds}, found ${found.map((d) => d.metadata.name).join(', ') || 'none'}`);
  return found[0]!;
}

const PLURALS: Record<string, string> = {
  ServiceAccount: 'serviceaccounts',
  Secret: 'secrets',
  ConfigMap: 'configmaps',
  Service: 'services',
  PersistentVolumeClaim: 'persistentvolumeclaims',
  Deployment: 'deployments',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  MutatingWebhookConfiguration: 'mutatingwebhookconfigurations',
  CustomResourceDefinition: 'customresourcedefinitions',
};
const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'CustomResourceDefinition']);

/** The API path of an object (what kubectl apply --server-side PATCHes). */
export function objectPath(o: K8sObject): string {
  const plural = PLURALS[o.kind];
  if (plural === undefined) throw new Error(`the chart renders a ${o.kind}, which this test does not know the API path of`);
  const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  const ns = CLUSTER_SCOPED.has(o.kind) ? '' : `/namespaces/${o.metadata.namespace}`;
  return `${base}${ns}/${plural}/${o.metadata.name}`;
}

export function isClusterScoped(o: K8sObject): boolean {
  return CLUSTER_SCOPED.has(o.kind);
}
