/**
 * Addresses as Envoy keys them in a listener's filter chain tree: a CIDR's address masked to its prefix
 * length, so "10.0.0.5/24" and "10.0.0.0/24" are the same range and "10.0.0.5" the same as "10.0.0.5/32".
 * The outbound listener uses it to give every destination address to one filter chain only.
 */

function ipv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return null;
  return parts.map(Number);
}

function ipv6(text: string): number[] | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === '') return [];
    const out = s.split(':').map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN));
    return out.some(Number.isNaN) ? null : out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (head === null || tail === null) return null;
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0) return null;
  const words = [...head, ...Array<number>(fill).fill(0), ...tail];
  return words.flatMap((w) => [w >> 8, w & 255]);
}

/** A CIDR as Envoy keys it: the address masked to its prefix length (so 10.0.0.5/24 and 10.0.0.0/24 are one). */
export function normalizeCidr(address: string, prefixLen: number): string {
  const v4 = ipv4(address);
  const bytes = v4 ?? ipv6(address);
  if (bytes === null) return `${address}/${prefixLen}`;
  const bits = v4 === null ? 128 : 32;
  const len = Math.min(Math.max(prefixLen, 0), bits);
  const masked = bytes.map((b, i) => {
    const keep = Math.min(Math.max(len - i * 8, 0), 8);
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  if (v4 !== null) return `${masked.join('.')}/${len}`;
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push((((masked[i] ?? 0) << 8) | (masked[i + 1] ?? 0)).toString(16));
  return `${words.join(':')}/${len}`;
}

/** "ip" or "ip/len" (a bare address is a host: /32 or /128), normalized. */
export function normalizeCidrText(value: string): string {
  const [ip = value, len] = value.split('/');
  return normalizeCidr(ip, len === undefined ? (ip.includes(':') ? 128 : 32) : Number(len));
}
