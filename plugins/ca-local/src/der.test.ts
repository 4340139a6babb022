import assert from 'node:assert/strict';
import { createECDH, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { CaMaterialError } from './errors.js';
import { keyIdentifier, keyUsage, p256KeyEncodings } from './der.js';
import forge from 'node-forge';

describe('P-256 key encodings', () => {
  it('match what Node encodes for the same key, including scalars with leading zero bytes', () => {
    for (let i = 0; i < 100; i++) {
      const ecdh = createECDH('prime256v1');
      const point = ecdh.generateKeys();
      const scalar = ecdh.getPrivateKey();
      const { spkiDer, pkcs8Pem } = p256KeyEncodings(scalar, point);
      const key = createPrivateKey(pkcs8Pem);
      assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.equal(key.export({ type: 'pkcs8', format: 'pem' }), pkcs8Pem, 'byte-identical PKCS#8');
      assert.deepEqual(createPublicKey(key).export({ type: 'spki', format: 'der' }), spkiDer);
      if (i < 5) {
        const sig = sign('sha256', Buffer.from('x'), key);
        assert.ok(verify('sha256', Buffer.from('x'), createPublicKey({ key: spkiDer, format: 'der', type: 'spki' }), sig));
      }
    }
    assert.throws(() => p256KeyEncodings(Buffer.alloc(32), Buffer.alloc(33)), CaMaterialError);
  });

  it('pads a short scalar to 32 bytes', () => {
    const ref = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const jwk = ref.privateKey.export({ format: 'jwk' });
    const scalar = Buffer.from(jwk.d!, 'base64url');
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    const stripped = scalar.subarray(1); // pretend the first byte was zero and dropped
    const padded = Buffer.concat([Buffer.alloc(1), stripped]);
    const { pkcs8Pem } = p256KeyEncodings(stripped, point);
    const der = createPrivateKey(pkcs8Pem).export({ type: 'pkcs8', format: 'der' });
    assert.ok(der.includes(padded), 'the scalar sits in the encoding as 32 bytes');
  });
});

describe('DER helpers', () => {
  it('encodes keyUsage bit strings minimally', () => {
    const encoded = (bits: number[]): string => forge.util.bytesToHex(forge.asn1.toDer(keyUsage(bits)).getBytes());
    // ... OCTET STRING { BIT STRING unused-bits value }
    assert.match(encoded([0]), /040403020780$/);
    assert.match(encoded([0, 5, 6]), /040403020186$/);
    assert.match(encoded([0, 2]), /0404030205a0$/);
  });

  it('derives the RFC 5280 key identifier (SHA-1 of the public key bits)', () => {
    const ecdh = createECDH('prime256v1');
    const point = ecdh.generateKeys();
    const { spkiDer } = p256KeyEncodings(ecdh.getPrivateKey(), point);
    const expected = createHash('sha1').update(point).digest();
    assert.deepEqual(keyIdentifier(spkiDer), expected);
  });
});
