import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccessToken, TokenCredential } from '@azure/identity';
import {
  KeyVaultRequestCrypto,
  isTransientKeyVaultError,
  vaultOrigin,
} from '../../../shared/azure/key-vault-crypto.js';

/** A credential that must never be asked: the refusals below happen before any network call. */
const unused: TokenCredential = {
  getToken(): Promise<AccessToken> {
    throw new Error('no token should be needed');
  },
};

function restError(statusCode: number | undefined, code?: string, inner?: string): Error {
  const error = new Error('refused') as Error & { statusCode?: number; code?: string; details?: unknown };
  error.name = 'RestError';
  if (statusCode !== undefined) error.statusCode = statusCode;
  if (code) error.code = code;
  if (inner) error.details = { error: { code: code ?? 'Forbidden', innerError: { code: inner } } };
  return error;
}

describe('Key Vault crypto adapters', () => {
  it('takes a vault URL with or without a trailing slash, and refuses anything else', () => {
    assert.equal(vaultOrigin('https://v.vault.azure.net/'), 'https://v.vault.azure.net');
    assert.equal(vaultOrigin('https://127.0.0.1:8443'), 'https://127.0.0.1:8443');
    for (const bad of [
      'http://v.vault.azure.net',
      'https://v.vault.azure.net/keys',
      'not a url',
      'https://u:p@v',
    ]) {
      assert.throws(() => vaultOrigin(bad), RangeError, bad);
    }
  });

  it('refuses key ids outside the configured vault or without a version, before any call', async () => {
    const crypto = new KeyVaultRequestCrypto('https://v.vault.azure.net', unused);
    const wrapped = Buffer.alloc(256);
    await assert.rejects(
      crypto.unwrapKey('https://other.vault.azure.net/keys/writeback-a-enc/0123', 'RSA-OAEP-256', wrapped),
      /not in vault/,
    );
    await assert.rejects(
      crypto.decrypt('https://v.vault.azure.net/keys/writeback-a-enc', 'RSA-OAEP-256', wrapped),
      RangeError,
    );
    assert.equal(crypto.cachedClients, 0);
  });

  it('tells transient Key Vault faults from properties of the request', () => {
    assert.equal(
      isTransientKeyVaultError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
      true,
    );
    assert.equal(isTransientKeyVaultError(restError(undefined, 'ECONNREFUSED')), true);
    assert.equal(isTransientKeyVaultError(restError(429, 'Throttled')), true);
    assert.equal(isTransientKeyVaultError(restError(503)), true);
    assert.equal(isTransientKeyVaultError(restError(401, 'Unauthorized')), true);
    assert.equal(isTransientKeyVaultError(restError(403, 'Forbidden', 'ForbiddenByRbac')), true);
    assert.equal(isTransientKeyVaultError(restError(403, 'Forbidden', 'KeyDisabled')), false);
    assert.equal(isTransientKeyVaultError(restError(400, 'BadParameter')), false);
    assert.equal(isTransientKeyVaultError(restError(404, 'KeyNotFound')), false);
  });
});
