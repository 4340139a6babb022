import type { Logger, ResourceSource, SourceSink } from '@weft/core';
import { MANIFEST_KINDS } from '@weft/core';
import type { KubeApi, WatchEvent, WatchHandle } from './api.js';
import { KubernetesApiError } from './api.js';
import { collectionPath, WATCHED_KINDS, type WatchedKind } from './kinds.js';
import { ClusterState, diffHeld, idOf, type Applied, type Held } from './state.js';

export interface KubernetesSourceOptions {
  /** Source name on the events (and the key the runtime reconciles by); stable across restarts. */
  readonly name: string;
  readonly api: KubeApi;
  /** What to list and watch; WATCHED_KINDS when absent. */
  readonly kinds?: readonly WatchedKind[];
  /** Asked of the server for each watch; it ends the watch then and the source resumes from where it was. */
  readonly watchTimeoutSeconds: number;
  /** Wait after a failed list, watch or append before trying again. */
  readonly retryMs: number;
  /** How often a kind whose CRD is not installed is looked for again. */
  readonly missingKindRetryMs: number;
  readonly logger: Logger;
}

interface KindWatch {
  readonly kind: WatchedKind;
  resourceVersion: string;
  handle: WatchHandle | undefined;
  /** Bumped on every (re)start, so a late done callback of an older watch is ignored. */
  generation: number;
  /** The server said the resourceVersion is gone (410): the next step is a relist, not a resume. */
  expired: boolean;
  /** The server sent another ERROR event: the next resume waits retryMs, so a failing watch does not spin. */
  failed: string | undefined;
}

/**
 * Lists and watches the mesh's resources in a Kubernetes cluster. The initial lists of every kind are
 * reconciled against what the log already holds from this source and appended as ONE batch; from then
 * on, watch events are validated, folded into the cluster state and appended as batches of what changed.
 * A watch that ends resumes from its last resourceVersion; one whose resourceVersion expired (410) is
 * replaced by a fresh list of its kind, reconciled the same way.
 */
export class KubernetesSource implements ResourceSource {
  readonly name: string;
  private state = new ClusterState();
  /** Kinds the API did not serve at the last look, so their absence is logged once, not every retry. */
  private readonly missing = new Set<string>();
  private readonly published = new Map<string, Held>();
  private readonly watches = new Map<string, KindWatch>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Pauses in progress (an append retry), ended early by stop(). */
  private readonly pauses = new Set<() => void>();
  private sink: SourceSink | undefined;
  private flushing: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: KubernetesSourceOptions) {
    this.name = options.name;
  }

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    this.stopped = false;
    // A start after stop() begins from what the log holds, like a new process.
    this.state = new ClusterState();
    this.published.clear();
    this.dirty.clear();
    for (const [id, r] of sink.known()) this.published.set(id, { kind: r.kind, key: r.key, body: r.body });
    const kinds = this.options.kinds ?? WATCHED_KINDS;
    const lists = await Promise.all(kinds.map(async (kind) => ({ kind, list: await this.listOrMissing(kind) })));

    let rejected = 0;
    for (const { kind, list } of lists) {
      const applied = this.state.replaceKind(kind, list?.items ?? [], this.published);
      rejected += this.report(applied);
    }
    const events = diffHeld(this.name, this.published, this.state.desired);
    if (events.length > 0) {
      await sink.append(events);
      this.markPublished(events);
    }
    this.options.logger.info('initial lists reconciled', {
      server: this.options.api.server,
      objects: this.state.desired.size,
      upserts: events.filter((e) => e.op === 'upsert').length,
      deletes: events.filter((e) => e.op === 'delete').length,
      rejected,
    });

    await Promise.all(
      lists.map(async ({ kind, list }) => {
        const w: KindWatch = { kind, resourceVersion: '', handle: undefined, generation: 0, expired: false, failed: undefined };
        this.watches.set(kind.kind, w);
        if (list === undefined) this.later(this.options.missingKindRetryMs, () => this.relist(w));
        else {
          w.resourceVersion = list.resourceVersion;
          await this.startWatch(w);
        }
      }),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const wake of this.pauses) wake();
    for (const w of this.watches.values()) {
      w.generation++;
      w.handle?.abort();
    }
    this.watches.clear();
    // An append in flight finishes; what is still dirty is reconciled by the next start's lists.
    await this.flushing;
  }

  /** A kind's list, or undefined when the API does not serve it (a CRD that is not installed). */
  private async listOrMissing(kind: WatchedKind): Promise<{ items: readonly unknown[]; resourceVersion: string } | undefined> {
    try {
      const list = await this.options.api.list(collectionPath(kind));
      if (this.missing.delete(kind.kind)) this.options.logger.info('the API serves this kind now', { kind: kind.kind });
      return list;
    } catch (err) {
      if (kind.custom && err instanceof KubernetesApiError && err.status === 404) {
        if (!this.missing.has(kind.kind)) {
          this.missing.add(kind.kind);
          this.options.logger.warn('the API does not serve this kind; install its CRD (deploy/kubernetes/crds) to use it', {
            kind: kind.kind,
            path: collectionPath(kind),
            retryMs: this.options.missingKindRetryMs,
          });
        }
        return undefined;
      }
      throw err;
    }
  }

  private async startWatch(w: KindWatch): Promise<void> {
    if (this.stopped) return;
    const generation = ++w.generation;
    w.expired = false;
    w.failed = undefined;
    try {
      w.handle = await this.options.api.watch(
        collectionPath(w.kind),
        w.resourceVersion,
        this.options.watchTimeoutSeconds,
        (event) => {
          if (generation === w.generation) this.onEvent(w, event);
        },
        (err) => {
          if (generation === w.generation) this.onDone(w, err);
        },
      );
      // stop() (or a newer watch) came while this one was connecting: it must not stay open.
      if (generation !== w.generation || this.stopped) w.handle.abort();
    } catch (err) {
      this.retryWatch(w, err as Error);
    }
  }

  private onEvent(w: KindWatch, event: WatchEvent): void {
    const rv = resourceVersionOf(event.object);
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
        this.report(this.state.upsert(w.kind, event.object));
        break;
      case 'DELETED':
        this.report(this.state.remove(w.kind, event.object));
        break;
      case 'BOOKMARK':
        break;
      case 'ERROR': {
        const status = event.object as { code?: unknown; message?: unknown };
        // The server ends the watch after an ERROR event; onDone decides how to go on.
        if (status.code === 410) w.expired = true;
        else w.failed = `the server reported ${String(status.code)}: ${String(status.message)}`;
        return;
      }
      default:
        this.options.logger.warn('unknown watch event type ignored', { kind: w.kind.kind, type: event.type });
        return;
    }
    if (rv !== undefined) w.resourceVersion = rv;
    this.scheduleFlush();
  }

  private onDone(w: KindWatch, err: Error | null): void {
    if (this.stopped) return;
    w.handle = undefined;
    if (w.expired || (err instanceof KubernetesApiError && err.status === 410)) {
      this.options.logger.info('the watch resourceVersion expired; listing again', {
        kind: w.kind.kind,
        resourceVersion: w.resourceVersion,
      });
      void this.relist(w);
    } else if (err !== null) {
      this.retryWatch(w, err);
    } else if (w.failed !== undefined) {
      this.retryWatch(w, new KubernetesApiError(`watch of ${w.kind.kind}: ${w.failed}`, null));
    } else {
      // The server's timeout: resume where the watch was.
      void this.startWatch(w);
    }
  }

  private retryWatch(w: KindWatch, err: Error): void {
    this.options.logger.warn('the watch broke; resuming after a pause', {
      kind: w.kind.kind,
      resourceVersion: w.resourceVersion,
      retryMs: this.options.retryMs,
      error: err.message,
    });
    this.later(this.options.retryMs, () => this.startWatch(w));
  }

  /** Lists a kind again and reconciles the cluster state and the log with it. */
  private async relist(w: KindWatch): Promise<void> {
    if (this.stopped) return;
    let list: { items: readonly unknown[]; resourceVersion: string } | undefined;
    try {
      list = await this.listOrMissing(w.kind);
    } catch (err) {
      this.options.logger.warn('listing failed; trying again after a pause', {
        kind: w.kind.kind,
        retryMs: this.options.retryMs,
        error: (err as Error).message,
      });
      this.later(this.options.retryMs, () => this.relist(w));
      return;
    }
    if (this.stopped) return;
    const applied = this.state.replaceKind(w.kind, list?.items ?? []);
    this.report(applied);
    for (const id of applied.touched) this.dirty.add(id);
    // Published ids of this kind that the cluster no longer has (deleted while no watch saw it).
    const resourceKind = MANIFEST_KINDS[w.kind.kind]?.resourceKind;
    for (const [id, held] of this.published) if (held.kind === resourceKind) this.dirty.add(id);
    this.scheduleFlush();
    if (list === undefined) {
      this.later(this.options.missingKindRetryMs, () => this.relist(w));
      return;
    }
    w.resourceVersion = list.resourceVersion;
    await this.startWatch(w);
  }

  /** Logs the objects a change rejected and marks what it touched for the next append. */
  private report(applied: Applied): number {
    for (const e of applied.rejected) {
      this.options.logger.error('invalid Kubernetes object rejected', { object: e.object, error: e.message });
    }
    for (const id of applied.touched) this.dirty.add(id);
    return applied.rejected.length;
  }

  private scheduleFlush(): void {
    if (this.flushing !== undefined || this.stopped) return;
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = undefined;
      if (this.dirty.size > 0 && !this.stopped) this.scheduleFlush();
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

  private later(ms: number, fn: () => unknown): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) void fn();
    }, ms);
    this.timers.add(t);
  }
}

function resourceVersionOf(obj: unknown): string | undefined {
  const md = (obj as { metadata?: { resourceVersion?: unknown } } | null)?.metadata;
  return typeof md?.resourceVersion === 'string' ? md.resourceVersion : undefined;
}
