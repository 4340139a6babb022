import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { envoyProtos, parseEnvoyProtos, writeEnvoyDescriptor } from './index.js';

/**
 * protobufjs's JSON form drops enum value options (annotations such as `deprecated`); they do not change the
 * wire format, so the comparison leaves them out and the encoded bytes are compared as well.
 */
function withoutValueOptions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutValueOptions);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (k !== 'valuesOptions') out[k] = withoutValueOptions(v);
  return out;
}

test('the JSON descriptor describes exactly the types parsed from the .proto files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-descriptor-'));
  try {
    const file = writeEnvoyDescriptor(path.join(dir, 'envoy.json'));
    const fromJson = protobuf.Root.fromJSON((JSON.parse(fs.readFileSync(file, 'utf8')) as { root: protobuf.INamespace }).root);
    const parsed = parseEnvoyProtos();
    assert.deepEqual(withoutValueOptions(fromJson.toJSON()), withoutValueOptions(parsed.toJSON()));
    const type = 'envoy.config.cluster.v3.Cluster';
    const msg = { name: 'bookstore/bookstore|14001', type: 'EDS', edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } }, connectTimeout: { seconds: 1 } };
    const a = fromJson.lookupType(type);
    const b = parsed.lookupType(type);
    assert.deepEqual(Buffer.from(a.encode(a.fromObject(msg)).finish()), Buffer.from(b.encode(b.fromObject(msg)).finish()));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('envoyProtos serves the same types whichever way it loaded', () => {
  assert.deepEqual(withoutValueOptions(envoyProtos().toJSON()), withoutValueOptions(parseEnvoyProtos().toJSON()));
});
