/**
 * The floor: a bare @grpc/grpc-js ADS server that pushes pre-encoded bytes (Weft's own output, dumped once)
 * and waits for the ACKs. No catalog, no derivations, no actors: what is left is the cost of gRPC, HTTP/2
 * and the sockets, the least any control plane on this runtime can pay for the same pushes.
 */
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { listenBacklog } from '@weft/core/testing';
import type { Dump, DumpResource, DumpStep } from '../dump.js';
import { decodeRequest, encodeDeltaResponse, encodeSotwResponse } from '../sim/xds.js';

interface Res {
  readonly type: number;
  readonly name: string;
  readonly version: string;
  readonly any: Buffer;
}

interface Stream {
  readonly call: grpc.ServerDuplexStream<Buffer, Buffer>;
  readonly delta: boolean;
  readonly subscribed: Set<number>;
}

const identity = (b: Buffer): Buffer => b;
const SERVICE = '/envoy.service.discovery.v3.AggregatedDiscoveryService';

function method(name: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: `${SERVICE}/${name}`,
    requestStream: true,
    responseStream: true,
    requestDeserialize: identity,
    requestSerialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

/** Types every SotW response must carry in full (the protocol's full-state types). */
export const FULL_STATE_TYPES: ReadonlySet<string> = new Set([
  'type.googleapis.com/envoy.config.listener.v3.Listener',
  'type.googleapis.com/envoy.config.cluster.v3.Cluster',
]);

/**
 * What one push of a type carries, as Weft sends it: the first response (`before` undefined) the whole set;
 * after a change, SotW LDS/CDS the whole set (full state), SotW EDS/RDS/SDS and every delta type only the
 * resources that are new or changed (a changed resource has a new dump id), delta also the removed ones.
 */
export function planPush(typeUrl: string, before: readonly number[] | undefined, after: readonly number[], delta: boolean): { send: number[]; removed: number[] } {
  if (before === undefined) return { send: [...after], removed: [] };
  if (!delta && FULL_STATE_TYPES.has(typeUrl)) return { send: [...after], removed: [] };
  const prev = new Set(before);
  const now = new Set(after);
  return { send: after.filter((id) => !prev.has(id)), removed: delta ? before.filter((id) => !now.has(id)) : [] };
}

export class FloorServer {
  private readonly resources = new Map<number, Res>();
  private readonly state = new Map<string, number[][]>();
  private readonly streams = new Map<string, Stream>();
  // Channelz off, as Weft runs it: the floor pays only what a server on this runtime must.
  private readonly server = new grpc.Server({ 'grpc.max_send_message_length': 64 * 1024 * 1024, 'grpc.enable_channelz': 0 });
  private socketServer: net.Server | undefined;
  private counter = 0;
  /** Responses written, for the harness's cross-check. */
  pushes = 0;

  constructor(private readonly dump: Dump) {
    this.add(dump.resources);
    for (const [node, sets] of Object.entries(dump.initial)) this.state.set(node, sets.map((s) => [...s]));
    this.server.addService(
      { StreamAggregatedResources: method('StreamAggregatedResources'), DeltaAggregatedResources: method('DeltaAggregatedResources') },
      {
        StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.handle(call, false),
        DeltaAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.handle(call, true),
      },
    );
  }

  private add(list: readonly DumpResource[]): void {
    for (const r of list) this.resources.set(r.id, { type: r.type, name: r.name, version: r.version, any: Buffer.from(r.any, 'base64') });
  }

  /**
   * Listens on a socket server of its own that hands connections to grpc-js, with the kernel's largest
   * accept queue, as Weft's ADS listener does (and Go's listeners do): with grpc-js's own bind (Node's
   * backlog of 511) a 10k connect storm overflowed the queue, and the proxies whose connections were dropped
   * came back only after TCP's retransmission backoff, which made the floor's storm 20-60 s from run to run.
   */
  listen(host: string): Promise<number> {
    const injector = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.socketServer = net.createServer((socket) => injector.injectConnection(socket));
    const server = this.socketServer;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: 0, backlog: listenBacklog() }, () => {
        server.off('error', reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  private handle(call: grpc.ServerDuplexStream<Buffer, Buffer>, delta: boolean): void {
    let stream: Stream | undefined;
    let node = '';
    const drop = (): void => {
      if (stream !== undefined && this.streams.get(node) === stream) this.streams.delete(node);
    };
    call.on('error', drop);
    call.on('cancelled', drop);
    call.on('end', () => {
      drop();
      call.end();
    });
    call.on('data', (buf: Buffer) => {
      const req = decodeRequest(buf, delta);
      if (stream === undefined) {
        node = req.nodeId ?? '';
        if (!this.state.has(node)) {
          call.emit('error', { code: grpc.status.NOT_FOUND, details: `no dumped resources for node "${node}"` });
          return;
        }
        stream = { call, delta, subscribed: new Set() };
        this.streams.set(node, stream);
      }
      const type = this.dump.types.indexOf(req.typeUrl);
      if (type < 0 || stream.subscribed.has(type)) return; // ACKs, NACKs and re-subscriptions: nothing to send
      stream.subscribed.add(type);
      this.push(node, stream, type, undefined);
    });
  }

  private push(node: string, stream: Stream, type: number, before: readonly number[] | undefined): void {
    const ids = this.state.get(node)![type]!;
    const typeUrl = this.dump.types[type]!;
    const nonce = String(++this.counter);
    const plan = planPush(typeUrl, before, ids, stream.delta);
    if (plan.send.length === 0 && plan.removed.length === 0 && before !== undefined) return;
    const send = plan.send.map((id) => this.resources.get(id)!);
    const removed = plan.removed.map((id) => this.resources.get(id)!.name).filter((n) => !send.some((r) => r.name === n) && !ids.some((id) => this.resources.get(id)!.name === n));
    const buf = stream.delta
      ? encodeDeltaResponse(typeUrl, nonce, send, removed)
      : encodeSotwResponse(typeUrl, nonce, nonce, send.map((r) => r.any));
    this.pushes++;
    stream.call.write(buf);
  }

  /** Switches the changed proxies to their new sets and pushes to those connected and subscribed. */
  applyStep(step: DumpStep): void {
    this.add(step.resources);
    for (const c of step.changes) {
      const sets = this.state.get(c.node);
      if (sets === undefined) continue;
      const before = sets[c.type]!;
      sets[c.type] = [...c.ids];
      const stream = this.streams.get(c.node);
      if (stream !== undefined && stream.subscribed.has(c.type)) this.push(c.node, stream, c.type, before);
    }
  }

  close(): void {
    this.socketServer?.close();
    this.server.forceShutdown();
  }
}
