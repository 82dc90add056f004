/**
 * Key Vault's binary fields are strict base64url. The SDK always encodes correctly, so malformed
 * base64url can only be shown here, at the decoder every binary field of a request goes through.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeBase64url, encodeBase64url } from '../../../../local/keyvault/crypto/base64url.js';
import { KeyVaultError } from '../../../../local/keyvault/http/errors.js';

function refusal(value: unknown): KeyVaultError {
  try {
    decodeBase64url(value, 'value');
  } catch (error) {
    assert.ok(error instanceof KeyVaultError);
    return error;
  }
  throw new Error(`${String(value)} was accepted`);
}

describe('Key Vault emulator: base64url fields', () => {
  it('round-trips bytes without padding', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0x00, 0x3e, 0x3f]);
    const text = encodeBase64url(bytes);
    assert.equal(text, '-_8APj8');
    assert.deepEqual(decodeBase64url(text, 'value'), bytes);
    assert.deepEqual(decodeBase64url(`${text}=`, 'value'), bytes, 'padding is tolerated');
  });

  it('refuses standard base64, stray characters, impossible lengths and non-strings with 400 BadParameter', () => {
    for (const value of ['+/8APj8', 'ab cd', 'abc$', 'abcde', 'a=b', 42, undefined]) {
      const error = refusal(value);
      assert.equal(error.status, 400, String(value));
      assert.equal(error.code, 'BadParameter');
      assert.match(error.message, /value/);
    }
  });
});
