import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ENVOY_PROTO_FILES, envoyIncludeDirs, envoyProtos } from '@weft/protos';
import { Root, Type } from 'protobufjs';
import { TypeUrl } from './adapter.js';
import { CanonicalJsonError, REDACTED, anyBytesToCanonicalJson, durationString, protoFieldName, timestampFromMillis, timestampString, toCanonicalJson } from './canonical-json.js';
import { encodeResource, packAny, typedAny } from './encode.js';

const type = (name: string): Type => envoyProtos().lookupType(name);
/** A message as a proxy would decode it: object form -> bytes -> protobufjs Message. */
const decoded = (name: string, object: Record<string, unknown>): object => {
  const t = type(name);
  return t.decode(t.encode(t.fromObject(object)).finish());
};
const json = (name: string, object: Record<string, unknown>): unknown => toCanonicalJson(type(name), decoded(name, object));

describe('canonical proto3 JSON', () => {
  it('Durations as "1.5s" with 0, 3, 6 or 9 fractional digits, negative ones signed', () => {
    assert.deepEqual(json('envoy.config.cluster.v3.Cluster', { name: 'c', connectTimeout: { seconds: 1, nanos: 500_000_000 } }), {
      name: 'c',
      connect_timeout: '1.500s',
    });
    assert.equal(durationString(0, 0), '0s');
    assert.equal(durationString(5, 0), '5s');
    assert.equal(durationString(0, 1_000), '0.000001s');
    assert.equal(durationString(0, 1), '0.000000001s');
    assert.equal(durationString(-1, -500_000_000), '-1.500s');
    assert.equal(durationString(0, -1_000_000), '-0.001s');
    assert.throws(() => durationString(1, -1), CanonicalJsonError);
  });

  it('wrappers as their bare value, a 64-bit one as a string; a present wrapper holding zero is printed', () => {
    assert.deepEqual(
      json('envoy.config.cluster.v3.Cluster', {
        name: 'c',
        perConnectionBufferLimitBytes: { value: 32768 },
        maxRequestsPerConnection: { value: 0 },
        respectDnsTtl: true,
      }),
      { name: 'c', per_connection_buffer_limit_bytes: 32768, max_requests_per_connection: 0, respect_dns_ttl: true },
    );
    assert.deepEqual(json('envoy.config.route.v3.RouteAction', { cluster: 'x', hostRewriteLiteral: '', retryPolicy: { numRetries: { value: 3 } } }), {
      cluster: 'x',
      host_rewrite_literal: '',
      retry_policy: { num_retries: 3 },
    });
    assert.equal(toCanonicalJson(type('google.protobuf.UInt64Value'), decoded('google.protobuf.UInt64Value', { value: '18446744073709551615' })), '18446744073709551615');
    assert.equal(toCanonicalJson(type('google.protobuf.BoolValue'), decoded('google.protobuf.BoolValue', {})), false);
  });

  it('enums by name (an unknown number as the number), defaults left out unless in a oneof', () => {
    assert.deepEqual(json('envoy.config.cluster.v3.Cluster', { name: 'c', type: 'STATIC', lbPolicy: 'ROUND_ROBIN' }), { name: 'c', type: 'STATIC' });
    assert.deepEqual(json('envoy.config.cluster.v3.Cluster', { name: 'c', lbPolicy: 'RING_HASH', dnsLookupFamily: 'V4_ONLY' }), {
      name: 'c',
      lb_policy: 'RING_HASH',
      dns_lookup_family: 'V4_ONLY',
    });
    const t = type('envoy.config.cluster.v3.Cluster');
    assert.deepEqual(toCanonicalJson(t, { name: 'c', lbPolicy: 99 }), { name: 'c', lb_policy: 99 });
  });

  it('int64 as decimal strings (Longs included), bytes as base64, float32 at float32 precision, non-finite numbers as text', () => {
    // SocketOption.level/name/int_value are int64: decoded as Longs, printed as exact decimal strings.
    assert.deepEqual(json('envoy.config.core.v3.SocketOption', { level: 1, name: '9007199254740993', intValue: -2 }), {
      level: '1',
      name: '9007199254740993',
      int_value: '-2',
    });
    assert.deepEqual(json('envoy.type.v3.Int64Range', { start: 0, end: '-9223372036854775808' }), { end: '-9223372036854775808' });
    assert.deepEqual(json('envoy.data.accesslog.v3.ConnectionProperties', { receivedBytes: '18446744073709551615' }), { received_bytes: '18446744073709551615' });
    assert.deepEqual(json('envoy.type.v3.TokenBucket', { maxTokens: 10, tokensPerFill: { value: 2 }, fillInterval: { seconds: 1 } }), {
      max_tokens: 10,
      tokens_per_fill: 2,
      fill_interval: '1s',
    });
    assert.equal(toCanonicalJson(type('google.protobuf.Int64Value'), decoded('google.protobuf.Int64Value', { value: '-9007199254740993' })), '-9007199254740993');
    assert.equal(toCanonicalJson(type('google.protobuf.BytesValue'), decoded('google.protobuf.BytesValue', { value: Buffer.from([0, 255, 1]) })), 'AP8B');
    assert.equal(toCanonicalJson(type('google.protobuf.FloatValue'), decoded('google.protobuf.FloatValue', { value: 0.1 })), 0.1);
    assert.equal(toCanonicalJson(type('google.protobuf.DoubleValue'), { value: Number.NaN }), 'NaN');
    assert.equal(toCanonicalJson(type('google.protobuf.DoubleValue'), { value: -Infinity }), '-Infinity');
    assert.deepEqual(json('envoy.config.core.v3.DataSource', { inlineBytes: Buffer.from('hello') }), { inline_bytes: 'aGVsbG8=' });
  });

  it('Any as {"@type", ...fields}, resolved recursively; a well-known type inside an Any under "value"', () => {
    const hcm = typedAny('type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
      statPrefix: 's',
      streamIdleTimeout: { seconds: 300 },
      httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: typedAny('type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', {}) }],
    });
    const r = encodeResource(TypeUrl.Listener, 'l', { name: 'l', filterChains: [{ filters: [{ name: 'hcm', typedConfig: hcm }] }] });
    assert.deepEqual(anyBytesToCanonicalJson(r.any), {
      '@type': TypeUrl.Listener,
      name: 'l',
      filter_chains: [
        {
          filters: [
            {
              name: 'hcm',
              typed_config: {
                '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                stat_prefix: 's',
                stream_idle_timeout: '300s',
                http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
              },
            },
          ],
        },
      ],
    });
    const wrapped = packAny('type.googleapis.com/google.protobuf.Duration', { seconds: 2 });
    assert.deepEqual(toCanonicalJson(type('google.protobuf.Any'), wrapped), { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '2s' });
    const unknown = { type_url: 'type.googleapis.com/no.such.Message', value: new Uint8Array(0) };
    assert.throws(() => toCanonicalJson(type('google.protobuf.Any'), unknown), (e: CanonicalJsonError) => e.code === 'CANONICAL_JSON' && /no\.such\.Message/.test(e.message));
  });

  it('Struct as plain JSON, Timestamp as RFC 3339 in UTC, lowerCamelCase names on request', () => {
    const md = json('envoy.config.core.v3.Metadata', {
      filterMetadata: { 'envoy.lb': { fields: { a: { stringValue: 'x' }, n: { numberValue: 2.5 }, z: { nullValue: 'NULL_VALUE' }, l: { listValue: { values: [{ boolValue: true }] } } } } },
    });
    assert.deepEqual(md, { filter_metadata: { 'envoy.lb': { a: 'x', n: 2.5, z: null, l: [true] } } });
    assert.equal(timestampString(0, 0), '1970-01-01T00:00:00Z');
    assert.equal(timestampString(1_800_000_000, 120_000_000), '2027-01-15T08:00:00.120Z');
    assert.equal(timestampFromMillis(1_800_000_000_001), '2027-01-15T08:00:00.001Z');
    const t = type('envoy.config.cluster.v3.Cluster');
    assert.deepEqual(toCanonicalJson(t, decoded('envoy.config.cluster.v3.Cluster', { name: 'c', connectTimeout: { seconds: 1 } }), { names: 'json' }), {
      name: 'c',
      connectTimeout: '1s',
    });
  });

  it('sensitive fields read as Envoy admin redacts them: text and bytes "[redacted]", the rest cleared', () => {
    const secret = json('envoy.extensions.transport_sockets.tls.v3.Secret', {
      name: 's',
      tlsCertificate: { certificateChain: { inlineString: 'CHAIN' }, privateKey: { inlineBytes: Buffer.from('KEY') }, password: { inlineString: 'pw' } },
    });
    assert.deepEqual(secret, {
      name: 's',
      tls_certificate: {
        certificate_chain: { inline_string: 'CHAIN' },
        private_key: { inline_bytes: Buffer.from(REDACTED).toString('base64') },
        password: { inline_string: REDACTED },
      },
    });
    assert.doesNotMatch(JSON.stringify(secret), /KEY|pw/);
    const kept = toCanonicalJson(type('envoy.config.core.v3.DataSource'), { inlineString: 'k' }, { redactSensitive: false });
    assert.deepEqual(kept, { inline_string: 'k' });
  });

  it('the .proto name of every field of every Envoy message Weft loads is its protobufjs name with _x for X', () => {
    // protobufjs camel-cases names on load; the converter undoes it. Parse the same files keeping the case
    // and compare every field, so a name the rule gets wrong cannot slip into a dump.
    const dirs = envoyIncludeDirs();
    const keep = new Root();
    keep.resolvePath = (_origin, target) => {
      if (path.isAbsolute(target)) return target;
      return dirs.map((d) => path.join(d, target)).find((c) => fs.existsSync(c)) ?? target;
    };
    keep.loadSync(
      ENVOY_PROTO_FILES.filter((f) => dirs.some((d) => fs.existsSync(path.join(d, f)))),
      { keepCase: true },
    );
    const loaded = envoyProtos();
    let checked = 0;
    const wrong: string[] = [];
    const walk = (ns: { nestedArray: readonly unknown[] }): void => {
      for (const o of ns.nestedArray) {
        if (o instanceof Type && !o.fullName.startsWith('.google.protobuf.')) {
          const camel = loaded.lookupType(o.fullName);
          for (const f of o.fieldsArray) {
            checked++;
            const name = camel.fieldsById[f.id]!.name;
            if (protoFieldName(name) !== f.name) wrong.push(`${o.fullName}.${f.name} (${name})`);
          }
        }
        if (o !== null && typeof o === 'object' && 'nestedArray' in o) walk(o as { nestedArray: readonly unknown[] });
      }
    };
    walk(keep);
    assert.ok(checked > 1000, `checked ${checked} fields`);
    assert.deepEqual(wrong, []);
  });
});
