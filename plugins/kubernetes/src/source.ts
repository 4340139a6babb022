import type { Logger, ResourceSource, SourceSink } from '@weft/core';
import type { KubeClient, KubeObject, ResourceInformer } from '@weft/kube-client';
import { collectionPath, WATCHED_KINDS, type WatchedKind } from './kinds.js';
import { ClusterState, diffHeld, idOf, type Applied, type Held } from './state.js';

export interface KubernetesSourceOptions {
  /** Source name on the events (and the key the runtime reconciles by); stable across restarts. */
  readonly name: string;
  readonly client: KubeClient;
  /** What to list and watch; WATCHED_KINDS (EndpointSlices, not v1 Endpoints) when absent. */
  readonly kinds?: readonly WatchedKind[];
  /** Asked of the server for each watch; it ends the watch then and the source resumes from where it was. */
  readonly watchTimeoutSeconds: number;
  /** Wait after a failed list, watch or append before trying again. */
  readonly retryMs: number;
  /** How often a kind whose CRD is not installed is looked for again. */
  readonly missingKindRetryMs: number;
  readonly logger: Logger;
}

/**
 * Lists and watches the mesh's resources in a Kubernetes cluster, one informer per kind (@weft/kube-client,
 * on client-node's ListWatch). The initial lists of every kind are reconciled against what the log already
 * holds from this source and appended as ONE batch; from then on, changes are validated, folded into the
 * cluster state and appended as batches of what changed. The informers resume a watch that ends and list
 * again when its resourceVersion expired (410); a relist's differences arrive together and make one batch.
 */
export class KubernetesSource implements ResourceSource {
  readonly name: string;
  private state = new ClusterState();
  private readonly published = new Map<string, Held>();
  private readonly informers = new Map<string, ResourceInformer>();
  private readonly dirty = new Set<string>();
  /** Pauses in progress (an append retry), ended early by stop(). */
  private readonly pauses = new Set<() => void>();
  private sink: SourceSink | undefined;
  private flushing: Promise<void> | undefined;
  private flushQueued = false;
  private stopped = false;
  /** Until the initial batch is appended, changes only update the state: that batch carries them. */
  private initialized = false;
  private rejectedAtStart = 0;

  constructor(private readonly options: KubernetesSourceOptions) {
    this.name = options.name;
  }

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    this.stopped = false;
    this.initialized = false;
    this.rejectedAtStart = 0;
    // A start after stop() begins from what the log holds, like a new process.
    this.state = new ClusterState();
    this.published.clear();
    this.dirty.clear();
    for (const [id, r] of sink.known()) this.published.set(id, { kind: r.kind, key: r.key, body: r.body });
    const kinds = this.options.kinds ?? WATCHED_KINDS;
    for (const kind of kinds) this.informers.set(kind.kind, this.informerFor(kind));
    try {
      await Promise.all([...this.informers.values()].map((i) => i.start()));
    } catch (err) {
      await this.stop();
      throw err;
    }

    // Everything listed (and whatever the watches brought since) is in the state: one diff of every id.
    this.dirty.clear();
    const events = diffHeld(this.name, this.published, this.state.desired);
    if (events.length > 0) {
      await sink.append(events);
      this.markPublished(events);
    }
    this.initialized = true;
    this.options.logger.info('initial lists reconciled', {
      server: this.options.client.server,
      objects: this.state.desired.size,
      upserts: events.filter((e) => e.op === 'upsert').length,
      deletes: events.filter((e) => e.op === 'delete').length,
      rejected: this.rejectedAtStart,
    });
    this.scheduleFlush();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.pauses) wake();
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
    this.informers.clear();
    // An append in flight finishes; what is still dirty is reconciled by the next start's lists.
    await this.flushing;
  }

  private informerFor(kind: WatchedKind): ResourceInformer {
    const { logger } = this.options;
    return this.options.client.informer(
      kind,
      {
        watchTimeoutSeconds: this.options.watchTimeoutSeconds,
        retryMs: this.options.retryMs,
        ...(kind.custom ? { missingRetryMs: this.options.missingKindRetryMs } : {}),
      },
      {
        add: (obj) => this.changed(this.state.upsert(kind, obj, this.published)),
        update: (obj) => this.changed(this.state.upsert(kind, obj, this.published)),
        delete: (obj: KubeObject) => this.changed(this.state.remove(kind, obj)),
        expired: (resourceVersion) => logger.info('the watch resourceVersion expired; listing again', { kind: kind.kind, resourceVersion }),
        failed: (err, retryMs) =>
          logger.warn('the watch broke; resuming after a pause', { kind: kind.kind, retryMs, status: err.status, error: err.message }),
        missing: () =>
          logger.warn('the API does not serve this kind; install its CRD (deploy/kubernetes/crds) to use it', {
            kind: kind.kind,
            path: collectionPath(kind),
            retryMs: this.options.missingKindRetryMs,
          }),
        served: () => logger.info('the API serves this kind now', { kind: kind.kind }),
      },
    );
  }

  private changed(applied: Applied): void {
    const rejected = this.report(applied);
    if (!this.initialized) this.rejectedAtStart += rejected;
    this.scheduleFlush();
  }

  /** Logs the objects a change rejected and marks what it touched for the next append. */
  private report(applied: Applied): number {
    for (const e of applied.rejected) {
      this.options.logger.error('invalid Kubernetes object rejected', { object: e.object, error: e.message });
    }
    for (const id of applied.touched) this.dirty.add(id);
    return applied.rejected.length;
  }

  /**
   * Appends what changed, after the current burst of informer callbacks: a relist delivers its whole
   * difference in one synchronous burst, which so becomes one batch.
   */
  private scheduleFlush(): void {
    if (!this.initialized || this.flushing !== undefined || this.flushQueued || this.stopped) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      if (this.flushing !== undefined || this.stopped) return;
      this.flushing = this.flushLoop().finally(() => {
        this.flushing = undefined;
        if (this.dirty.size > 0 && !this.stopped) this.scheduleFlush();
      });
    });
  }

  /** Appends what the watches changed; events that arrive during an append go into the next batch. */
  private async flushLoop(): Promise<void> {
    while (this.dirty.size > 0 && !this.stopped && this.sink !== undefined) {
      const ids = [...this.dirty];
      this.dirty.clear();
      const events = diffHeld(this.name, this.published, this.state.desired, ids);
      if (events.length === 0) continue;
      try {
        await this.sink.append(events);
      } catch (err) {
        for (const id of ids) this.dirty.add(id);
        this.options.logger.error('appending Kubernetes changes to the log failed; trying again after a pause', {
          events: events.length,
          retryMs: this.options.retryMs,
          error: (err as Error).message,
        });
        await this.pause(this.options.retryMs);
        continue;
      }
      this.markPublished(events);
      this.options.logger.debug('Kubernetes changes appended', {
        upserts: events.filter((e) => e.op === 'upsert').length,
        deletes: events.filter((e) => e.op === 'delete').length,
      });
    }
  }

  private markPublished(events: readonly { op: string; kind: Held['kind']; key: string; body?: unknown }[]): void {
    for (const e of events) {
      if (e.op === 'delete') this.published.delete(idOf(e));
      else this.published.set(idOf(e), { kind: e.kind, key: e.key, body: e.body });
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(t);
        this.pauses.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.pauses.add(wake);
    });
  }
}
