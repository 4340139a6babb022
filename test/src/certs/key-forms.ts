import { createPrivateKey } from 'node:crypto';

/** Every form a private key could leak in: PEM text, its base64 body and lines, its DER bytes, their hex. */
export function keyForms(keyPem: string): { label: string; bytes: Buffer }[] {
  const body = keyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  const lines = keyPem.split('\n').filter((l) => l.length >= 32 && !l.startsWith('-----'));
  return [
    { label: 'PEM header', bytes: Buffer.from('PRIVATE KEY') },
    { label: 'base64 body', bytes: Buffer.from(body) },
    ...lines.map((l, i) => ({ label: `base64 line ${i}`, bytes: Buffer.from(l) })),
    { label: 'DER', bytes: der },
    { label: 'DER hex', bytes: Buffer.from(der.toString('hex')) },
    { label: 'DER middle (private scalar region)', bytes: der.subarray(7, 7 + 32) },
  ];
}

/** The forms of `keyPem` found in `haystack` (empty: no leak). */
export function leaks(haystack: Buffer, keyPem: string): string[] {
  return keyForms(keyPem).filter((f) => haystack.includes(f.bytes)).map((f) => f.label);
}
