/**
 * Key Vault's refusals through the official SDK: disabled, expired and not-yet-valid versions,
 * operations outside key_ops, unknown algorithms, malformed input and unknown keys.
 *
 * The SDK checks key_ops, nbf and exp itself when it has fetched the key, so the service's own checks
 * are reached the way they are in production: by a client that fetched the key before it changed.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { CryptographyClient, KeyClient, KeyVaultKey } from '@azure/keyvault-keys';
import { CRYPTO_USER, failure, OFFICER, startStack, type TestStack } from './support.js';

const OAEP256 = 'RSA-OAEP-256' as const;

describe('Key Vault emulator: refusals', () => {
  let stack: TestStack;
  let officer: KeyClient;

  before(async () => {
    stack = await startStack();
    officer = stack.keyClient(stack.credential(OFFICER));
  });
  after(async () => stack?.close());

  /** A crypto client that has fetched `key` (as a long-lived client has). */
  async function warmClient(
    key: KeyVaultKey,
  ): Promise<{ crypto: CryptographyClient; ciphertext: Uint8Array }> {
    const crypto = stack.cryptoClient(key.id!, stack.credential(CRYPTO_USER));
    const { result } = await crypto.encrypt({ algorithm: OAEP256, plaintext: Buffer.from('before') });
    return { crypto, ciphertext: result };
  }

  it('refuses decrypt, unwrap and sign on a disabled version, but still encrypts with it', async () => {
    const key = await officer.createRsaKey('disabled');
    const { crypto, ciphertext } = await warmClient(key);
    await officer.updateKeyProperties('disabled', key.properties.version!, { enabled: false });

    for (const call of [
      () => crypto.decrypt({ algorithm: OAEP256, ciphertext }),
      () => crypto.unwrapKey(OAEP256, ciphertext),
      () => crypto.sign('RS256', randomBytes(32)),
    ]) {
      const refused = await failure(call());
      assert.equal(refused.status, 403);
      assert.equal(refused.code, 'Forbidden');
      assert.equal(refused.inner, 'KeyDisabled');
    }
    assert.match(
      (await failure(crypto.decrypt({ algorithm: OAEP256, ciphertext }))).error.message,
      /Operation decrypt is not allowed on a disabled key/,
    );
    assert.equal(
      (await crypto.encrypt({ algorithm: OAEP256, plaintext: Buffer.from('x') })).result.length,
      256,
    );

    // A new client reads the disabled key's public part, and the service still refuses to decrypt.
    const fresh = stack.cryptoClient(key.id!, stack.credential(CRYPTO_USER));
    assert.equal((await failure(fresh.decrypt({ algorithm: OAEP256, ciphertext }))).inner, 'KeyDisabled');
  });

  it('refuses encrypt, wrap and sign with an expired version, and still decrypts what it encrypted', async () => {
    const key = await officer.createRsaKey('expired');
    const { crypto, ciphertext } = await warmClient(key);
    await officer.updateKeyProperties('expired', key.properties.version!, {
      expiresOn: new Date(Date.now() - 60_000),
    });

    for (const call of [
      () => crypto.encrypt({ algorithm: OAEP256, plaintext: Buffer.from('after') }),
      () => crypto.wrapKey(OAEP256, randomBytes(32)),
      () => crypto.sign('PS256', randomBytes(32)),
    ]) {
      const refused = await failure(call());
      assert.equal(refused.status, 403);
      assert.equal(refused.inner, 'KeyExpired');
    }
    const decrypted = await crypto.decrypt({ algorithm: OAEP256, ciphertext });
    assert.equal(Buffer.from(decrypted.result).toString(), 'before');
  });

  it('refuses encrypt and sign with a version that is not yet valid', async () => {
    const key = await officer.createRsaKey('future');
    const { crypto } = await warmClient(key);
    await officer.updateKeyProperties('future', key.properties.version!, {
      notBefore: new Date(Date.now() + 3_600_000),
    });
    const refused = await failure(crypto.encrypt({ algorithm: OAEP256, plaintext: Buffer.from('x') }));
    assert.equal(refused.status, 403);
    assert.equal(refused.inner, 'KeyNotYetValid');
    assert.equal((await failure(crypto.sign('RS256', randomBytes(32)))).inner, 'KeyNotYetValid');
  });

  it('refuses an operation that is not in the version’s key_ops', async () => {
    const key = await officer.createRsaKey('narrowed');
    const { crypto, ciphertext } = await warmClient(key);
    await officer.updateKeyProperties('narrowed', key.properties.version!, {
      keyOps: ['wrapKey', 'unwrapKey'],
    });
    const refused = await failure(crypto.decrypt({ algorithm: OAEP256, ciphertext }));
    assert.equal(refused.status, 403);
    assert.equal(refused.inner, 'KeyOperationForbidden');
    assert.match(refused.error.message, /Operation decrypt is not permitted on this key/);
    assert.equal(
      (await failure(crypto.encrypt({ algorithm: OAEP256, plaintext: Buffer.from('x') }))).inner,
      'KeyOperationForbidden',
    );
  });

  it('refuses unknown algorithms and algorithms that do not fit the key', async () => {
    const rsa = await officer.createRsaKey('alg-rsa');
    const ec = await officer.createEcKey('alg-ec', { curve: 'P-256' });
    const rsaCrypto = stack.cryptoClient(rsa.id!, stack.credential(CRYPTO_USER));
    const ecCrypto = stack.cryptoClient(ec.id!, stack.credential(CRYPTO_USER));
    const digest = createHash('sha256').update('m').digest();
    for (const call of [
      () => rsaCrypto.encrypt({ algorithm: 'RSA-OAEP-512' as typeof OAEP256, plaintext: Buffer.from('x') }),
      () => rsaCrypto.sign('ES256', digest),
      () => ecCrypto.sign('ES384', createHash('sha384').update('m').digest()),
      () => ecCrypto.sign('RS256', digest),
    ]) {
      const refused = await failure(call());
      assert.equal(refused.status, 400);
      assert.equal(refused.code, 'BadParameter');
    }
  });

  it('refuses malformed input with 400 BadParameter', async () => {
    const key = await officer.createRsaKey('malformed');
    const crypto = stack.cryptoClient(key.id!, stack.credential(CRYPTO_USER));
    const cases: [string, () => Promise<unknown>][] = [
      [
        'ciphertext of the wrong length',
        () => crypto.decrypt({ algorithm: OAEP256, ciphertext: randomBytes(100) }),
      ],
      [
        'ciphertext that is not one',
        () => crypto.decrypt({ algorithm: OAEP256, ciphertext: randomBytes(256) }),
      ],
      [
        'plaintext too long for OAEP',
        () => crypto.encrypt({ algorithm: OAEP256, plaintext: randomBytes(300) }),
      ],
      ['digest of the wrong length', () => crypto.sign('RS256', randomBytes(20))],
      ['unsupported RSA size', () => officer.createRsaKey('small', { keySize: 1024 })],
      ['unsupported curve', () => officer.createEcKey('curve', { curve: 'P-256K' })],
      [
        'import without the private part',
        () => officer.importKey('public-only', { kty: 'RSA', n: key.key!.n!, e: key.key!.e! }),
      ],
      ['EC key with encrypt', () => officer.createEcKey('ec-encrypt', { keyOps: ['encrypt'] })],
      ['invalid key name', () => officer.createRsaKey('bad_name')],
      [
        'too many tags',
        () =>
          officer.createEcKey('tags', {
            tags: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, 'v'])),
          }),
      ],
    ];
    for (const [what, call] of cases) {
      const refused = await failure(call());
      assert.equal(refused.status, 400, what);
      assert.equal(refused.code, 'BadParameter', what);
    }
  });

  it('answers 404 KeyNotFound for an unknown key or version', async () => {
    const missing = await failure(officer.getKey('missing'));
    assert.equal(missing.status, 404);
    assert.equal(missing.code, 'KeyNotFound');
    assert.match(missing.error.message, /A key with \(name\/id\) missing was not found in this key vault/);

    const crypto = stack.cryptoClient(
      `${stack.emulator.vaultUri}/keys/missing`,
      stack.credential(CRYPTO_USER),
    );
    assert.equal(
      (await failure(crypto.encrypt({ algorithm: OAEP256, plaintext: Buffer.from('x') }))).code,
      'KeyNotFound',
    );

    const key = await officer.createRsaKey('known');
    const version = await failure(officer.getKey('known', { version: '0'.repeat(32) }));
    assert.equal(version.status, 404);
    assert.equal(version.code, 'KeyNotFound');
    const byVersion = stack.cryptoClient(
      `${stack.emulator.vaultUri}/keys/known/${'f'.repeat(32)}`,
      stack.credential(CRYPTO_USER),
    );
    assert.equal(
      (await failure(byVersion.decrypt({ algorithm: OAEP256, ciphertext: randomBytes(256) }))).status,
      404,
    );
    assert.equal((await failure(officer.beginDeleteKey('missing'))).status, 404);
    assert.equal((await failure(officer.getDeletedKey(key.name))).code, 'KeyNotFound');
  });
});
