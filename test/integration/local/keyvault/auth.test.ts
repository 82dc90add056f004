/**
 * Authentication as Key Vault does it, seen through the official SDK: the challenge, then tokens of
 * the vault's issuer for Key Vault only, unexpired; and @azure/identity's ClientSecretCredential.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ClientSecretCredential } from '@azure/identity';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { CRYPTO_USER, failure, OFFICER, startStack, TENANT, type TestStack } from './support.js';

const AGENT = {
  clientId: 'writeback-agent',
  clientSecret: 'agent-secret',
  objectId: '66666666-6666-4666-8666-666666666666',
};

describe('Key Vault emulator: authentication', () => {
  let stack: TestStack;

  before(async () => {
    stack = await startStack();
    stack.identity.registerClient(AGENT);
    stack.emulator.assignRole({ principalId: AGENT.objectId, role: 'Key Vault Crypto Officer' });
    await stack.keyClient(stack.credential(OFFICER)).createRsaKey('app-key');
  });
  after(async () => stack?.close());

  it('challenges the first (tokenless) request with its tenant authority and the Key Vault resource', async () => {
    // The SDK sends its first request bare; only the challenge tells it what token to get and where.
    const asked: { scopes: string | string[]; tenantId: string | undefined }[] = [];
    const garbage: TokenCredential = {
      getToken: (scopes, options) => {
        asked.push({ scopes, tenantId: options?.tenantId });
        return Promise.resolve({ token: 'not-a-jwt', expiresOnTimestamp: Date.now() + 3_600_000 });
      },
    };
    const refused = await failure(stack.keyClient(garbage).getKey('app-key'));
    assert.deepEqual(asked[0], { scopes: ['https://vault.azure.net/.default'], tenantId: TENANT });
    assert.equal(refused.status, 401);
    assert.equal(refused.code, 'Unauthorized');
    assert.equal(
      refused.error.response?.headers.get('www-authenticate'),
      `Bearer authorization="${stack.identity.url}/${TENANT}", resource="https://vault.azure.net"`,
    );

    const noToken: TokenCredential = { getToken: () => Promise.resolve(null) };
    await assert.rejects(stack.keyClient(noToken).getKey('app-key'), /access token/);
  });

  it('hands the SDK the tenant from the challenge and accepts the token it then gets', async () => {
    const credential = stack.credential(OFFICER);
    const key = await stack.keyClient(credential).getKey('app-key');
    assert.equal(key.name, 'app-key');
    assert.deepEqual(credential.tenantsAsked, [TENANT]);
  });

  it('refuses a token for another audience', async () => {
    const refused = await failure(
      stack.keyClient(stack.credential(OFFICER, { audience: 'api://writeback' })).getKey('app-key'),
    );
    assert.equal(refused.status, 401);
    assert.match(refused.error.message, /AKV10022: Invalid audience/);
  });

  it('refuses an expired token', async () => {
    const expired = stack.credential(OFFICER, {
      notBefore: new Date(Date.now() - 2 * 3_600_000),
      lifetimeSeconds: 3600,
    });
    const refused = await failure(stack.keyClient(expired).getKey('app-key'));
    assert.equal(refused.status, 401);
    assert.match(refused.error.message, /expired/);
  });

  it('refuses a token of another tenant (another issuer) and a forged one', async () => {
    const otherTenant: TokenCredential = {
      getToken: async (): Promise<AccessToken> => ({
        token: await stack.identity.mintToken({
          tenant: 'fabrikam',
          oid: OFFICER,
          audience: 'https://vault.azure.net',
        }),
        expiresOnTimestamp: Date.now() + 3_600_000,
      }),
    };
    assert.equal((await failure(stack.keyClient(otherTenant).getKey('app-key'))).status, 401);

    const forged: TokenCredential = {
      getToken: async (): Promise<AccessToken> => {
        const [header, payload] = (
          await stack.identity.mintToken({
            tenant: TENANT,
            oid: OFFICER,
            audience: 'https://vault.azure.net',
          })
        ).split('.');
        return {
          token: `${header}.${payload}.${Buffer.from('not a signature').toString('base64url')}`,
          expiresOnTimestamp: Date.now() + 3_600_000,
        };
      },
    };
    const refused = await failure(stack.keyClient(forged).getKey('app-key'));
    assert.equal(refused.status, 401);
    assert.match(refused.error.message, /signature/);
  });

  it('works with @azure/identity ClientSecretCredential against the identity provider over HTTPS', async () => {
    const credential = new ClientSecretCredential(TENANT, AGENT.clientId, AGENT.clientSecret, {
      authorityHost: stack.identity.url,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: stack.ca.caPem },
    });
    const client = stack.keyClient(credential);
    const key = await client.createEcKey('agent-signing');
    assert.equal(key.keyType, 'EC');
    const crypto = stack.cryptoClient(key.id!, credential);
    const signed = await crypto.signData('ES256', Buffer.from('result'));
    assert.equal((await crypto.verifyData('ES256', Buffer.from('result'), signed.result)).result, true);

    const wrongSecret = new ClientSecretCredential(TENANT, AGENT.clientId, 'wrong', {
      authorityHost: stack.identity.url,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: stack.ca.caPem },
      retryOptions: { maxRetries: 0 },
    });
    await assert.rejects(stack.keyClient(wrongSecret).getKey('app-key'), /invalid_client/);
  });

  it('accepts a Crypto User token for crypto but not for key management', async () => {
    const user = stack.keyClient(stack.credential(CRYPTO_USER));
    assert.equal((await user.getKey('app-key')).name, 'app-key');
    const refused = await failure(user.createRsaKey('not-allowed'));
    assert.equal(refused.status, 403);
    assert.equal(refused.inner, 'ForbiddenByRbac');
  });
});
