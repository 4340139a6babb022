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

export interface DeltaResponseView {
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly DecodedResource[];
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
function decodeAny(any: { type_url?: string; value?: Uint8Array }): { typeUrl: string; message: Record<string, unknown> } {
  const typeUrl = any.type_url ?? '';
  const type = envoyType(typeUrl);
  const message = type.toObject(type.decode(any.value ?? new Uint8Array()), { enums: String, longs: Number, defaults: false }) as Record<
    string,
    unknown
  >;
  return { typeUrl, message };
}

abstract class AdsTestStream<Res> {
  protected readonly client: grpc.Client;
  protected readonly call: grpc.ClientDuplexStream<Raw, Res>;
  private readonly queue: Res[] = [];
  private waiters: ((r: Res | undefined) => void)[] = [];
  readonly status: Promise<grpc.StatusObject>;
  private ended = false;
  private readonly ownsClient: boolean;

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
      const w = this.waiters.shift();
      if (w !== undefined) w(r);
      else this.queue.push(r);
    });
    this.status = new Promise((resolve) => {
      this.call.on('status', (s: grpc.StatusObject) => {
        this.ended = true;
        for (const w of this.waiters) w(undefined);
        this.waiters = [];
        resolve(s);
      });
    });
    // Errors surface through `status`; without a listener a failed stream would crash the test process.
    this.call.on('error', () => undefined);
  }

  /** Sends a request in protobufjs object form, or raw bytes. */
  sendRaw(req: Raw): void {
    this.call.write(req);
  }

  /** The next response; rejects after `timeoutMs` or when the stream ends first. */
  next(timeoutMs = 3000): Promise<Res> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.reject(new Error('stream ended'));
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

  /** Resolves if no response arrives within `ms`; rejects with the response otherwise. */
  async expectNone(ms = 150): Promise<void> {
    const r = await this.next(ms).then(
      (x) => x,
      () => undefined,
    );
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

export class DeltaClient extends AdsTestStream<DeltaResponseView> {
  private firstSent = false;
  constructor(address: string, private readonly node: NodeSpec, credentials = grpc.credentials.createInsecure(), options: StreamOptions = {}) {
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
            return { name: r.name ?? '', version: r.version ?? '', typeUrl: d.typeUrl, message: d.message };
          }),
          removedResources: m.removedResources ?? [],
        };
      },
      credentials,
      options,
    );
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
