/**
 * Garbage collection of proxy bootstrap Secrets. At admission the pod has no UID yet, so its Secret cannot
 * carry an owner reference and Kubernetes never deletes it. The collector does: a watch of injected pods
 * deletes a pod's Secret when the pod goes, and a periodic sweep deletes Secrets no pod has the uuid of
 * (missed deletions, admissions that failed after the Secret was written) once they are older than a
 * grace period. Only Secrets the injector writes are touched: both labels set and the name it gives them.
 * Failures are logged and left to the next sweep; nothing here throws into Weft.
 */
import { MONITORED_BY_LABEL, PROXY_UUID_LABEL, type Logger } from '@weft/core';
import type { KubernetesApiError } from '@weft/kube-client';
import type { InjectorKube, ObjectMetadata, WatchEvent, WatchHandle } from './cluster.js';
import { proxySecretName } from './patch.js';

export interface SecretCollectorOptions {
  readonly kube: Pick<InjectorKube, 'listMetadata' | 'watchPods' | 'deleteSecret'>;
  readonly meshName: string;
  /** Interval of the sweep; one also runs at start. */
  readonly sweepMs: number;
  /** A Secret without a pod is swept only when older than this (its pod may still be in admission). */
  readonly graceMs: number;
  readonly logger: Logger;
  /** Asked of the server for each pod watch; it then ends the watch and the collector resumes. */
  readonly watchTimeoutSeconds?: number;
  /** Wait before a failed pod list or watch is tried again. */
  readonly retryMs?: number;
  /** For tests; Date.now otherwise. */
  readonly now?: () => number;
}

export interface SweepResult {
  /** `namespace/name` of the Secrets deleted. */
  readonly deleted: readonly string[];
  /** Injector Secrets left: their pod exists, or they are younger than the grace period. */
  readonly kept: number;
  /** Deletions that failed (logged; the next sweep tries again). */
  readonly failed: number;
}

/** Whether the injector wrote this Secret (for this mesh), and the uuid it belongs to. */
export function injectorSecretUuid(secret: Pick<ObjectMetadata, 'name' | 'labels'>, meshName: string): string | undefined {
  const uuid = secret.labels[PROXY_UUID_LABEL];
  if (uuid === undefined || uuid === '' || secret.labels[MONITORED_BY_LABEL] !== meshName) return undefined;
  return secret.name === proxySecretName(uuid) ? uuid : undefined;
}

const podKey = (namespace: string, uuid: string): string => `${namespace}/${uuid}`;

export class SecretCollector {
  /** Injected pods seen by the watch: `namespace/name` -> uuid. */
  private readonly pods = new Map<string, string>();
  private resourceVersion = '';
  private watch: WatchHandle | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private running = false;
  /** Sweeps run one after another: a sweep asked for while one runs lists afresh after it. */
  private sweeping: Promise<unknown> = Promise.resolve();
  private readonly podSelector = PROXY_UUID_LABEL;
  private readonly secretSelector: string;
  private readonly now: () => number;

  constructor(private readonly options: SecretCollectorOptions) {
    this.secretSelector = `${PROXY_UUID_LABEL},${MONITORED_BY_LABEL}=${options.meshName}`;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.relist();
    void this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepMs);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.sweepTimer);
    clearTimeout(this.retryTimer);
    this.watch?.stop();
    this.watch = undefined;
    await this.sweeping;
  }

  /** One sweep, after any running one; never rejects (failures are logged and counted). */
  sweep(): Promise<SweepResult> {
    const next = this.sweeping.then(() => this.sweepOnce());
    this.sweeping = next;
    return next;
  }

  private async sweepOnce(): Promise<SweepResult> {
    const { kube, graceMs, logger } = this.options;
    const deleted: string[] = [];
    let kept = 0;
    let failed = 0;
    try {
      // Secrets first, then pods: a Secret listed old enough to sweep had its pod created long before the pod
      // list, so a pod that exists is always in it.
      const secrets = await kube.listMetadata('secrets', this.secretSelector);
      const pods = await kube.listMetadata('pods', this.podSelector);
      const alive = new Set(pods.items.map((p) => podKey(p.namespace, p.labels[PROXY_UUID_LABEL] ?? '')));
      const now = this.now();
      for (const secret of secrets.items) {
        const uuid = injectorSecretUuid(secret, this.options.meshName);
        if (uuid === undefined) continue;
        // creationTimestamp has whole seconds: the Secret may be up to a second younger than it says.
        const ageMs = now - Date.parse(secret.creationTimestamp) - 1_000;
        if (alive.has(podKey(secret.namespace, uuid)) || !(ageMs >= graceMs)) {
          kept++;
          continue;
        }
        const why = `no pod in its namespace has uuid ${uuid} and the Secret is ${Math.round(ageMs / 1000)} s old (grace period ${Math.round(graceMs / 1000)} s)`;
        if (await this.delete(secret, uuid, why)) deleted.push(`${secret.namespace}/${secret.name}`);
        else failed++;
      }
    } catch (err) {
      failed++;
      logger.error('sweeping proxy bootstrap Secrets failed; the next sweep tries again', { error: (err as Error).message, nextInMs: this.options.sweepMs });
    }
    logger.debug('proxy bootstrap Secrets swept', { deleted: deleted.length, kept, failed });
    return { deleted, kept, failed };
  }

  /** Deletes one Secret; false when it failed (logged). A Secret already gone counts as done. */
  private async delete(secret: ObjectMetadata, uuid: string, why: string): Promise<boolean> {
    const { logger } = this.options;
    const fields = { namespace: secret.namespace, secret: secret.name, uuid, reason: why };
    try {
      const done = await this.options.kube.deleteSecret(secret.namespace, secret.name, secret.uid);
      if (done) logger.info('proxy bootstrap Secret deleted', fields);
      else logger.debug('proxy bootstrap Secret already gone or replaced', fields);
      return true;
    } catch (err) {
      logger.error('deleting a proxy bootstrap Secret failed; the next sweep tries again', { ...fields, error: (err as Error).message });
      return false;
    }
  }

  /** The Secrets of a pod that is gone, unless another pod of the namespace still has its uuid. */
  private async collect(namespace: string, uuid: string, why: string): Promise<void> {
    try {
      // Asked of the server, not of the watch's view: the sweep's rule (a pod with that uuid exists) decides.
      const pods = await this.options.kube.listMetadata('pods', `${PROXY_UUID_LABEL}=${uuid}`);
      if (pods.items.some((p) => p.namespace === namespace)) return;
      const secrets = await this.options.kube.listMetadata('secrets', `${PROXY_UUID_LABEL}=${uuid},${MONITORED_BY_LABEL}=${this.options.meshName}`);
      for (const secret of secrets.items) {
        if (secret.namespace === namespace && injectorSecretUuid(secret, this.options.meshName) === uuid) await this.delete(secret, uuid, why);
      }
    } catch (err) {
      this.options.logger.error('finding the bootstrap Secret of a deleted pod failed; the next sweep tries again', { namespace, uuid, error: (err as Error).message });
    }
  }

  private relist(): void {
    if (!this.running) return;
    this.options.kube.listMetadata('pods', this.podSelector).then(
      (list) => {
        if (!this.running) return;
        const current = new Map<string, string>();
        for (const pod of list.items) {
          const uuid = pod.labels[PROXY_UUID_LABEL];
          if (uuid !== undefined && uuid !== '') current.set(`${pod.namespace}/${pod.name}`, uuid);
        }
        // Pods seen before and missing now were deleted while no watch ran.
        const gone = [...this.pods.entries()].filter(([key, uuid]) => current.get(key) !== uuid);
        this.pods.clear();
        for (const [k, v] of current) this.pods.set(k, v);
        for (const [key, uuid] of gone) {
          const namespace = key.slice(0, key.indexOf('/'));
          void this.collect(namespace, uuid, `its pod ${key} was deleted (seen on a relist)`);
        }
        this.resourceVersion = list.resourceVersion;
        this.startWatch();
      },
      (err: Error) => {
        this.options.logger.error('listing injected pods failed; retrying', { error: err.message, retryMs: this.retryMs });
        this.retry(() => this.relist());
      },
    );
  }

  private get retryMs(): number {
    return this.options.retryMs ?? 5_000;
  }

  private retry(step: () => void): void {
    if (!this.running) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(step, this.retryMs);
    this.retryTimer.unref();
  }

  private startWatch(): void {
    if (!this.running) return;
    const handle = this.options.kube.watchPods(
      this.podSelector,
      this.resourceVersion,
      this.options.watchTimeoutSeconds ?? 300,
      (event) => this.onEvent(event),
      (err?: KubernetesApiError) => {
        if (this.watch !== handle) return;
        this.watch = undefined;
        if (err === undefined) this.startWatch();
        else if (err.status === 410) {
          this.options.logger.info('the pod watch expired (410); relisting', { resourceVersion: this.resourceVersion });
          this.relist();
        } else {
          this.options.logger.error('the pod watch failed; resuming', { error: err.message, retryMs: this.retryMs });
          this.retry(() => this.startWatch());
        }
      },
    );
    this.watch = handle;
  }

  private onEvent(event: WatchEvent): void {
    const pod = event.object;
    if (pod.resourceVersion !== '') this.resourceVersion = pod.resourceVersion;
    if (event.type === 'BOOKMARK') return;
    const key = `${pod.namespace}/${pod.name}`;
    const uuid = pod.labels[PROXY_UUID_LABEL];
    if (event.type === 'DELETED') {
      const known = this.pods.get(key) ?? uuid;
      this.pods.delete(key);
      if (known !== undefined && known !== '') void this.collect(pod.namespace, known, `its pod ${key} was deleted`);
      return;
    }
    if (uuid !== undefined && uuid !== '') this.pods.set(key, uuid);
  }
}
