/**
 * A child process holding simulated delta-xDS proxies that move between replicas, the way Envoy does when its
 * control plane dies: the stream ends, the proxy connects to another replica and opens each type again with
 * initial_resource_versions (the versions it holds), subscribing again by name to what its clusters and
 * listeners refer to. Each proxy has its own channel (own TCP connection), decodes only the envelope (the
 * push benchmark's codec, sim/xds.ts) and ACKs at once.
 *
 * A stream is "converged" once every type it opened (and every name it subscribed to since) has been
 * answered: Weft answers the first request of each type even when nothing differs, so that moment is
 * observable without knowing what the replica holds. The parent checks what the proxies hold against the
 * replicas' config dumps afterwards.
 */
import * as grpc from '@grpc/grpc-js';
import { Writer } from '../sim/pb.js';
import { clusterRefs, decodeResponse, listenerRefs, NAMED, namesChanged, T, TYPE_ORDER, type ClusterRefs, type ListenerRefs } from '../sim/xds.js';

export type WorkerRequest =
  | { readonly type: 'connect'; readonly proxies: readonly (readonly [number, string, string])[]; readonly perTick: number; readonly tickMs: number }
  /** Replica addresses a proxy whose stream ended may move to. */
  | { readonly type: 'targets'; readonly targets: readonly string[] }
  /** Answer what these proxies hold (CDS and LDS: name -> version). */
  | { readonly type: 'held'; readonly proxies: readonly number[] }
  | { readonly type: 'close' };

/** Resource bytes (Any values) and resources received, by type in TYPE_ORDER. */
export type ByType = number[];

export type WorkerReport =
  /** A stream converged: proxy, epoch ms, stream number (1 = first), resources and bytes this stream received by type. */
  | { readonly type: 'converged'; readonly rows: readonly (readonly [number, number, number, ByType, ByType])[] }
  | { readonly type: 'closed'; readonly proxy: number; readonly at: number; readonly code: number; readonly details: string; readonly to: string }
  | { readonly type: 'held'; readonly held: readonly (readonly [number, string, Record<string, Record<string, string>>])[] }
  | { readonly type: 'nack'; readonly proxy: number; readonly problem: string };

const ADS_DELTA = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';
const identity = (b: Buffer): Buffer => b;

interface DeltaOut {
  readonly typeUrl: string;
  readonly nodeId?: string;
  readonly subscribe?: readonly string[];
  readonly unsubscribe?: readonly string[];
  readonly initial?: ReadonlyMap<string, string>;
  readonly nonce?: string;
  readonly error?: string;
}

/**
 * DeltaDiscoveryRequest: node = 1, type_url = 2, resource_names_subscribe = 3, resource_names_unsubscribe = 4,
 * initial_resource_versions = 5 (map<string, string>: entries key = 1, value = 2), response_nonce = 6,
 * error_detail = 7. The push benchmark's encoder has no field 5, which a moving proxy needs.
 */
export function encodeDelta(r: DeltaOut): Buffer {
  const w = new Writer();
  if (r.nodeId !== undefined) w.bytes(1, new Writer().string(1, r.nodeId).finish());
  w.string(2, r.typeUrl);
  for (const n of r.subscribe ?? []) w.string(3, n);
  for (const n of r.unsubscribe ?? []) w.string(4, n);
  for (const [name, version] of r.initial ?? []) w.bytes(5, new Writer().string(1, name).string(2, version).finish());
  w.stringIfSet(6, r.nonce);
  if (r.error !== undefined) w.bytes(7, new Writer().uint(1, 3).string(2, r.error).finish());
  return w.finish();
}

interface Sink {
  converged(proxy: number, at: number, stream: number, resources: ByType, bytes: ByType): void;
  closed(proxy: number, code: number, details: string, to: string): void;
  nack(proxy: number, problem: string): void;
}

export class MovingProxy {
  /** What the proxy holds, by type: name -> version. Kept across streams, as Envoy keeps its config. */
  readonly held = new Map<string, Map<string, string>>(TYPE_ORDER.map((t) => [t, new Map()]));
  private readonly names = new Map<string, string[]>();
  private readonly clusters = new Map<string, ClusterRefs>();
  private readonly listeners = new Map<string, ListenerRefs>();
  private client: grpc.Client | null = null;
  private stream: grpc.ClientDuplexStream<Buffer, Buffer> | null = null;
  private generation = 0;
  /** Types (or named subscriptions) of this stream not answered yet. */
  private readonly awaiting = new Set<string>();
  private resources: ByType = [];
  private bytes: ByType = [];
  private converged = false;
  private closed = false;
  address = '';

  constructor(
    readonly index: number,
    readonly nodeId: string,
    private readonly sink: Sink,
    private readonly nextTarget: (current: string) => string | undefined,
  ) {}

  connect(target: string): void {
    this.client?.close();
    this.address = target;
    const generation = ++this.generation;
    this.client = new grpc.Client(target, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.enable_retries': 0,
    });
    const stream = this.client.makeBidiStreamRequest(ADS_DELTA, identity, identity, new grpc.Metadata({ waitForReady: true }));
    this.stream = stream;
    this.awaiting.clear();
    this.resources = TYPE_ORDER.map(() => 0);
    this.bytes = TYPE_ORDER.map(() => 0);
    this.converged = false;
    stream.on('data', (buf: Buffer) => {
      if (generation === this.generation) this.onResponse(buf);
    });
    const ended = (code: number, details: string): void => {
      if (generation !== this.generation || this.closed) return;
      this.generation++;
      this.stream = null;
      const next = this.nextTarget(target);
      this.sink.closed(this.index, code, details, next ?? '');
      if (next !== undefined) this.connect(next);
    };
    stream.on('error', (err: grpc.ServiceError) => ended(err.code ?? -1, err.details ?? err.message));
    stream.on('end', () => ended(0, 'stream ended by the server'));
    // Like Envoy: the wildcard types first (the node on the first request), then the named ones it knows of,
    // each with the versions it holds.
    this.open(T.CDS, true, []);
    this.open(T.LDS, false, []);
    for (const t of NAMED) {
      const names = this.names.get(t) ?? [];
      if (names.length > 0) this.open(t, false, names);
    }
  }

  private open(typeUrl: string, first: boolean, subscribe: readonly string[]): void {
    this.awaiting.add(typeUrl);
    const initial = this.held.get(typeUrl)!;
    this.write({ typeUrl, ...(first ? { nodeId: this.nodeId } : {}), subscribe, initial });
  }

  private write(r: DeltaOut): void {
    this.stream?.write(encodeDelta(r));
  }

  private onResponse(buf: Buffer): void {
    const env = decodeResponse(buf, true);
    const type = env.typeUrl;
    const t = TYPE_ORDER.indexOf(type);
    let problem = env.problem;
    if (problem === undefined && (type === T.CDS || type === T.LDS)) {
      try {
        const into: Map<string, unknown> = type === T.CDS ? this.clusters : this.listeners;
        for (const n of env.removed) into.delete(n);
        for (const r of env.resources) into.set(r.name, type === T.CDS ? clusterRefs(buf, r.value) : listenerRefs(buf, r.value));
      } catch (err) {
        problem = `cannot read ${type}: ${(err as Error).message}`;
      }
    }
    if (problem !== undefined) {
      this.sink.nack(this.index, problem);
      this.write({ typeUrl: type, nonce: env.nonce, error: problem });
      return;
    }
    const held = this.held.get(type);
    if (held !== undefined) {
      for (const r of env.resources) {
        held.set(r.name, r.version);
        this.resources[t]! += 1;
        this.bytes[t]! += r.value[1] - r.value[0];
      }
      for (const n of env.removed) held.delete(n);
    }
    this.write({ typeUrl: type, nonce: env.nonce });
    this.awaiting.delete(type);
    if (type === T.CDS || type === T.LDS) this.resubscribe();
    if (!this.converged && this.awaiting.size === 0) {
      this.converged = true;
      this.sink.converged(this.index, Date.now(), this.generation, this.resources, this.bytes);
    }
  }

  /** Subscribes to the names the current clusters and listeners refer to, when they changed. */
  private resubscribe(): void {
    for (const { typeUrl: t, subscribe, unsubscribe } of namesChanged(this.names, this.clusters.values(), this.listeners.values())) {
      for (const n of unsubscribe) this.held.get(t)!.delete(n);
      // A new subscription is answered (the resource, or its absence): the stream waits for that answer.
      if (subscribe.length > 0) this.awaiting.add(t);
      this.write({ typeUrl: t, subscribe, unsubscribe });
    }
  }

  heldOf(typeUrl: string): Record<string, string> {
    return Object.fromEntries(this.held.get(typeUrl)!);
  }

  close(): void {
    this.closed = true;
    this.stream?.cancel();
    this.client?.close();
  }
}

function main(): void {
  const proxies = new Map<number, MovingProxy>();
  let targets: string[] = [];
  let turn = 0;
  let converged: [number, number, number, ByType, ByType][] = [];
  const send = (m: WorkerReport): void => void process.send?.(m);
  const flush = (): void => {
    if (converged.length > 0) send({ type: 'converged', rows: converged });
    converged = [];
  };
  const timer = setInterval(flush, 20);
  // A proxy moves to the next live replica other than the one it lost (round robin over the proxies that move).
  const nextTarget = (current: string): string | undefined => {
    const others = targets.filter((t) => t !== current);
    return others.length === 0 ? undefined : others[turn++ % others.length];
  };
  const sink: Sink = {
    converged: (p, at, stream, resources, bytes) => converged.push([p, at, stream, resources, bytes]),
    closed: (proxy, code, details, to) => send({ type: 'closed', proxy, at: Date.now(), code, details, to }),
    nack: (proxy, problem) => send({ type: 'nack', proxy, problem }),
  };
  process.on('message', (m: WorkerRequest) => {
    switch (m.type) {
      case 'targets':
        targets = [...m.targets];
        break;
      case 'held':
        send({
          type: 'held',
          held: m.proxies.map((i) => {
            const p = proxies.get(i)!;
            return [i, p.address, { [T.CDS]: p.heldOf(T.CDS), [T.LDS]: p.heldOf(T.LDS) }] as const;
          }),
        });
        break;
      case 'close':
        clearInterval(timer);
        flush();
        for (const p of proxies.values()) p.close();
        setTimeout(() => process.exit(0), 50);
        break;
      case 'connect': {
        let i = 0;
        const tick = (): void => {
          const end = Math.min(m.proxies.length, i + m.perTick);
          for (; i < end; i++) {
            const [index, nodeId, target] = m.proxies[i]!;
            const p = new MovingProxy(index, nodeId, sink, nextTarget);
            proxies.set(index, p);
            p.connect(target);
          }
          if (i < m.proxies.length) setTimeout(tick, m.tickMs);
        };
        tick();
        break;
      }
    }
  });
  process.on('disconnect', () => process.exit(0));
}

if (require.main === module) main();
