import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32c } from './crc32c.js';

test('CRC-32C known vectors (RFC 3720 B.4 and the check value)', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa);
  assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
  assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

test('CRC-32C slicing-by-8 equals the bytewise definition at every length and alignment', () => {
  const bitwise = (data: Uint8Array): number => {
    let c = 0xffffffff;
    for (const b of data) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return (c ^ 0xffffffff) >>> 0;
  };
  const data = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 255));
  for (let start = 0; start < 9; start++) {
    for (let len = 0; len < 80; len++) {
      const slice = data.subarray(start, start + len);
      assert.equal(crc32c(slice), bitwise(slice), `start ${start} len ${len}`);
      assert.equal(crc32c(data, 0, start, start + len), bitwise(slice));
    }
  }
});

test('CRC-32C continues across buffers', () => {
  const a = Buffer.from('hello, ');
  const b = Buffer.from('world');
  assert.equal(crc32c(b, crc32c(a)), crc32c(Buffer.concat([a, b])));
});
