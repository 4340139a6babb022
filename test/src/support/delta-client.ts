import * as grpc from '@grpc/grpc-js';
import { envoyType } from '@weft/protos';

/**
 * A protocol-level ADS client for tests: a raw grpc-js bidi stream with protobufjs codecs, speaking either
 * StreamAggregatedResources (SotW) or DeltaAggregatedResources. It queues responses so a test can await
 * them one by one, and can send anything, including garbage bytes.
 */

export interface DecodedResource {
  readonly name: string;
  readonly version: string;
  readonly typeUrl: string;
  /** The decoded inner message as a plain object. */
  readonly message: Record<string, unknown>;
}

/** A resource of a delta response: decoded, and the bytes it came as. */
export interface DeltaResource extends DecodedResource {
  /** The bytes of its Any's value as sent: delta versions are hashes of them, so a test can compare replicas byte for byte. */
  readonly value: Buffer;
}

export interface DeltaResponseView {
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly DeltaResource[];
  readonly removedResources: readonly string[];
}

export interface SotwResponseView {
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly DecodedResource[];
}

export interface NodeSpec {
  readonly id: string;
  readonly metadata?: Record<string, string>;
}

type Raw = Buffer | Record<string, unknown>;

export interface StreamOptions {
  /** Open the stream on this existing channel (many streams, one connection) instead of a new one. */
  readonly shared?: grpc.Client;
  readonly options?: grpc.ChannelOptions;
}

function nodeObject(node: NodeSpec): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node.metadata ?? {})) fields[k] = { stringValue: v };
  return { id: node.id, cluster: 'test', metadata: { fields } };
}

/** protobufjs' built-in google.protobuf.Any keeps the proto field name `type_url`. */
function decodeAny(any: { type_url?: string; value?: Uint8Array }): { typeUrl: string; message: Record<string, unknown>; value: Buffer } {
  const typeUrl = any.type_url ?? '';
  const type = envoyType(typeUrl);
  const value = Buffer.from(any.value ?? new Uint8Array());
  const message = type.toObject(type.decode(value), { enums: String, longs: Number, defaults: false }) as Record<string, unknown>;
  return { typeUrl, message, value };
}

abstract class AdsTestStream<Res> {
  protected readonly client: grpc.Client;
  protected readonly call: grpc.ClientDuplexStream<Raw, Res>;
  private readonly queue: Res[] = [];
  private waiters: ((r: Res | undefined) => void)[] = [];
  readonly status: Promise<grpc.StatusObject>;
  private finished = false;
  private readonly ownsClient: boolean;
  /** Set: responses go here as they arrive instead of to `next`. */
  private onArrival: ((r: Res) => void) | undefined;

  protected constructor(
    address: string,
    path: string,
    requestType: string,
    decodeResponse: (buf: Buffer) => Res,
    credentials: grpc.ChannelCredentials,
    channelOptions: StreamOptions = {},
  ) {
    this.client = channelOptions.shared ?? new grpc.Client(address, credentials, channelOptions.options ?? {});
    this.ownsClient = channelOptions.shared === undefined;
    const reqType = envoyType(requestType);
    const serialize = (r: Raw): Buffer => (Buffer.isBuffer(r) ? r : Buffer.from(reqType.encode(reqType.fromObject(r)).finish()));
    this.call = this.client.makeBidiStreamRequest(path, serialize, decodeResponse);
    this.call.on('data', (r: Res) => {
      this.arrived(r);
      if (this.onArrival !== undefined) return this.onArrival(r);
      const w = this.waiters.shift();
      if (w !== undefined) w(r);
      else this.queue.push(r);
    });
    this.status = new Promise((resolve) => {
      this.call.on('status', (s: grpc.StatusObject) => {
        this.finished = true;
        for (const w of this.waiters) w(undefined);
        this.waiters = [];
        resolve(s);
      });
    });
    // Errors surface through `status`; without a listener a failed stream would crash the test process.
    this.call.on('error', () => undefined);
  }

  /** Sees every response as it arrives, before it is queued or handed on. */
  protected arrived(_r: Res): void {}

  /** From now on every response goes to `handle` as it arrives, and none to `next`. */
  protected handOn(handle: (r: Res) => void): void {
    this.onArrival = handle;
  }

  /** The stream has ended (its status came). */
  get ended(): boolean {
    return this.finished;
  }

  /** Sends a request in protobufjs object form, or raw bytes. */
  sendRaw(req: Raw): void {
    this.call.write(req);
  }

  /** The next response; rejects after `timeoutMs` or when the stream ends first. */
  next(timeoutMs = 3000): Promise<Res> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.finished) return Promise.reject(new Error('stream ended'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no response within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (r: Res | undefined): void => {
        clearTimeout(timer);
        if (r === undefined) reject(new Error('stream ended'));
        else resolve(r);
      };
      this.waiters.push(waiter);
    });
  }

  /** The next response, or undefined when none arrives within `timeoutMs` or the stream ends first. */
  nextOrNone(timeoutMs = 3000): Promise<Res | undefined> {
    return this.next(timeoutMs).then(
      (x) => x,
      () => undefined,
    );
  }

  /** Resolves if no response arrives within `ms`; rejects with the response otherwise. */
  async expectNone(ms = 150): Promise<void> {
    const r = await this.nextOrNone(ms);
    if (r !== undefined) throw new Error(`expected no response, got ${JSON.stringify(r, (_k, v: unknown) => (v instanceof Uint8Array ? '<bytes>' : v))}`);
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Half-closes and closes the channel. */
  close(): void {
    this.call.end();
    if (this.ownsClient) this.client.close();
  }

  /** Cancels the stream without a half-close (a proxy that vanished). */
  cancel(): void {
    this.call.cancel();
    if (this.ownsClient) this.client.close();
  }
}

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService';

/**
 * A delta ADS stream. Besides queueing responses it keeps, as they arrive, what a proxy on it would hold
 * (`held`) and how many resource bytes it was sent (`resourceBytes`), and it can move to another server the
 * way Envoy reconnects (`moveTo`).
 */
export class DeltaClient extends AdsTestStream<DeltaResponseView> {
  private firstSent = false;
  private acking = false;
  /** Type URL -> names subscribed, in the order the types were first requested. */
  private readonly subscribed = new Map<string, Set<string>>();
  private readonly holding = new Map<string, Map<string, string>>();
  /** Bytes of the resources (their Any values) received, on this stream and on those it moved on from. */
  resourceBytes = 0;

  constructor(
    readonly address: string,
    private readonly node: NodeSpec,
    private readonly credentials = grpc.credentials.createInsecure(),
    private readonly streamOptions: StreamOptions = {},
  ) {
    super(
      address,
      `${ADS}/DeltaAggregatedResources`,
      'envoy.service.discovery.v3.DeltaDiscoveryRequest',
      (buf) => {
        const t = envoyType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
        const m = t.decode(buf) as unknown as {
          systemVersionInfo?: string;
          typeUrl?: string;
          nonce?: string;
          resources?: { name?: string; version?: string; resource?: { type_url?: string; value?: Uint8Array } }[];
          removedResources?: string[];
        };
        return {
          systemVersionInfo: m.systemVersionInfo ?? '',
          typeUrl: m.typeUrl ?? '',
          nonce: m.nonce ?? '',
          resources: (m.resources ?? []).map((r) => {
            const d = decodeAny(r.resource ?? {});
            return { name: r.name ?? '', version: r.version ?? '', typeUrl: d.typeUrl, message: d.message, value: d.value };
          }),
          removedResources: m.removedResources ?? [],
        };
      },
      credentials,
      streamOptions,
    );
  }

  protected override arrived(r: DeltaResponseView): void {
    const held = this.held(r.typeUrl);
    for (const x of r.resources) {
      held.set(x.name, x.version);
      this.resourceBytes += x.value.length;
    }
    for (const name of r.removedResources) held.delete(name);
  }

  /**
   * Name -> version of the resources of `typeUrl` this stream was sent and not told removed, as they
   * arrived (queued ones included), starting from what the stream it moved on from held.
   */
  held(typeUrl: string): Map<string, string> {
    let byName = this.holding.get(typeUrl);
    if (byName === undefined) this.holding.set(typeUrl, (byName = new Map()));
    return byName;
  }

  /** From now on every response is ACKed as it arrives, as a proxy that accepts everything does, and none is queued. */
  ackEach(): this {
    this.acking = true;
    this.handOn((r) => this.ack(r));
    return this;
  }

  /**
   * Opens a stream to `address` for the same node, as Envoy does when its server goes away: each type
   * requested here is requested again with the names subscribed and the versions held as
   * initial_resource_versions, so a server holding the same resources sends none of them. The new stream
   * starts from what this one holds and the bytes it counted, and ACKs as this one does; this one is cancelled.
   */
  moveTo(address: string): DeltaClient {
    this.cancel();
    const next = new DeltaClient(address, this.node, this.credentials, { options: this.streamOptions.options ?? {} });
    for (const [typeUrl, byName] of this.holding) next.holding.set(typeUrl, new Map(byName));
    next.resourceBytes = this.resourceBytes;
    if (this.acking) next.ackEach();
    for (const [typeUrl, names] of this.subscribed) {
      next.request({ typeUrl, subscribe: [...names], initialResourceVersions: Object.fromEntries(this.held(typeUrl)) });
    }
    return next;
  }

  request(r: {
    typeUrl: string;
    subscribe?: string[];
    unsubscribe?: string[];
    initialResourceVersions?: Record<string, string>;
    responseNonce?: string;
    errorDetail?: { code: number; message: string };
  }): void {
    const msg: Record<string, unknown> = {
      typeUrl: r.typeUrl,
      resourceNamesSubscribe: r.subscribe ?? [],
      resourceNamesUnsubscribe: r.unsubscribe ?? [],
      initialResourceVersions: r.initialResourceVersions ?? {},
      responseNonce: r.responseNonce ?? '',
    };
    if (r.errorDetail !== undefined) msg['errorDetail'] = r.errorDetail;
    if (!this.firstSent) msg['node'] = nodeObject(this.node);
    this.firstSent = true;
    let names = this.subscribed.get(r.typeUrl);
    if (names === undefined) this.subscribed.set(r.typeUrl, (names = new Set()));
    for (const name of r.subscribe ?? []) names.add(name);
    for (const name of r.unsubscribe ?? []) names.delete(name);
    this.sendRaw(msg);
  }

  ack(res: DeltaResponseView): void {
    this.request({ typeUrl: res.typeUrl, responseNonce: res.nonce });
  }

  nack(res: DeltaResponseView, message = 'rejected by test'): void {
    this.request({ typeUrl: res.typeUrl, responseNonce: res.nonce, errorDetail: { code: 3, message } });
  }
}

export class SotwClient extends AdsTestStream<SotwResponseView> {
  private firstSent = false;
  constructor(address: string, private readonly node: NodeSpec, credentials = grpc.credentials.createInsecure(), options: StreamOptions = {}) {
    super(
      address,
      `${ADS}/StreamAggregatedResources`,
      'envoy.service.discovery.v3.DiscoveryRequest',
      (buf) => {
        const t = envoyType('envoy.service.discovery.v3.DiscoveryResponse');
        const m = t.decode(buf) as unknown as {
          versionInfo?: string;
          typeUrl?: string;
          nonce?: string;
          resources?: { type_url?: string; value?: Uint8Array }[];
        };
        return {
          versionInfo: m.versionInfo ?? '',
          typeUrl: m.typeUrl ?? '',
          nonce: m.nonce ?? '',
          resources: (m.resources ?? []).map((a) => {
            const d = decodeAny(a);
            return { name: String(d.message['name'] ?? d.message['clusterName'] ?? ''), version: '', typeUrl: d.typeUrl, message: d.message };
          }),
        };
      },
      credentials,
      options,
    );
  }

  request(r: { typeUrl: string; resourceNames?: string[]; versionInfo?: string; responseNonce?: string; errorDetail?: { code: number; message: string } }): void {
    const msg: Record<string, unknown> = {
      typeUrl: r.typeUrl,
      resourceNames: r.resourceNames ?? [],
      versionInfo: r.versionInfo ?? '',
      responseNonce: r.responseNonce ?? '',
    };
    if (r.errorDetail !== undefined) msg['errorDetail'] = r.errorDetail;
    if (!this.firstSent) msg['node'] = nodeObject(this.node);
    this.firstSent = true;
    this.sendRaw(msg);
  }
}
