import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { silentLogger } from '../observe/logger.js';
import { TypeUrl, type ProxyIdentity } from './adapter.js';
import { ServerCallbacks } from './callbacks.js';
import { osmSecretOwner } from './osm-names.js';
import { TlsFront } from './tls-front.js';
import { AdsStream, serveStream, StreamRefusal, type AdsCall, type OpenProxy, type ProxySource, type StreamCallbacks } from './stream.js';
import type { AdsRequest, AdsResponse, MalformedRequest } from './wire.js';

/** A grpc-js server call reduced to what the loop uses: events in, writes and statuses out. */
class FakeCall extends EventEmitter {
  destroyed = false;
  writableEnded = false;
  cancelled = false;
  readonly written: AdsResponse[] = [];
  readonly statuses: { code: grpc.status; details: string }[] = [];
  constructor() {
    super();
    // The loop's own end() emits 'error' with a status; a listener must exist before the loop adds its own.
    this.on('error', (e: { code?: grpc.status; details?: string }) => {
      if (e.code !== undefined) this.statuses.push({ code: e.code, details: e.details ?? '' });
    });
  }
  getPeer(): string {
    return '127.0.0.1:5000';
  }
  write(r: AdsResponse, cb: (err?: Error) => void): boolean {
    this.written.push(r);
    cb();
    return true;
  }
  end(): void {
    this.writableEnded = true;
  }
}

const identity: ProxyIdentity = { uuid: 'p-1', kind: 'envoy', serviceAccount: 'web', namespace: 'shop', trustDomain: 'cluster.local' };
const request = (typeUrl: string = TypeUrl.Cluster): AdsRequest => ({
  kind: 'sotw',
  node: undefined,
  versionInfo: '',
  resourceNames: [],
  typeUrl,
  responseNonce: '',
  errorDetail: undefined,
});

function setup(overrides: Partial<StreamCallbacks> = {}) {
  const log: string[] = [];
  const callbacks: StreamCallbacks = {
    onStreamOpen: () => void log.push('open'),
    onStreamRequest: (stream, message: AdsRequest | MalformedRequest) => {
      log.push(`request:${message.kind}`);
      if (message.kind === 'malformed') throw new StreamRefusal(grpc.status.INVALID_ARGUMENT, 'bad bytes', 'malformed');
      stream.identity ??= identity;
      stream.secretOwnerOf ??= osmSecretOwner;
      return message;
    },
    onProxyConnected: () => void log.push('connected'),
    onStreamResponse: (_s, r, err) => void log.push(`response:${r.nonce}:${err === undefined ? 'ok' : 'failed'}`),
    onStreamClosed: () => void log.push('closed'),
    onStreamProblem: (_s, key) => (log.push(`problem:${key}`), true),
    onStreamError: (_s, err) =>
      err instanceof StreamRefusal ? { code: err.code, details: err.details } : { code: grpc.status.INTERNAL, details: String(err) },
    ...overrides,
  };
  const proxyLog: string[] = [];
  const source: ProxySource = {
    open: (stream): OpenProxy => {
      proxyLog.push('open');
      return {
        identity: stream.identity!,
        request: (r) => {
          proxyLog.push(`request:${r.typeUrl}`);
          stream.send({ kind: 'sotw', versionInfo: '1', typeUrl: r.typeUrl, nonce: String(proxyLog.length), resources: [] }, () => proxyLog.push('abandon'));
        },
        close: () => void proxyLog.push('close'),
      };
    },
  };
  const call = new FakeCall();
  const stream = new AdsStream(1, 'sotw', call as unknown as AdsCall, callbacks);
  serveStream(call as unknown as AdsCall, stream, source, callbacks);
  return { call, stream, log, proxyLog };
}

describe('ADS stream loop', () => {
  it('opens the proxy on the first request only, hands on every request, writes what the source sends', () => {
    const { call, log, proxyLog } = setup();
    call.emit('data', request());
    call.emit('data', request(TypeUrl.Listener));
    assert.deepEqual(proxyLog, ['open', `request:${TypeUrl.Cluster}`, `request:${TypeUrl.Listener}`]);
    assert.deepEqual(log, ['open', 'request:sotw', 'connected', 'response:2:ok', 'request:sotw', 'response:3:ok']);
    assert.equal(call.written.length, 2);
  });

  it('a refusal at open ends the stream with the callbacks status and reads nothing', () => {
    const { call, log, proxyLog } = setup({
      onStreamOpen: () => {
        throw new StreamRefusal(grpc.status.RESOURCE_EXHAUSTED, 'full', 'max-proxies');
      },
    });
    call.emit('data', request());
    assert.deepEqual(call.statuses, [{ code: grpc.status.RESOURCE_EXHAUSTED, details: 'full' }]);
    assert.deepEqual(proxyLog, []);
    assert.ok(!log.includes('closed'), 'a refused stream was never open');
  });

  it('a refused request ends the stream once, closes its proxy once, and later messages are ignored', () => {
    const { call, log, proxyLog } = setup();
    call.emit('data', request());
    call.emit('data', { kind: 'malformed', error: 'truncated', size: 3 } satisfies MalformedRequest);
    call.emit('data', request());
    call.emit('close');
    assert.deepEqual(call.statuses, [{ code: grpc.status.INVALID_ARGUMENT, details: 'bad bytes' }]);
    assert.deepEqual(proxyLog.filter((x) => x === 'close'), ['close']);
    assert.deepEqual(log.filter((x) => x === 'closed'), ['closed']);
    assert.equal(proxyLog.filter((x) => x.startsWith('request:')).length, 1);
  });

  it('an error opening the proxy ends the stream with the status the callbacks choose', () => {
    const { call, proxyLog } = setup({
      onStreamRequest: () => {
        throw new Error('no identity');
      },
    });
    call.emit('data', request());
    assert.deepEqual(call.statuses, [{ code: grpc.status.INTERNAL, details: 'Error: no identity' }]);
    assert.deepEqual(proxyLog, []);
  });

  it('a client half-close ends our side and closes the proxy', () => {
    const { call, stream, proxyLog } = setup();
    call.emit('data', request());
    call.emit('end');
    assert.ok(call.writableEnded);
    assert.ok(stream.ending);
    assert.deepEqual(proxyLog.slice(-1), ['close']);
  });
});

describe('ADS server callbacks', () => {
  const callbacks = (o: { maxRequestsPerSecond?: number; maxProxies?: number } = {}) =>
    new ServerCallbacks({
      logger: silentLogger,
      metrics: undefined,
      trustDomain: 'cluster.local',
      maxProxies: o.maxProxies ?? 10,
      maxRequestsPerSecond: o.maxRequestsPerSecond ?? 5,
      adapters: new Map(),
      tls: new TlsFront({ mode: 'insecure' }, 'cluster.local'),
      peerTls: () => undefined,
      streamOpened: () => undefined,
      shuttingDown: () => false,
    });
  const node = { id: 'p-1', cluster: '', metadata: { kind: 'envoy', serviceAccount: 'web', namespace: 'shop' } };
  const open = (cb: ServerCallbacks, id = 1) => {
    const s = new AdsStream(id, 'delta', new FakeCall() as unknown as AdsCall, cb);
    cb.onStreamOpen(s);
    return s;
  };
  const sds = (subscribe: string[]): AdsRequest => ({
    kind: 'delta',
    node,
    typeUrl: TypeUrl.Secret,
    subscribe,
    unsubscribe: [],
    initialResourceVersions: new Map(),
    responseNonce: '',
    errorDetail: undefined,
  });

  it('the first request fixes the identity from the node, and other identities key secrets are taken out', () => {
    const cb = callbacks();
    const s = open(cb);
    const r = cb.onStreamRequest(s, sds(['service-cert:shop/web', 'service-cert:shop/db', 'root-cert-for-mtls-inbound']));
    assert.equal(s.identity?.uuid, 'p-1');
    assert.deepEqual(r.kind === 'delta' ? r.subscribe : [], ['service-cert:shop/web', 'root-cert-for-mtls-inbound']);
    assert.ok(s.reported?.has('secret-refused:service-cert:shop/db'));
  });

  it('a stream sending more than its rate is refused as a flood; a quiet one is not', () => {
    const cb = callbacks({ maxRequestsPerSecond: 3 });
    const s = open(cb);
    for (let i = 0; i < 3; i++) cb.onStreamRequest(s, sds([]));
    assert.throws(
      () => cb.onStreamRequest(s, sds([])),
      (e: unknown) => e instanceof StreamRefusal && e.code === grpc.status.RESOURCE_EXHAUSTED && e.problem === 'flood',
    );
  });

  it('streams beyond maxProxies are refused at open, and a closed stream frees its place', () => {
    const cb = callbacks({ maxProxies: 1 });
    const first = open(cb, 1);
    assert.throws(() => open(cb, 2), (e: unknown) => e instanceof StreamRefusal && e.problem === 'max-proxies');
    cb.onStreamClosed(first);
    assert.doesNotThrow(() => open(cb, 3));
  });

  it('a malformed message is refused with INVALID_ARGUMENT naming the message type', () => {
    const cb = callbacks();
    const s = open(cb);
    assert.throws(
      () => cb.onStreamRequest(s, { kind: 'malformed', error: 'index out of range', size: 7 }),
      (e: unknown) => e instanceof StreamRefusal && e.code === grpc.status.INVALID_ARGUMENT && /DeltaDiscoveryRequest: index out of range/.test(e.details),
    );
  });
});
