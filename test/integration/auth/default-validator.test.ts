/**
 * The process-wide validator reads AUTH_ISSUER and AUTH_AUDIENCE through settings() (each test file
 * runs in its own process, so setting the environment here touches no other test).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { authenticate, defaultTokenValidator } from '../../../shared/auth/index.js';
import { startIdentityProvider, type IdentityProvider } from '../../../local/identity/index.js';

describe('default token validator', () => {
  let provider: IdentityProvider;
  before(async () => {
    provider = await startIdentityProvider({ port: 0 });
    process.env.AUTH_ISSUER = provider.issuerTemplate;
    process.env.AUTH_AUDIENCE = 'api://writeback-test';
    // settings() checks every setting, not only the two this test is about.
    process.env.AzureWebJobsStorage = 'UseDevelopmentStorage=true';
    process.env.ServiceBusConnection =
      'Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=Root;SharedAccessKey=unused';
    process.env.KEYVAULT_URI = 'https://127.0.0.1:1';
  });
  after(() => provider.close());

  it('validates with the issuer and audience of the settings', async () => {
    const token = await provider.mintToken({
      tenant: 'contoso',
      upn: 'alice@contoso.test',
      audience: 'api://writeback-test',
    });
    assert.equal((await authenticate(`Bearer ${token}`, 'contoso')).upn, 'alice@contoso.test');
    assert.equal(defaultTokenValidator(), defaultTokenValidator());

    const other = await provider.mintToken({ tenant: 'contoso', upn: 'alice@contoso.test' });
    await assert.rejects(authenticate(`Bearer ${other}`, 'contoso'), /another audience/);
  });
});
