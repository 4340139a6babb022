/**
 * A child process holding many simulated proxies. Each proxy has its own channel (its own TCP connection:
 * no shared subchannel pool) and its own ADS stream, SotW or delta. It sends its node on every request and
 * decodes every resource it receives into its Envoy type (as Envoy does), ACKs at once, subscribes by name the way Envoy does (EDS from clusters, RDS from listeners, SDS from both)
 * and reports every response to the parent with the ACK time in epoch microseconds, which is comparable
 * across processes.
 */
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import {
  clusterRefs,
  decodeResources,
  decodeResponse,
  encodeNode,
  encodeDeltaRequest,
  encodeSotwRequest,
  listenerRefs,
  NAMED,
  namesChanged,
  T,
  TYPE_ORDER,
  type ClusterRefs,
  type Envelope,
  type ListenerRefs,
} from './xds.js';

export type Mode = 'sotw' | 'delta';

export interface ConnectMessage {
  readonly type: 'connect';
  readonly target: string;
  readonly mode: Mode;
  /** [proxy index, node id] */
  readonly proxies: readonly (readonly [number, string])[];
  /** Streams opened per tick while connecting (a ramp keeps the accept queue from overflowing). */
  readonly perTick: number;
  readonly tickMs: number;
}

/** One response: proxy, type index, bytes, ACK time (epoch µs), 1 if NACKed, resource count, version. */
export type ResponseRow = [number, number, number, number, number, number, string];

export type WorkerReport =
  | { readonly type: 'responses'; readonly rows: readonly ResponseRow[] }
  | { readonly type: 'configured'; readonly rows: readonly (readonly [number, number])[] }
  /** The server ended a proxy's stream; the proxy opens a new one (Envoy's backoff). */
  | { readonly type: 'closed'; readonly proxy: number; readonly code: number; readonly details: string }
  | { readonly type: 'connected'; readonly count: number };

export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/';
const identity = (b: Buffer): Buffer => b;

interface Sink {
  response(row: ResponseRow): void;
  configured(proxy: number, at: number): void;
  closed(proxy: number, code: number, details: string): void;
}

/** One simulated proxy: the Envoy side of ADS reduced to what the benchmark needs. */
export class SimProxy {
  private readonly client: grpc.Client;
  private stream: grpc.ClientDuplexStream<Buffer, Buffer>;
  private readonly method: string;
  /** Streams the server ended so far: the next reconnect waits Envoy's backoff for this many failures. */
  private ended = 0;
  /** The current stream ended and a new one is due: a second report of the same end is ignored. */
  private reopening = false;
  private readonly acked = new Map<string, string>();
  private readonly lastNonce = new Map<string, string>();
  private readonly ackCount = new Map<string, number>();
  private readonly names = new Map<string, string[]>();
  private readonly clusters = new Map<string, ClusterRefs>();
  private readonly listeners = new Map<string, ListenerRefs>();
  private configured = false;
  private closed = false;
  /** Sent on every request, as Envoy does by default (`set_node_on_first_message_only: false`). */
  private readonly node: Buffer;

  constructor(
    readonly index: number,
    readonly nodeId: string,
    target: string,
    readonly mode: Mode,
    private readonly sink: Sink,
  ) {
    // The node id is "<uuid>.<kind>.<sa>.<ns>.<trust domain>"; Envoy's cluster is the service account.
    this.node = encodeNode(nodeId, nodeId.split('.')[2] ?? '');
    this.client = new grpc.Client(target, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.enable_retries': 0,
      // Envoy's reconnect backoff for its xDS stream (500 ms doubling to 30 s), not grpc-js's (1 s to 120 s): a
      // proxy whose first connect the storm refused comes back as an Envoy would, for every system alike.
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 30_000,
    });
    this.method = ADS + (mode === 'delta' ? 'DeltaAggregatedResources' : 'StreamAggregatedResources');
    this.stream = this.open();
  }

  /**
   * Opens the ADS stream and sends what Envoy sends first. Like Envoy, keep trying to connect while the server
   * is busy (a connect storm overflows its accept queue): without waitForReady a reset connection would fail
   * the stream at once.
   */
  private open(): grpc.ClientDuplexStream<Buffer, Buffer> {
    const stream = this.client.makeBidiStreamRequest(this.method, identity, identity, new grpc.Metadata({ waitForReady: true }));
    stream.on('data', (buf: Buffer) => {
      if (stream === this.stream) this.onResponse(buf);
    });
    stream.on('error', (err: grpc.ServiceError) => this.onEnded(stream, err.code ?? -1, err.details ?? err.message));
    stream.on('end', () => this.onEnded(stream, 0, 'stream ended by the server'));
    this.stream = stream;
    this.reopening = false;
    // Envoy starts with the wildcard types; the named ones follow from what they contain.
    this.send(T.CDS, { first: true });
    this.send(T.LDS, {});
    return stream;
  }

  private send(typeUrl: string, o: { first?: boolean; nonce?: string; version?: string; error?: string; subscribe?: string[]; unsubscribe?: string[] }): void {
    if (this.closed) return;
    const node = this.node;
    const buf =
      this.mode === 'delta'
        ? encodeDeltaRequest({
            typeUrl,
            node,
            ...(o.nonce === undefined ? {} : { nonce: o.nonce }),
            ...(o.error === undefined ? {} : { error: o.error }),
            ...(o.subscribe === undefined ? {} : { subscribe: o.subscribe }),
            ...(o.unsubscribe === undefined ? {} : { unsubscribe: o.unsubscribe }),
          })
        : encodeSotwRequest({
            typeUrl,
            node,
            ...(o.nonce === undefined ? {} : { nonce: o.nonce }),
            ...(o.error === undefined ? {} : { error: o.error }),
            version: o.version ?? this.acked.get(typeUrl) ?? '',
            names: this.names.get(typeUrl) ?? [],
          });
    this.stream.write(buf);
  }

  private onResponse(buf: Buffer): void {
    let env: Envelope;
    try {
      env = decodeResponse(buf, this.mode === 'delta');
    } catch (err) {
      // Unparseable: NACK without knowing the type is impossible; end the stream loudly.
      this.onClosed(-2, `undecodable response: ${(err as Error).message}`);
      this.stream.cancel();
      return;
    }
    const type = env.typeUrl;
    let problem = env.problem;
    if (problem === undefined) {
      try {
        decodeResources(buf, env);
      } catch (err) {
        problem = `cannot decode a ${type} resource: ${(err as Error).message}`;
      }
    }
    if (problem === undefined && (type === T.CDS || type === T.LDS)) {
      try {
        this.learn(buf, env);
      } catch (err) {
        problem = `cannot read ${type === T.CDS ? 'cluster' : 'listener'}: ${(err as Error).message}`;
      }
    }
    this.lastNonce.set(type, env.nonce);
    if (problem !== undefined) {
      this.send(type, { nonce: env.nonce, error: problem });
    } else {
      if (this.mode === 'sotw') this.acked.set(type, env.version);
      this.send(type, { nonce: env.nonce, ...(this.mode === 'sotw' ? { version: env.version } : {}) });
      this.ackCount.set(type, (this.ackCount.get(type) ?? 0) + 1);
    }
    const at = nowMicros();
    this.sink.response([this.index, TYPE_ORDER.indexOf(type), buf.length, at, problem === undefined ? 0 : 1, env.resources.length, env.version || env.nonce]);
    if (problem === undefined && (type === T.CDS || type === T.LDS)) this.resubscribe();
    if (!this.configured && this.isConfigured()) {
      this.configured = true;
      this.sink.configured(this.index, at);
    }
  }

  private learn(buf: Buffer, env: Envelope): void {
    const into: Map<string, unknown> = env.typeUrl === T.CDS ? this.clusters : this.listeners;
    if (this.mode === 'sotw') into.clear();
    for (const n of env.removed) into.delete(n);
    for (const r of env.resources) {
      into.set(r.name, env.typeUrl === T.CDS ? clusterRefs(buf, r.value) : listenerRefs(buf, r.value));
    }
  }

  /** Subscribes to the names the current clusters and listeners refer to, when they changed. */
  private resubscribe(): void {
    for (const { typeUrl: t, subscribe, unsubscribe } of namesChanged(this.names, this.clusters.values(), this.listeners.values())) {
      if (this.mode === 'delta') {
        this.send(t, { first: false, subscribe, unsubscribe });
      } else {
        const nonce = this.lastNonce.get(t);
        this.send(t, nonce === undefined ? {} : { nonce });
      }
    }
  }

  private isConfigured(): boolean {
    if ((this.ackCount.get(T.CDS) ?? 0) === 0 || (this.ackCount.get(T.LDS) ?? 0) === 0) return false;
    for (const t of NAMED) if ((this.names.get(t)?.length ?? 0) > 0 && (this.ackCount.get(t) ?? 0) === 0) return false;
    return true;
  }

  private onClosed(code: number, details: string): void {
    if (this.closed) return;
    this.closed = true;
    this.sink.closed(this.index, code, details);
  }

  /**
   * The server ended the stream (or its connection): reported, then opened again after Envoy's xDS backoff
   * (500 ms doubling to 30 s, fully jittered), from scratch, as Envoy does.
   */
  private onEnded(stream: grpc.ClientDuplexStream<Buffer, Buffer>, code: number, details: string): void {
    // A stream ends once, though grpc-js may report it twice (an error, then its end).
    if (this.closed || stream !== this.stream || this.reopening) return;
    this.reopening = true;
    this.sink.closed(this.index, code, details);
    this.acked.clear();
    this.lastNonce.clear();
    this.ackCount.clear();
    this.names.clear();
    this.clusters.clear();
    this.listeners.clear();
    const backoff = Math.min(30_000, 500 * 2 ** this.ended++);
    setTimeout(() => {
      if (!this.closed) this.open();
    }, Math.random() * backoff);
  }

  close(): void {
    this.closed = true;
    this.stream.cancel();
    this.client.close();
  }
}

function main(): void {
  const proxies: SimProxy[] = [];
  let rows: ResponseRow[] = [];
  let configured: [number, number][] = [];
  const send = (m: WorkerReport): void => {
    process.send?.(m);
  };
  const flush = (): void => {
    if (rows.length > 0) {
      send({ type: 'responses', rows });
      rows = [];
    }
    if (configured.length > 0) {
      send({ type: 'configured', rows: configured });
      configured = [];
    }
  };
  const timer = setInterval(flush, 25);
  const sink: Sink = {
    response: (row) => {
      rows.push(row);
      if (rows.length >= 5000) flush();
    },
    configured: (p, at) => configured.push([p, at]),
    closed: (proxy, code, details) => {
      flush();
      send({ type: 'closed', proxy, code, details });
    },
  };
  process.on('message', (m: ConnectMessage | { type: 'close' }) => {
    if (m.type === 'close') {
      clearInterval(timer);
      flush();
      for (const p of proxies) p.close();
      setTimeout(() => process.exit(0), 50);
      return;
    }
    let i = 0;
    const tick = (): void => {
      const end = Math.min(m.proxies.length, i + m.perTick);
      for (; i < end; i++) {
        const [index, nodeId] = m.proxies[i]!;
        proxies.push(new SimProxy(index, nodeId, m.target, m.mode, sink));
      }
      if (i < m.proxies.length) setTimeout(tick, m.tickMs);
      else send({ type: 'connected', count: proxies.length });
    };
    tick();
  });
  process.on('disconnect', () => process.exit(0));
}

if (require.main === module) main();
