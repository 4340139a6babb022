import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { createActor, fromPromise, type Actor } from 'xstate';
import { proxyMachine } from '../actors/proxy-machine.js';
import { PushQueue } from '../actors/push-queue.js';
import { ProxySupervisor, type SupervisedProxy } from '../actors/supervisor.js';
import type { IdentityCertificates } from '../certs/types.js';
import type { DerivationEngine, DerivationSpec } from '../derive/types.js';
import { ConfigError } from '../errors.js';
import { TypeUrl, type ProxyAdapter, type ProxyIdentity, type ProxyViews, type ResourceSet } from './adapter.js';
import { XdsSession, type AckRecord, type DesiredSet, type PushCause, type PushRecord, type RequestOutcome, type TypeSnapshot, type XdsMode } from './protocol.js';
import { ownSecretsOnly, type RefusedSecret } from './secrets.js';
import type { AdsStream, OpenProxy, ProxySource } from './stream.js';
import type { AdsRequest, AdsResponse } from './wire.js';

export interface ProxySnapshot {
  /** Stream id, unique within this server's life. */
  readonly id: number;
  readonly uuid: string;
  readonly kind: string;
  readonly serviceAccount: string;
  readonly namespace: string;
  readonly mode: XdsMode;
  readonly state: string;
  readonly peer: string;
  readonly connectedAt: string;
  readonly types: readonly TypeSnapshot[];
}

export interface ProxyDetail extends ProxySnapshot {
  readonly pushes: readonly PushRecord[];
  readonly acks: readonly AckRecord[];
}

/** What the hub reports as it serves (metrics and logs live with the stream callbacks). */
export interface ProxyEvents {
  requestHandled(stream: AdsStream, outcome: RequestOutcome): void;
  secretsRefused(stream: AdsStream, refused: readonly RefusedSecret[], how: 'in resource set'): void;
  pushed(stream: AdsStream, responses: readonly AdsResponse[], seconds: number): void;
}

export interface ProxyHubOptions {
  readonly engine: DerivationEngine;
  readonly adapters: ReadonlyMap<string, ProxyAdapter>;
  readonly coalesceMs: number;
  /** Pushes per flush slice before the flush yields to I/O. */
  readonly maxConcurrentPushes: number;
  readonly historySize: number;
  readonly certificates?: IdentityCertificates;
  readonly events: ProxyEvents;
}

/** One open proxy: its protocol session, its roots in the engine, its actor. */
class ConnectedProxy implements SupervisedProxy, OpenProxy {
  readonly actor: Actor<typeof proxyMachine>;
  /** The derivations the proxy holds: its views and the shared sets they name, or its own set per type. */
  rootIds: readonly string[];
  readonly connectedAt = new Date();
  readonly session: XdsSession;
  /** performance.now() of the last push that wrote something; -Infinity before the first. */
  lastPushAt = -Infinity;
  /** A log batch changed one of the proxy's sets since its last push: that push is the one to coalesce. */
  private changedSincePush = false;
  private retained = false;
  /** The derivation of each type's set: fixed (`resources`), or the shared ones the views name. */
  private specs: ReadonlyMap<string, DerivationSpec<ResourceSet>>;
  /** The views changed (or were never read): read them again before the next push. */
  private viewsStale: boolean;

  constructor(
    readonly stream: AdsStream,
    readonly identity: ProxyIdentity,
    mode: XdsMode,
    /** The adapter's `views` of this proxy, when its kind shares sets; else `specs` is the proxy's own. */
    private readonly views: DerivationSpec<ProxyViews> | undefined,
    specs: ReadonlyMap<string, DerivationSpec<ResourceSet>>,
    private readonly hub: ProxyHub,
    typeUrls: readonly string[],
  ) {
    // Every change reaches the proxy through invalidate(), which names the types of the invalidated roots.
    this.session = new XdsSession({ mode, typeUrls, historySize: hub.options.historySize, invalidationsNameTypes: true });
    this.specs = specs;
    this.viewsStale = views !== undefined;
    this.rootIds = views !== undefined ? [views.id] : idsOf(specs);
    this.actor = createActor(hub.machine, { input: { streamId: stream.id } });
  }

  get id(): number {
    return this.stream.id;
  }

  retain(): void {
    if (this.retained) return;
    this.retained = true;
    for (const id of this.rootIds) this.hub.options.engine.retain(id);
  }

  release(): void {
    if (!this.retained) return;
    this.retained = false;
    for (const id of this.rootIds) this.hub.options.engine.release(id);
  }

  /** A log batch touched one of the proxy's roots: marked dirty now, pushed by the batch's flush. */
  invalidate(cause: PushCause, ids: ReadonlySet<string>): void {
    if (this.views !== undefined && ids.has(this.views.id)) {
      // The proxy may move to other shared sets: every type is looked at again once the views are read.
      this.viewsStale = true;
      this.session.invalidate(cause);
    } else {
      const types: string[] = [];
      for (const [typeUrl, spec] of this.specs) if (ids.has(spec.id)) types.push(typeUrl);
      this.session.invalidate(cause, types);
    }
    this.changedSincePush = true;
    this.hub.queue.add(this);
  }

  /** Applies a request; an ACK freeing a blocked type or a subscription change queues a push. */
  request(request: AdsRequest): void {
    const outcome = this.session.onRequest(request);
    this.hub.options.events.requestHandled(this.stream, outcome);
    const value = this.actor.getSnapshot().value;
    if (outcome.nack !== undefined && value === 'idle') this.actor.send({ type: 'NACKED' });
    else if (value === 'holding' && !this.session.holdingNack) this.actor.send({ type: 'RECOVERED' });
    if (this.session.needsPush) this.hub.queue.add(this);
  }

  /**
   * Called by the flush: pushes now when the proxy is ready and outside its coalescing window; a change to a
   * proxy pushed within the window is handed to its actor, which waits out the rest of it (a busy proxy gets
   * at most one push per window). A push that only answers the proxy's own requests (a new subscription, an
   * ACK freeing a blocked type) goes out at once: waiting would only delay what the proxy asked for, and the
   * per-stream request rate limit already bounds those. A proxy still syncing or already waiting is skipped:
   * its actor queues it again.
   */
  flush(coalesceMs: number): void {
    const value = this.actor.getSnapshot().value;
    if (value !== 'idle' && value !== 'holding') return;
    if (!this.session.needsPush) return;
    const wait = this.changedSincePush ? this.lastPushAt + coalesceMs - performance.now() : 0;
    if (wait > 0) {
      this.actor.send({ type: 'DEFER', waitMs: wait });
      return;
    }
    try {
      this.push();
    } catch (err) {
      this.failed(err);
    }
  }

  /** Plans and writes one push from the engine's current sets. */
  private push(): void {
    if (this.stream.done) return;
    const start = performance.now();
    this.changedSincePush = false;
    if (this.viewsStale) this.readViews(this.views!);
    const responses = this.session.push((typeUrl) => this.desired(typeUrl));
    for (const response of responses) {
      this.stream.send(response, () => this.session.abandon(response.typeUrl, response.nonce));
    }
    if (responses.length > 0) {
      this.lastPushAt = performance.now();
      this.hub.options.events.pushed(this.stream, responses, (this.lastPushAt - start) / 1000);
    }
  }

  /**
   * Reads the views and, when they name other shared sets, holds the new ones before letting the old ones go
   * (a set both name is never dropped in between) and tells the supervisor where the proxy now listens.
   */
  private readViews(views: DerivationSpec<ProxyViews>): void {
    const engine = this.hub.options.engine;
    const specs = engine.get(views).value;
    this.viewsStale = false;
    this.specs = specs;
    const next = [views.id, ...idsOf(specs)];
    const before = this.rootIds;
    if (sameIds(before, next)) return;
    if (this.retained) {
      const held = new Set(before);
      const kept = new Set(next);
      for (const id of next) if (!held.has(id)) engine.retain(id);
      for (const id of before) if (!kept.has(id)) engine.release(id);
    }
    this.rootIds = next;
    this.hub.supervisor.update(this, before);
  }

  private desired(typeUrl: string): DesiredSet {
    const spec = this.specs.get(typeUrl);
    if (spec === undefined) return { set: new Map(), hash: '' };
    const r = this.hub.options.engine.get(spec);
    if (typeUrl !== TypeUrl.Secret) return { set: r.value, hash: r.hash };
    const own = ownSecretsOnly(r.value, this.identity, this.stream.secretOwnerOf!);
    this.hub.options.events.secretsRefused(this.stream, own.refused, 'in resource set');
    return { set: own.set, hash: r.hash };
  }

  /** A push or its preparation failed: the stream ends with INTERNAL. */
  failed(error: unknown): void {
    const message = (error as Error)?.message ?? String(error);
    this.stream.problem('push-failed', 'push failed; stream ended', { error: message });
    this.stream.end(grpc.status.INTERNAL, `xds server could not build this proxy's config: ${message}`);
  }

  /** Something must be awaited before the first push: the identity has no current certificate yet. */
  get needsPreparation(): boolean {
    const certificates = this.hub.options.certificates;
    return certificates !== undefined && !certificates.isReady(this.identity);
  }

  async prepare(): Promise<void> {
    const certificates = this.hub.options.certificates;
    if (certificates !== undefined) await certificates.ensure({ namespace: this.identity.namespace, serviceAccount: this.identity.serviceAccount });
  }

  close(): void {
    this.hub.disconnect(this);
  }

  get state(): string {
    const value = String(this.actor.getSnapshot().value);
    // Waiting for an ACK is the session's business, not a state of the machine; shown as before.
    return value === 'idle' && this.session.hasInflight ? 'awaitingAck' : value;
  }

  snapshot(): ProxySnapshot {
    return {
      id: this.id,
      uuid: this.identity.uuid,
      kind: this.identity.kind,
      serviceAccount: this.identity.serviceAccount,
      namespace: this.identity.namespace,
      mode: this.session.mode,
      state: this.state,
      peer: this.stream.peer,
      connectedAt: this.connectedAt.toISOString(),
      types: this.session.snapshot(),
    };
  }
}

/** The distinct ids of some derivations, in order. */
function idsOf(specs: ReadonlyMap<string, DerivationSpec<ResourceSet>>): string[] {
  return [...new Set(Array.from(specs.values(), (s) => s.id))];
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/**
 * The proxies behind the open streams, as the stream loop's source: opens one per stream, routes the
 * engine's invalidations to the proxies holding an invalidated root (marking them dirty), and flushes the
 * pushes of a batch together. Knows the engine and the adapters; nothing of gRPC streams beyond writing.
 */
export class ProxyHub implements ProxySource {
  readonly supervisor = new ProxySupervisor<ConnectedProxy>();
  readonly queue: PushQueue<ConnectedProxy>;
  readonly machine: typeof proxyMachine;
  private readonly byStream = new Map<number, ConnectedProxy>();

  constructor(readonly options: ProxyHubOptions) {
    this.queue = new PushQueue({ maxPerSlice: options.maxConcurrentPushes, push: (p) => p.flush(options.coalesceMs) });
    // The machine's I/O, provided once for every stream: implementations find their proxy by stream id.
    const proxy = (streamId: number): ConnectedProxy | undefined => this.byStream.get(streamId);
    this.machine = proxyMachine.provide({
      actions: {
        retainRoots: ({ context }) => proxy(context.streamId)?.retain(),
        releaseRoots: ({ context }) => proxy(context.streamId)?.release(),
        requestPush: ({ context }) => {
          const p = proxy(context.streamId);
          if (p !== undefined) this.queue.add(p);
        },
        reportFailure: ({ context, event }) => proxy(context.streamId)?.failed((event as { error?: unknown }).error),
      },
      guards: {
        holdingNack: ({ context }) => proxy(context.streamId)?.session.holdingNack ?? false,
        needsPreparation: ({ context }) => proxy(context.streamId)?.needsPreparation ?? false,
      },
      actors: {
        prepare: fromPromise<void, { streamId: number }>(async ({ input }) => {
          await proxy(input.streamId)?.prepare();
        }),
      },
    });
  }

  open(stream: AdsStream, _first: AdsRequest): ConnectedProxy {
    const identity = stream.identity;
    if (identity === undefined) throw new Error('a stream is opened only once its first request fixed the identity');
    const adapters = this.options.adapters;
    const adapter = adapters.get(identity.kind);
    if (adapter === undefined) {
      throw new ConfigError(
        `no proxy adapter for kind "${identity.kind}" (proxy ${identity.uuid}); loaded kinds: ${[...adapters.keys()].join(', ') || 'none'}`,
      );
    }
    const views = adapter.views?.(identity);
    const specs = views !== undefined ? new Map() : new Map(adapter.typeUrls.map((t) => [t, adapter.resources(identity, t)] as const));
    const proxy = new ConnectedProxy(stream, identity, stream.mode, views, specs, this, adapter.typeUrls);
    this.byStream.set(stream.id, proxy);
    proxy.actor.subscribe({
      error: (err: unknown) => {
        const message = (err as Error)?.message ?? String(err);
        stream.problem('actor-failed', 'proxy actor failed; stream ended', { error: message });
        stream.end(grpc.status.INTERNAL, `xds server error: ${message}`);
      },
    });
    proxy.actor.start();
    this.supervisor.add(proxy);
    proxy.actor.send({ type: 'CONNECTED' });
    return proxy;
  }

  disconnect(p: ConnectedProxy): void {
    p.actor.send({ type: 'CLOSE' });
    p.actor.stop();
    this.supervisor.remove(p);
    this.queue.delete(p);
    this.byStream.delete(p.id);
  }

  /** Marks the proxies holding one of `ids` dirty and queues their pushes; returns how many. */
  notify(ids: ReadonlySet<string>, cause: PushCause): number {
    return this.supervisor.notify(ids, cause);
  }

  all(): readonly ConnectedProxy[] {
    return this.supervisor.proxies();
  }

  find(id: string): ConnectedProxy | undefined {
    return this.supervisor.proxies().find((x) => String(x.id) === id || x.identity.uuid === id);
  }
}
