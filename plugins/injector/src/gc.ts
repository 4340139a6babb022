/**
 * Garbage collection of proxy bootstrap Secrets. At admission the pod has no UID yet, so its Secret cannot
 * carry an owner reference and Kubernetes never deletes it. The collector does: an informer of injected pods
 * (@weft/kube-client's, metadata only: list, watch, resume, relist on 410 Gone) deletes a pod's Secret when
 * the pod goes (seen on the watch, or missing from a relist), and a periodic sweep deletes Secrets no pod
 * has the uuid of (missed deletions, admissions that failed after the Secret was written) once they are
 * older than a grace period. Only Secrets the injector writes are touched: both labels set and the name it gives them.
 * Failures are logged and left to the next sweep; nothing here throws into Weft.
 */
import { MONITORED_BY_LABEL, PROXY_UUID_LABEL, type Logger } from '@weft/core';
import { metadataOf, type InjectorKube, type ObjectMetadata, type PodInformer } from './cluster.js';
import { proxySecretName } from './patch.js';

export interface SecretCollectorOptions {
  readonly kube: Pick<InjectorKube, 'listMetadata' | 'podInformer' | 'deleteSecret'>;
  readonly meshName: string;
  /** Interval of the sweep; one also runs at start. */
  readonly sweepMs: number;
  /** A Secret without a pod is swept only when older than this (its pod may still be in admission). */
  readonly graceMs: number;
  readonly logger: Logger;
  /** Asked of the server for each pod watch; it then ends the watch and the informer resumes (default 300). */
  readonly watchTimeoutSeconds?: number;
  /** Wait before a failed pod list or watch is tried again (default 5 s). */
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
  /** Injected pods the informer holds: `namespace/name` -> uuid. */
  private readonly pods = new Map<string, string>();
  private informer: PodInformer | undefined;
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
    this.inform();
    void this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepMs);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.sweepTimer);
    clearTimeout(this.retryTimer);
    const informer = this.informer;
    this.informer = undefined;
    await informer?.stop();
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

  /** Starts the informer; a first list that fails is logged and tried again after retryMs. */
  private inform(): void {
    if (!this.running) return;
    const { logger } = this.options;
    const informer = this.options.kube.podInformer(
      this.podSelector,
      { watchTimeoutSeconds: this.options.watchTimeoutSeconds ?? 300, retryMs: this.retryMs },
      {
        add: (obj) => this.seen(metadataOf(obj)),
        update: (obj) => this.seen(metadataOf(obj)),
        delete: (obj) => this.gone(metadataOf(obj)),
        expired: (resourceVersion) => logger.info('the pod watch expired (410); relisting', { resourceVersion }),
        failed: (err, retryMs) => logger.error('the pod watch failed; resuming', { error: err.message, status: err.status, retryMs }),
      },
    );
    this.informer = informer;
    informer.start().then(
      () => {
        // stop() ran while the first list was under way: the informer, now started, stops too.
        if (this.informer !== informer) void informer.stop();
      },
      (err: Error) => {
        if (this.informer !== informer) return;
        this.informer = undefined;
        logger.error('listing injected pods failed; retrying', { error: err.message, retryMs: this.retryMs });
        this.retry(() => this.inform());
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

  /** A pod listed or changed. A uuid that changed under the same name is the old uuid's pod gone. */
  private seen(pod: ObjectMetadata): void {
    const key = `${pod.namespace}/${pod.name}`;
    const uuid = pod.labels[PROXY_UUID_LABEL];
    const known = this.pods.get(key);
    if (uuid === undefined || uuid === '') return this.gone(pod);
    this.pods.set(key, uuid);
    if (known !== undefined && known !== uuid) void this.collect(pod.namespace, known, `its pod ${key} was replaced by one of uuid ${uuid}`);
  }

  /**
   * A pod deleted, seen on the watch or missing from a relist (deleted while no watch ran), or one that lost
   * the label. The uuid the informer knew counts: the last state of a pod that lost its label has none.
   */
  private gone(pod: ObjectMetadata): void {
    const key = `${pod.namespace}/${pod.name}`;
    const known = this.pods.get(key) ?? pod.labels[PROXY_UUID_LABEL];
    this.pods.delete(key);
    if (known !== undefined && known !== '') void this.collect(pod.namespace, known, `its pod ${key} was deleted`);
  }
}
