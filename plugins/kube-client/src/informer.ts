/**
 * An informer over one collection, on client-node's ListWatch: it lists (through KubeClient.list, paged
 * and typed), watches from the list's resourceVersion, resumes a watch the server ends, and lists again on
 * 410 Gone, calling add/update/delete for what changed (a relist calls them for the difference, in one
 * synchronous burst). What ListWatch leaves to its user is done here: the watch asks for bookmarks and a
 * server-side timeout, metadata-only collections watch as PartialObjectMetadata, a failed list or watch is
 * tried again after retryMs (resuming from the last resourceVersion), a collection the API does not serve
 * (a CRD not installed) counts as empty and is looked for again, and nothing runs after stop().
 */
import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { KubernetesApiError, toKubernetesApiError } from './errors.js';
import { collectionPath, metadataOnlyConfig, withoutManagedFields, type KubeClient, type KubeObject, type ResourceType } from './client.js';

export interface InformerOptions {
  readonly labelSelector?: string;
  /** List and watch PartialObjectMetadata: bodies (a Secret's data) never reach Weft. */
  readonly metadataOnly?: boolean;
  /** Asked of the server for each watch; it ends the watch then and the informer resumes where it was. */
  readonly watchTimeoutSeconds: number;
  /** Pause after a failed list or watch before trying again. */
  readonly retryMs: number;
  /**
   * When set, a 404 on the list (a CRD that is not installed) is not a failure: the collection counts as
   * empty (so objects seen before are deleted) and is listed again after this long.
   */
  readonly missingRetryMs?: number;
}

export interface InformerHandlers {
  add(obj: KubeObject): void;
  update(obj: KubeObject): void;
  delete(obj: KubeObject): void;
  /** The watch's resourceVersion expired (410 Gone): the informer lists again. */
  expired?(resourceVersion: string): void;
  /** A list or watch failed; the informer tries again after retryMs. */
  failed?(err: KubernetesApiError, retryMs: number): void;
  /** The API answered 404 for the collection (first time only until it is served again). */
  missing?(err: KubernetesApiError): void;
  /** The API serves a collection that was missing. */
  served?(): void;
}

type WatchFn = K8s.Watch['watch'];

export class ResourceInformer {
  private readonly listWatch: K8s.ListWatch<KubeObject>;
  private readonly path: string;
  private stopped = false;
  private starting = false;
  private timer: NodeJS.Timeout | undefined;
  private watchController: AbortController | undefined;
  private listError: KubernetesApiError | undefined;
  private isMissing = false;
  /** The last resourceVersion a list or event carried: where a resumed watch starts. */
  private version = '';

  constructor(
    private readonly client: KubeClient,
    readonly type: ResourceType,
    private readonly options: InformerOptions,
    private readonly handlers: InformerHandlers,
  ) {
    const { k8s, kubeConfig } = client;
    this.path = collectionPath(type);
    const watch = new k8s.Watch(options.metadataOnly === true ? metadataOnlyConfig(kubeConfig) : kubeConfig);
    const inner: WatchFn = watch.watch.bind(watch);
    watch.watch = (p, query, callback, done) => this.watch(inner, p, query, callback, done);
    this.listWatch = new k8s.ListWatch<KubeObject>(this.path, watch, () => this.list(), false, options.labelSelector);
    const live =
      (fn: (obj: KubeObject) => void) =>
      (obj: KubeObject): void => {
        if (!this.stopped) fn(obj);
      };
    this.listWatch.on(k8s.ADD, live((o) => handlers.add(o)));
    this.listWatch.on(k8s.UPDATE, live((o) => handlers.update(o)));
    this.listWatch.on(k8s.DELETE, live((o) => handlers.delete(o)));
    this.listWatch.on(k8s.ERROR, (err?: unknown) => this.onError(err));
  }

  /** The resourceVersion the informer is at (empty before the first list). */
  get resourceVersion(): string {
    return this.version;
  }

  /** What the informer holds now. */
  objects(): readonly KubeObject[] {
    return this.listWatch.list();
  }

  /**
   * Lists (calling add for every object) and starts the watch. Rejects when the first list fails (but a
   * missing collection with missingRetryMs): the caller decides whether that stops it.
   */
  async start(): Promise<void> {
    this.stopped = false;
    this.starting = true;
    this.listError = undefined;
    try {
      await this.listWatch.start();
    } finally {
      this.starting = false;
    }
    if (this.listError !== undefined) {
      await this.stop();
      throw this.listError;
    }
    if (this.isMissing) this.later(this.options.missingRetryMs ?? this.options.retryMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.listWatch.stop();
  }

  /** Ends the running watch as a broken connection would (for tests of the resume). */
  breakWatch(): void {
    this.watchController?.abort();
  }

  private async list(): Promise<K8s.KubernetesListObject<KubeObject>> {
    try {
      const list = await this.client.list(this.type, {
        ...(this.options.labelSelector === undefined ? {} : { labelSelector: this.options.labelSelector }),
        ...(this.options.metadataOnly === true ? { metadataOnly: true } : {}),
      });
      if (this.isMissing) {
        this.isMissing = false;
        this.handlers.served?.();
      }
      this.version = list.resourceVersion;
      return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: list.resourceVersion }, items: [...list.items] };
    } catch (err) {
      const e = toKubernetesApiError(`GET ${this.client.server}${this.path}`, err);
      if (e.status === 404 && this.options.missingRetryMs !== undefined) {
        if (!this.isMissing) this.handlers.missing?.(e);
        this.isMissing = true;
        // Empty, so what was seen before is deleted; no resourceVersion, so the watch below is not opened.
        return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: [] };
      }
      if (this.starting) this.listError = e;
      throw e;
    }
  }

  private async watch(inner: WatchFn, p: string, query: Record<string, string | number | boolean | undefined>, callback: (phase: string, obj: unknown, watchObj?: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
    if (this.stopped || this.isMissing) {
      // A list that finished after stop(), or a collection that is not served: no watch. ListWatch goes on
      // to its done handler, which does nothing after stop and reports the missing collection otherwise.
      const idle = new AbortController();
      idle.abort();
      setImmediate(() => done(this.stopped ? null : new KubernetesApiError(`${this.path} is not served`, 404)));
      return idle;
    }
    let failure: KubernetesApiError | undefined;
    const where = `watch ${this.client.server}${p}`;
    const controller = await inner(
      p,
      { ...query, allowWatchBookmarks: true, timeoutSeconds: this.options.watchTimeoutSeconds },
      (phase, obj, watchObj) => {
        if (phase === 'ERROR') {
          const status = obj as { code?: unknown; message?: unknown };
          if (status.code === 410) this.handlers.expired?.(this.version);
          // Another ERROR ends the watch too; it is a failure, so the resume waits retryMs instead of spinning.
          else failure = new KubernetesApiError(`${where}: the server reported ${String(status.code)}: ${String(status.message)}`, typeof status.code === 'number' ? status.code : null);
        } else {
          const rv = (obj as KubeObject | null)?.metadata?.resourceVersion;
          if (typeof rv === 'string' && rv !== '') this.version = rv;
        }
        callback(phase, phase === 'ERROR' ? obj : withoutManagedFields(obj as KubeObject), watchObj);
      },
      (err) => {
        if (err === null || err === undefined) return done(failure ?? null);
        const e = toKubernetesApiError(where, err);
        if (e.status === 410) this.handlers.expired?.(this.version);
        done(e);
      },
    );
    // stop() came while the watch was connecting (ListWatch had no request to abort yet): close it now, or
    // it would stay open until the server's timeout.
    if (this.stopped) controller.abort();
    this.watchController = controller;
    return controller;
  }

  private onError(err: unknown): void {
    if (this.stopped || this.starting) return;
    if (this.isMissing) {
      this.later(this.options.missingRetryMs ?? this.options.retryMs);
      return;
    }
    this.handlers.failed?.(toKubernetesApiError(`${this.path}`, err), this.options.retryMs);
    this.later(this.options.retryMs);
  }

  /** Starts ListWatch again after a pause: it resumes from its resourceVersion, or lists when it has none. */
  private later(ms: number): void {
    if (this.stopped) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) void this.listWatch.start();
    }, ms);
  }
}
