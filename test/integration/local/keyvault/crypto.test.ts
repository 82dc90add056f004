/**
 * Cryptographic operations through the official CryptographyClient against the emulator, and interop
 * with node:crypto in both directions (what the pipeline does: encrypt locally with the public key,
 * decrypt in the vault; sign in the vault, verify locally).
 */
import assert from 'node:assert/strict';
import {
  constants,
  createHash,
  createPublicKey,
  publicEncrypt,
  randomBytes,
  verify,
  type KeyObject,
} from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { KeyClient, KeyVaultKey, SignatureAlgorithm } from '@azure/keyvault-keys';
import {
  ADMIN,
  adminRequest,
  CRYPTO_USER,
  failure,
  OFFICER,
  startStack,
  TENANT,
  VAULT_AUDIENCE,
  type TestStack,
} from './support.js';

function publicKeyOf(key: KeyVaultKey): KeyObject {
  const b64 = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString('base64url');
  const jwk = key.key!;
  return jwk.kty?.startsWith('RSA')
    ? createPublicKey({ key: { kty: 'RSA', n: b64(jwk.n), e: b64(jwk.e) }, format: 'jwk' })
    : createPublicKey({ key: { kty: 'EC', crv: jwk.crv!, x: b64(jwk.x), y: b64(jwk.y) }, format: 'jwk' });
}

describe('Key Vault emulator: crypto through CryptographyClient', () => {
  let stack: TestStack;
  let keys: KeyClient;
  let rsa: KeyVaultKey;
  let p256: KeyVaultKey;
  let p384: KeyVaultKey;

  before(async () => {
    stack = await startStack();
    keys = stack.keyClient(stack.credential(OFFICER));
    [rsa, p256, p384] = await Promise.all([
      keys.createRsaKey('rsa'),
      keys.createEcKey('p256', { curve: 'P-256' }),
      keys.createEcKey('p384', { curve: 'P-384' }),
    ]);
  });
  after(async () => stack?.close());

  it('encrypts and decrypts with RSA-OAEP and RSA-OAEP-256', async () => {
    const crypto = stack.cryptoClient(rsa.id!, stack.credential(CRYPTO_USER));
    for (const algorithm of ['RSA-OAEP', 'RSA-OAEP-256'] as const) {
      const plaintext = randomBytes(100);
      const encrypted = await crypto.encrypt({ algorithm, plaintext });
      assert.equal(encrypted.result.length, 256);
      assert.equal(encrypted.keyID, rsa.id);
      const decrypted = await crypto.decrypt({ algorithm, ciphertext: encrypted.result });
      assert.deepEqual(Buffer.from(decrypted.result), plaintext);
      assert.equal(decrypted.keyID, rsa.id);
    }
  });

  it('wraps and unwraps a key with RSA-OAEP and RSA-OAEP-256', async () => {
    const crypto = stack.cryptoClient(rsa.id!, stack.credential(CRYPTO_USER));
    for (const algorithm of ['RSA-OAEP', 'RSA-OAEP-256'] as const) {
      const contentKey = randomBytes(32);
      const wrapped = await crypto.wrapKey(algorithm, contentKey);
      const unwrapped = await crypto.unwrapKey(algorithm, wrapped.result);
      assert.deepEqual(Buffer.from(unwrapped.result), contentKey);
    }
  });

  it('RSA1_5: the SDK encrypts locally (no call to the vault), the vault decrypts; so do wrap and unwrap', async () => {
    const crypto = stack.cryptoClient(rsa.id!, stack.credential(CRYPTO_USER));
    const encryptCalls = async () => {
      const token = await stack.identity.mintToken({ tenant: TENANT, oid: ADMIN, audience: VAULT_AUDIENCE });
      const stats = (await adminRequest(stack, 'GET', '/.emulator/stats', token)).body as {
        byCaller: Record<string, Record<string, Record<string, number>>>;
      };
      return Object.values(stats.byCaller[CRYPTO_USER]?.encrypt ?? {}).reduce((a, b) => a + b, 0);
    };
    const plaintext = randomBytes(100);
    const before = await encryptCalls();
    // The SDK fetches the public key (a GET), then encrypts RSA1_5 itself.
    const encrypted = await crypto.encrypt({ algorithm: 'RSA1_5', plaintext });
    assert.equal(await encryptCalls(), before, 'the SDK encrypted RSA1_5 locally');
    const decrypted = await crypto.decrypt({ algorithm: 'RSA1_5', ciphertext: encrypted.result });
    assert.deepEqual(Buffer.from(decrypted.result), plaintext);

    const contentKey = randomBytes(32);
    const wrapped = await crypto.wrapKey('RSA1_5', contentKey);
    assert.deepEqual(Buffer.from((await crypto.unwrapKey('RSA1_5', wrapped.result)).result), contentKey);
  });

  it('RSA1_5: decrypts what node:crypto made with PKCS #1 v1.5 padding, and refuses a ciphertext that is not', async () => {
    const crypto = stack.cryptoClient(rsa.id!, stack.credential(CRYPTO_USER));
    const secret = Buffer.from('correct horse battery staple');
    const ciphertext = publicEncrypt({ key: publicKeyOf(rsa), padding: constants.RSA_PKCS1_PADDING }, secret);
    const decrypted = await crypto.decrypt({ algorithm: 'RSA1_5', ciphertext });
    assert.deepEqual(Buffer.from(decrypted.result), secret);

    const oaep = await crypto.encrypt({ algorithm: 'RSA-OAEP', plaintext: secret });
    const refused = await failure(crypto.decrypt({ algorithm: 'RSA1_5', ciphertext: oaep.result }));
    assert.equal(refused.status, 400);
    assert.equal(refused.code, 'BadParameter');
  });

  const signatureCases: [string, () => KeyVaultKey, SignatureAlgorithm, 'sha256' | 'sha384'][] = [
    ['RS256', () => rsa, 'RS256', 'sha256'],
    ['PS256', () => rsa, 'PS256', 'sha256'],
    ['ES256', () => p256, 'ES256', 'sha256'],
    ['ES384', () => p384, 'ES384', 'sha384'],
  ];
  for (const [name, keyOf, algorithm, hash] of signatureCases) {
    it(`signs a digest with ${name}; the vault and node:crypto both verify it, and refuse a tampered one`, async () => {
      const key = keyOf();
      const crypto = stack.cryptoClient(key.id!, stack.credential(CRYPTO_USER));
      const message = Buffer.from(`reply for ${name}`);
      const digest = createHash(hash).update(message).digest();
      const signed = await crypto.sign(algorithm, digest);
      assert.equal(signed.keyID, key.id);

      assert.equal((await crypto.verify(algorithm, digest, signed.result)).result, true);
      const tampered = Buffer.from(signed.result);
      tampered[tampered.length - 1]! ^= 0x01;
      assert.equal((await crypto.verify(algorithm, digest, tampered)).result, false);
      const otherDigest = createHash(hash).update('another message').digest();
      assert.equal((await crypto.verify(algorithm, otherDigest, signed.result)).result, false);

      const options = name.startsWith('ES')
        ? { key: publicKeyOf(key), dsaEncoding: 'ieee-p1363' as const }
        : name.startsWith('PS')
          ? { key: publicKeyOf(key), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
          : { key: publicKeyOf(key) };
      assert.equal(verify(hash, message, options, signed.result), true, 'node:crypto accepts the signature');
      assert.equal(verify(hash, message, options, tampered), false);
    });
  }

  it('signs and verifies data (the SDK hashes it) with ES256', async () => {
    const crypto = stack.cryptoClient(p256.id!, stack.credential(CRYPTO_USER));
    const data = Buffer.from('heartbeat');
    const signed = await crypto.signData('ES256', data);
    assert.equal((await crypto.verifyData('ES256', data, signed.result)).result, true);
    assert.equal((await crypto.verifyData('ES256', Buffer.from('other'), signed.result)).result, false);
  });

  it('signs with ES512 on a P-521 key', async () => {
    const p521 = await keys.createEcKey('p521', { curve: 'P-521' });
    const crypto = stack.cryptoClient(p521.id!, stack.credential(CRYPTO_USER));
    const message = Buffer.from('p521');
    const signed = await crypto.sign('ES512', createHash('sha512').update(message).digest());
    assert.equal(signed.result.length, 132);
    assert.equal(
      verify('sha512', message, { key: publicKeyOf(p521), dsaEncoding: 'ieee-p1363' }, signed.result),
      true,
    );
  });

  it('decrypts a ciphertext of an old version by its versioned kid after rotation', async () => {
    const original = await keys.createRsaKey('rolled');
    const current = stack.cryptoClient(
      `${stack.emulator.vaultUri}/keys/rolled`,
      stack.credential(CRYPTO_USER),
    );
    const secret = Buffer.from('P@ssw0rd-before-rotation');
    const before = await current.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: secret });
    assert.equal(before.keyID, original.id, 'the result names the version that encrypted');

    const rotated = await keys.rotateKey('rolled');
    const byVersion = stack.cryptoClient(before.keyID!, stack.credential(CRYPTO_USER));
    const decrypted = await byVersion.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: before.result });
    assert.deepEqual(Buffer.from(decrypted.result), secret);

    const latest = stack.cryptoClient(
      `${stack.emulator.vaultUri}/keys/rolled`,
      stack.credential(CRYPTO_USER),
    );
    const after = await latest.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: secret });
    assert.equal(after.keyID, rotated.id);
    const wrongVersion = await failure(
      latest.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: before.result }),
    );
    assert.equal(wrongVersion.status, 400, 'the new version cannot decrypt what the old one encrypted');
  });

  it('decrypts what node:crypto publicEncrypt (OAEP, SHA-256) made with the JWK that getKey returns', async () => {
    const fetched = await stack.keyClient(stack.credential(CRYPTO_USER)).getKey('rsa');
    const secret = Buffer.from('correct horse battery staple');
    const ciphertext = publicEncrypt(
      { key: publicKeyOf(fetched), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      secret,
    );
    const crypto = stack.cryptoClient(fetched.id!, stack.credential(CRYPTO_USER));
    const decrypted = await crypto.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext });
    assert.deepEqual(Buffer.from(decrypted.result), secret);
  });
});
