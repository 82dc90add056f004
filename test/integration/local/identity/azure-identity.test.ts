/**
 * Service identities get tokens from the development identity provider through the official
 * @azure/identity ClientSecretCredential (MSAL underneath), served over HTTPS from the local CA
 * because MSAL only accepts an https authority.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ClientSecretCredential } from '@azure/identity';
import { decodeJwt } from 'jose';
import { ensureLocalCa, issueServerCertificate, type LocalCa } from '../../../../local/certs/index.js';
import { startIdentityProvider, type IdentityProvider } from '../../../../local/identity/index.js';

const CLIENT = { clientId: 'writeback-agent', clientSecret: 'agent-secret', roles: ['Writeback.Agent'] };

describe('@azure/identity ClientSecretCredential against the development identity provider', () => {
  let certDir: string;
  let ca: LocalCa;
  let provider: IdentityProvider;

  before(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'identity-ca-'));
    ca = await ensureLocalCa(certDir);
    const { certPem, keyPem } = issueServerCertificate(ca, { hosts: ['127.0.0.1'] });
    provider = await startIdentityProvider({
      port: 0,
      tls: { cert: certPem, key: keyPem },
      clients: [CLIENT],
    });
  });
  after(async () => {
    await provider.close();
    await rm(certDir, { recursive: true, force: true });
  });

  const credential = (secret: string) =>
    new ClientSecretCredential('contoso', CLIENT.clientId, secret, {
      authorityHost: provider.url,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: ca.caPem },
      retryOptions: { maxRetries: 0 },
    });

  it('gets an app token for a resource scope', async () => {
    assert.match(provider.url, /^https:\/\//);
    const { token, expiresOnTimestamp } = await credential(CLIENT.clientSecret).getToken(
      'https://vault.azure.net/.default',
    );
    assert.ok(expiresOnTimestamp > Date.now());
    const claims = decodeJwt(token);
    assert.equal(claims.aud, 'https://vault.azure.net');
    assert.equal(claims.iss, provider.issuer('contoso'));
    assert.equal(claims.tid, 'contoso');
    assert.equal(claims.azp, CLIENT.clientId);
    assert.deepEqual(claims.roles, CLIENT.roles);
  });

  it('fails with the provider’s invalid_client for a wrong secret', async () => {
    await assert.rejects(credential('wrong').getToken('https://vault.azure.net/.default'), /invalid_client/);
  });
});
