import assert from 'node:assert/strict';
import { test } from 'node:test';
import { weftProtos } from '@weft/protos';
import { canonicalJson, decodeBatch, encodeBatch, encodePrepared, prepareEvent, summarizeBatch } from './codec.js';
import { EventDecodeError, EventSchemaVersionError } from './errors.js';
import { endpointsFor, inputFor, workloadFor } from './testdata/events.js';
import type { LogBatch } from './types.js';

test('canonicalJson sorts keys recursively and is independent of insertion order', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [3, { y: 1, x: 2 }], c: null } }), '{"a":{"c":null,"d":[3,{"x":2,"y":1}]},"b":1}');
  const w = workloadFor('ns/a');
  const shuffled = Object.fromEntries(Object.entries(w).reverse());
  assert.equal(canonicalJson(shuffled), canonicalJson(w));
  assert.notEqual(JSON.stringify(shuffled), JSON.stringify(w));
  assert.deepEqual(JSON.parse(canonicalJson(w)), w);
  // Integer-like keys come first from Object.keys, in numeric order, which is not code-unit order; keys
  // already in order and keys out of order only at the end are both handled.
  assert.equal(canonicalJson({ 9: 'x', 10: 'y', b: 1, a: 2 }), '{"10":"y","9":"x","a":2,"b":1}');
  assert.equal(canonicalJson({ a: 1, b: 2, c: 3 }), '{"a":1,"b":2,"c":3}');
  assert.equal(canonicalJson({ a: 1, b: 2, d: 3, c: 4 }), '{"a":1,"b":2,"c":4,"d":3}');
});

test('canonicalJson follows JSON for undefined, toJSON, strings and numbers', () => {
  assert.equal(canonicalJson({ a: undefined, b: [undefined, 1] }), '{"b":[null,1]}');
  assert.equal(canonicalJson(new Date(0)), '"1970-01-01T00:00:00.000Z"');
  assert.equal(canonicalJson('é\u2028"\\'), JSON.stringify('é\u2028"\\'));
  assert.equal(canonicalJson(-0), '0');
  assert.equal(canonicalJson(1e21), '1e+21');
});

test('canonicalJson refuses values JSON cannot carry, naming where', () => {
  assert.throws(() => canonicalJson({ a: { b: [1, Infinity] } }), /a\.b\[1\]: Infinity has no JSON form/);
  assert.throws(() => canonicalJson({ n: 1n }), /n: a bigint/);
  assert.throws(() => canonicalJson({ f: () => 1 }), /f: a function/);
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  assert.throws(() => canonicalJson(cyclic), /self\.self\.self.*: nested deeper than 200 levels \(a cycle\?\)$/);
  // The same object twice is not a cycle.
  const shared = { x: 1 };
  assert.equal(canonicalJson([shared, shared]), '[{"x":1},{"x":1}]');
});

test('a batch round-trips through the protobuf envelope', () => {
  const inputs = [inputFor('ns/a'), { source: 's', op: 'delete' as const, kind: 'Workload' as const, key: 'ns/gone' }];
  const prepared = inputs.map((e, i) => prepareEvent(e, i, 42));
  const bytes = encodePrepared(prepared, 1_000_000_000_000);
  const batch = decodeBatch(bytes);
  assert.deepEqual(batch.events[0], { v: 1, offset: 1_000_000_000_000, time: 42, source: 'test', op: 'upsert', kind: inputs[0]!.kind, key: 'ns/a', body: JSON.parse(JSON.stringify(inputs[0]!.body)) });
  assert.deepEqual(batch.events[1], { v: 1, offset: 1_000_000_000_001, time: 42, source: 's', op: 'delete', kind: 'Workload', key: 'ns/gone' });
  assert.deepEqual(summarizeBatch(bytes), { firstOffset: 1_000_000_000_000, count: 2 });
  // encodeBatch of the decoded batch gives the same bytes: bodies are canonical.
  assert.deepEqual(Buffer.from(encodeBatch(batch)), Buffer.from(bytes));
});

test('the same resource always encodes to the same bytes', () => {
  const a = endpointsFor('ns/e');
  const b = JSON.parse(JSON.stringify(a)) as typeof a;
  const e = (body: unknown): Buffer =>
    Buffer.from(encodePrepared([prepareEvent({ source: 's', op: 'upsert', kind: 'Endpoints', key: 'ns/e', body }, 0, 1)], 0));
  assert.deepEqual(e(a), e(Object.fromEntries(Object.entries(b).reverse())));
});

function raw(events: Record<string, unknown>[]): Uint8Array {
  return weftProtos().lookupType('weft.event.v1.Batch').encode({ events }).finish();
}
const good = { v: 1, offset: 5, time: 1, source: 's', op: 1, kind: 'Workload', key: 'a/b', body: Buffer.from('{}') };

test('decoding refuses an unknown schema version with a typed error', () => {
  assert.throws(() => decodeBatch(raw([{ ...good, v: 2 }]), 'seg at byte 0'), (err: unknown) => {
    assert.ok(err instanceof EventSchemaVersionError);
    assert.equal(err.code, 'EVENT_SCHEMA_UNKNOWN');
    assert.equal(err.version, 2);
    assert.match(err.message, /seg at byte 0/);
    return true;
  });
});

test('decoding refuses bad ops, kinds, offsets and bodies', () => {
  const cases: [Record<string, unknown>[], RegExp][] = [
    [[{ ...good, op: 0 }], /unknown op 0/],
    [[{ ...good, op: 7 }], /unknown op 7/],
    [[{ ...good, kind: 'Pod' }], /unknown kind "Pod"/],
    [[good, { ...good, offset: 7 }], /offset 7 breaks/],
    [[{ ...good, body: Buffer.from('{') }], /body is not JSON/],
    [[{ ...good, body: Buffer.alloc(0) }], /upsert without body/],
    [[{ ...good, op: 2 }], /delete with a body/],
    [[{ ...good, key: '' }], /empty key/],
    [[], /no events/],
  ];
  for (const [events, re] of cases) {
    assert.throws(() => decodeBatch(raw(events)), (err: unknown) => err instanceof EventDecodeError && re.test(err.message), String(re));
  }
  assert.throws(() => decodeBatch(Buffer.from([0x0a, 0xff, 0xff])), EventDecodeError);
});

test('decoded batches type-check as LogBatch', () => {
  const b: LogBatch = decodeBatch(encodePrepared([prepareEvent(inputFor('x/y'), 0, 0)], 0));
  assert.equal(b.events.length, 1);
});

test('the wire decoder agrees with protobufjs on random batches', async () => {
  const fc = await import('fast-check');
  const Batch = weftProtos().lookupType('weft.event.v1.Batch');
  const kinds = ['Workload', 'Service', 'Endpoints', 'TrafficTarget'] as const;
  const event = fc.record({
    op: fc.constantFrom('upsert' as const, 'delete' as const),
    kind: fc.constantFrom(...kinds),
    key: fc.string({ minLength: 1, maxLength: 40 }),
    source: fc.string({ minLength: 1, maxLength: 12 }),
    time: fc.maxSafeNat(),
    body: fc.jsonValue(),
  });
  fc.assert(
    fc.property(fc.array(event, { minLength: 1, maxLength: 8 }), fc.maxSafeNat(), (events, first) => {
      const firstOffset = Math.min(first, Number.MAX_SAFE_INTEGER - events.length);
      const inputs = events.map((e) =>
        e.op === 'delete' ? { source: e.source, op: e.op, kind: e.kind, key: e.key, time: e.time } : { ...e, body: e.body ?? 0 },
      );
      const bytes = encodePrepared(inputs.map((e, i) => prepareEvent(e, i, 0)), firstOffset);
      const ours = decodeBatch(bytes);
      const theirs = Batch.toObject(Batch.decode(bytes), { longs: Number, defaults: true }) as {
        events: { v: number; offset: number; time: number; source: string; op: number; kind: string; key: string; body: Uint8Array }[];
      };
      assert.equal(ours.events.length, theirs.events.length);
      ours.events.forEach((e, i) => {
        const t = theirs.events[i]!;
        assert.deepEqual(
          [e.v, e.offset, e.time, e.source, e.op === 'upsert' ? 1 : 2, e.kind, e.key],
          [t.v, t.offset, t.time, t.source, t.op, t.kind, t.key],
        );
        assert.equal(e.body === undefined ? '' : canonicalJson(e.body), Buffer.from(t.body).toString('utf8'));
      });
    }),
    { numRuns: 300 },
  );
});

test('the wire decoder skips unknown fields and refuses truncated input with a typed error', () => {
  const bytes = Buffer.from(encodePrepared([prepareEvent(inputFor('ns/a'), 0, 7)], 3));
  // Add to the event fields 15 (varint) and 16 (bytes), and to the batch field 3, as a newer writer might.
  const extra = Buffer.from([0x78, 0x96, 0x01, 0x82, 0x01, 0x02, 0x41, 0x42]);
  assert.equal(bytes[0], 0x0a);
  const lengthBytes = (n: number): Buffer => {
    const out: number[] = [];
    while (n > 127) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return Buffer.from(out);
  };
  const eventBytes = Buffer.concat([decodeLengthDelimited(bytes), extra]);
  const widened = Buffer.concat([Buffer.from([0x0a]), lengthBytes(eventBytes.length), eventBytes, Buffer.from([0x18, 0x05])]);
  assert.deepEqual(decodeBatch(widened), decodeBatch(bytes));
  for (let len = 1; len < bytes.length; len++) {
    assert.throws(() => decodeBatch(bytes.subarray(0, len)), (err: unknown) => err instanceof EventDecodeError || err instanceof EventSchemaVersionError, `cut at ${len}`);
  }
});

/** The payload of the first field-1 entry of an encoded Batch. */
function decodeLengthDelimited(bytes: Buffer): Buffer {
  let pos = 1;
  let len = 0;
  let mul = 1;
  for (;;) {
    const b = bytes[pos++]!;
    len += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) break;
    mul *= 128;
  }
  return bytes.subarray(pos, pos + len);
}
