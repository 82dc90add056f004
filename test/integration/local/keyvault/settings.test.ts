/**
 * How a process of the product (functions app, agent) gets Key Vault tokens locally from settings only:
 * KEYVAULT__tenantId, KEYVAULT__clientId, KEYVAULT__clientSecret and KEYVAULT__authorityHost make
 * credentialFromSettings('KEYVAULT') a ClientSecretCredential against the development identity
 * provider, and NODE_EXTRA_CA_CERTS (read at process start) makes the process trust the local CA.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { OFFICER, startStack, TENANT, type TestStack } from './support.js';

const run = promisify(execFile);
const CLIENT = fileURLToPath(new URL('./fixtures/settings-client.js', import.meta.url));
const APP = {
  clientId: 'writeback-functions',
  clientSecret: 'functions-secret',
  objectId: '88888888-8888-4888-8888-888888888888',
};

describe('Key Vault emulator: credentials from settings', () => {
  let stack: TestStack;

  before(async () => {
    stack = await startStack();
    stack.identity.registerClient(APP);
    await stack.keyClient(stack.credential(OFFICER)).createRsaKey('writeback-contoso-enc');
  });
  after(async () => stack?.close());

  function settings(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      NODE_EXTRA_CA_CERTS: stack.ca.caPath,
      KEYVAULT_SETTINGS_CLIENT: '1',
      KEYVAULT_URI: stack.emulator.vaultUri,
      KEYVAULT__tenantId: TENANT,
      KEYVAULT__clientId: APP.clientId,
      KEYVAULT__clientSecret: APP.clientSecret,
      KEYVAULT__authorityHost: stack.identity.url,
      ...overrides,
    };
  }

  it('encrypts and decrypts with a credential built from settings alone, once the identity has a role', async () => {
    const denied = await run(process.execPath, [CLIENT, 'writeback-contoso-enc'], { env: settings() }).then(
      () => undefined,
      (error: { stderr: string }) => error.stderr,
    );
    assert.match(denied ?? '', /not authorized/, 'without a role assignment the vault refuses');

    stack.emulator.assignRole({
      principalId: APP.objectId,
      role: 'Key Vault Crypto User',
      scope: '/keys/writeback-contoso-enc',
    });
    const { stdout } = await run(process.execPath, [CLIENT, 'writeback-contoso-enc'], { env: settings() });
    const result = JSON.parse(stdout) as { keyId: string; plaintext: string };
    assert.equal(result.plaintext, 'from settings');
    assert.match(
      result.keyId,
      new RegExp(`^${stack.emulator.vaultUri}/keys/writeback-contoso-enc/[0-9a-f]{32}$`),
    );
  });

  it('fails with the identity provider’s error for a wrong secret, and names a missing setting', async () => {
    const wrong = await run(process.execPath, [CLIENT, 'writeback-contoso-enc'], {
      env: settings({ KEYVAULT__clientSecret: 'wrong' }),
    }).then(
      () => '',
      (error: { stderr: string }) => error.stderr,
    );
    assert.match(wrong, /invalid_client/);

    const { KEYVAULT__tenantId: _omitted, ...withoutTenant } = settings();
    const missing = await run(process.execPath, [CLIENT, 'writeback-contoso-enc'], {
      env: withoutTenant,
    }).then(
      () => '',
      (error: { stderr: string }) => error.stderr,
    );
    assert.match(missing, /KEYVAULT__tenantId/);
  });
});
