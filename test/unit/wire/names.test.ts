import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  agentSessionId,
  REQUEST_SESSION_ID,
  encryptionKeyName,
  formatKeyId,
  isWireTenantId,
  keyName,
  parseKeyId,
  repliesQueueName,
  requestQueueName,
  SHARED_REPLIES_QUEUE,
  signatureKeyName,
  tenantOfKeyName,
  wireTenantId,
} from '../../../shared/wire/index.js';

describe('queue and key names', () => {
  it('follow docs/wire.md', () => {
    assert.equal(requestQueueName('contoso'), 'writeback-contoso');
    assert.equal(repliesQueueName('contoso'), 'writeback-contoso-replies');
    assert.equal(SHARED_REPLIES_QUEUE, 'writeback-replies');
    assert.equal(encryptionKeyName('contoso'), 'writeback-contoso-enc');
    assert.equal(signatureKeyName('contoso'), 'writeback-contoso-sig');
    assert.equal(
      keyName('72f988bf-86f1-41af-91ab-2d7cd011db47', 'sig'),
      'writeback-72f988bf-86f1-41af-91ab-2d7cd011db47-sig',
    );
  });

  it('refuse tenant ids outside the API pattern (the TenantId schema)', () => {
    for (const bad of ['', '-contoso', 'con_toso', 'contoso.com', 'a'.repeat(64), 'ünïcode', 'a b']) {
      assert.throws(() => requestQueueName(bad), RangeError, bad);
      assert.throws(() => encryptionKeyName(bad), RangeError, bad);
      assert.equal(isWireTenantId(bad), false);
    }
    assert.equal(wireTenantId('a'.repeat(63)), 'a'.repeat(63));
  });

  it('refuse tenant ids that would share a queue or key with another tenant', () => {
    // Service Bus and Key Vault names are case-insensitive: Contoso would share contoso's queues.
    assert.throws(() => requestQueueName('Contoso'), /lower case/);
    // writeback-x-replies is tenant x's replies queue; writeback-replies is the shared one.
    assert.throws(() => requestQueueName('x-replies'), /replies/);
    assert.throws(() => requestQueueName('replies'), /replies/);
    assert.equal(requestQueueName('replies-x'), 'writeback-replies-x');
  });

  it('find the tenant of a key name, only for the right purpose', () => {
    assert.equal(tenantOfKeyName('writeback-contoso-enc', 'enc'), 'contoso');
    assert.equal(tenantOfKeyName('writeback-contoso-sig', 'sig'), 'contoso');
    assert.equal(tenantOfKeyName('writeback-a-enc-sig', 'sig'), 'a-enc');
    assert.equal(tenantOfKeyName('writeback-contoso-enc', 'sig'), undefined);
    assert.equal(tenantOfKeyName('writeback--sig', 'sig'), undefined);
    assert.equal(tenantOfKeyName('writeback-Contoso-sig', 'sig'), undefined);
    assert.equal(tenantOfKeyName('other-contoso-sig', 'sig'), undefined);
  });
});

describe('session ids of the request queue', () => {
  it('one request session; one session per agent, at most 128 characters and distinct', () => {
    assert.equal(REQUEST_SESSION_ID, 'requests');
    assert.equal(agentSessionId('dc1-writeback'), 'agent:dc1-writeback');
    const long = 'a'.repeat(128);
    const longer = `${'a'.repeat(127)}b`;
    assert.equal(agentSessionId(long).length, 128);
    assert.notEqual(agentSessionId(long), agentSessionId(longer));
    assert.equal(agentSessionId('a'.repeat(122)), `agent:${'a'.repeat(122)}`);
  });
});

describe('key ids', () => {
  const version = '0123456789abcdef0123456789abcdef';

  it('parse a versioned key id into vault, name and version', () => {
    assert.deepEqual(parseKeyId(`https://myvault.vault.azure.net/keys/writeback-contoso-enc/${version}`), {
      vaultUrl: 'https://myvault.vault.azure.net',
      name: 'writeback-contoso-enc',
      version,
    });
    assert.deepEqual(parseKeyId(`https://127.0.0.1:8443/keys/k/${version}`), {
      vaultUrl: 'https://127.0.0.1:8443',
      name: 'k',
      version,
    });
  });

  it('refuse versionless, non-HTTPS, non-canonical and decorated key ids', () => {
    const bad = [
      'not a url',
      'https://myvault.vault.azure.net/keys/k',
      'https://myvault.vault.azure.net/keys/k/',
      `http://myvault.vault.azure.net/keys/k/${version}`,
      `https://myvault.vault.azure.net/secrets/k/${version}`,
      `https://myvault.vault.azure.net/keys/k/${version}/extra`,
      `https://myvault.vault.azure.net/keys/k/${version}?api-version=7.4`,
      `https://myvault.vault.azure.net/keys/k/${version}#x`,
      `https://user:pw@myvault.vault.azure.net/keys/k/${version}`,
      `https://myvault.vault.azure.net:443/keys/k/${version}`,
      `https://MyVault.vault.azure.net/keys/k/${version}`,
      `https://myvault.vault.azure.net/keys/a/../k/${version}`,
      `https://myvault.vault.azure.net/keys/k_1/${version}`,
      `https://myvault.vault.azure.net/keys/k/ver-sion`,
    ];
    for (const keyId of bad) assert.throws(() => parseKeyId(keyId), RangeError, keyId);
  });

  it('format a key id from a vault URL with or without a trailing slash', () => {
    for (const vault of ['https://myvault.vault.azure.net', 'https://myvault.vault.azure.net/']) {
      assert.equal(
        formatKeyId(vault, 'writeback-contoso-enc', version),
        `https://myvault.vault.azure.net/keys/writeback-contoso-enc/${version}`,
      );
    }
    assert.throws(() => formatKeyId('https://v.example', 'writeback-contoso-enc', ''), RangeError);
  });
});
