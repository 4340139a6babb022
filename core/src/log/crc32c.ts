/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8. It guards every log record; the
 * Castagnoli polynomial detects all burst errors up to 32 bits and has better Hamming distance than the
 * zlib CRC at record sizes, and it is what Kafka and iSCSI use, so tools exist to cross-check it.
 */

const POLY = 0x82f63b78;

const TABLES: Int32Array[] = (() => {
  const tables: Int32Array[] = [];
  const t0 = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[n] = c;
  }
  tables.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1]!;
    const cur = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      const p = prev[n]!;
      cur[n] = (p >>> 8) ^ t0[p & 0xff]!;
    }
    tables.push(cur);
  }
  return tables;
})();

const [T0, T1, T2, T3, T4, T5, T6, T7] = TABLES as [
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
];

/**
 * CRC-32C of `data[start, end)`, continuing from `previous` (the CRC of the bytes before), so a value can be
 * computed over several buffers. Returns an unsigned 32-bit integer.
 */
export function crc32c(data: Uint8Array, previous = 0, start = 0, end = data.length): number {
  let crc = ~previous;
  let i = start;
  const last8 = end - 8;
  while (i <= last8) {
    const a = (crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) | 0;
    crc =
      T7[a & 0xff]! ^
      T6[(a >>> 8) & 0xff]! ^
      T5[(a >>> 16) & 0xff]! ^
      T4[a >>> 24]! ^
      T3[data[i + 4]!]! ^
      T2[data[i + 5]!]! ^
      T1[data[i + 6]!]! ^
      T0[data[i + 7]!]!;
    i += 8;
  }
  while (i < end) {
    crc = (crc >>> 8) ^ T0[(crc ^ data[i]!) & 0xff]!;
    i++;
  }
  return ~crc >>> 0;
}
