/** The development identity provider's endpoints, key persistence and client credentials grant. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { createTokenValidator, userIdentifierOf } from '../../../../shared/auth/index.js';
import { UnauthenticatedError } from '../../../../shared/errors/index.js';
import {
  DEFAULT_AUDIENCE,
  mintTokenOffline,
  startIdentityProvider,
  type IdentityProvider,
} from '../../../../local/identity/index.js';

const AGENT = {
  clientId: '0b7f8c9d-1e2f-4a3b-8c4d-5e6f7a8b9c0d',
  clientSecret: 'agent-secret with spaces & symbols',
  roles: ['Writeback.Agent'],
};

describe('development identity provider', () => {
  let provider: IdentityProvider;

  before(async () => {
    provider = await startIdentityProvider({ port: 0, clients: [AGENT] });
  });
  after(() => provider.close());

  it('serves an Entra-shaped discovery document per tenant', async () => {
    const response = await fetch(`${provider.url}/contoso/v2.0/.well-known/openid-configuration`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const doc = (await response.json()) as Record<string, unknown>;
    assert.equal(doc.issuer, `${provider.url}/contoso/v2.0`);
    assert.equal(doc.issuer, provider.issuer('contoso'));
    assert.equal(doc.jwks_uri, `${provider.url}/contoso/discovery/v2.0/keys`);
    assert.equal(doc.token_endpoint, `${provider.url}/contoso/oauth2/v2.0/token`);
    assert.deepEqual(doc.id_token_signing_alg_values_supported, ['RS256']);
    assert.ok(Array.isArray(doc.token_endpoint_auth_methods_supported));
    assert.equal(typeof doc.authorization_endpoint, 'string');
    assert.equal(provider.issuerTemplate, `${provider.url}/{tenantId}/v2.0`);
  });

  it('publishes its RS256 signing key with the kid of its tokens', async () => {
    const response = await fetch(`${provider.url}/contoso/discovery/v2.0/keys`);
    assert.equal(response.status, 200);
    const { keys } = (await response.json()) as { keys: Array<Record<string, unknown>> };
    assert.equal(keys.length, 1);
    const [key] = keys as [Record<string, unknown>];
    assert.equal(key.kty, 'RSA');
    assert.equal(key.use, 'sig');
    assert.equal(key.alg, 'RS256');
    assert.equal(typeof key.n, 'string');
    assert.equal(key.d, undefined, 'the private exponent is never published');
    assert.equal(key.p, undefined);
    const token = await provider.mintToken({ tenant: 'contoso', upn: 'alice@contoso.test' });
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'RS256', typ: 'JWT', kid: key.kid });
  });

  it('mints tokens shaped like Entra ID v2 access tokens', async () => {
    const before = Math.floor(Date.now() / 1000);
    const token = await provider.mintToken({
      tenant: 'contoso',
      upn: 'alice@contoso.test',
      name: 'Alice',
      roles: ['Writeback.Admin'],
      scopes: ['Writeback.Use', 'openid'],
      appId: 'portal-app',
      onPremisesSid: 'S-1-5-21-1-2-3-1104',
      lifetimeSeconds: 600,
    });
    const claims = decodeJwt(token);
    assert.equal(claims.iss, provider.issuer('contoso'));
    assert.equal(claims.aud, DEFAULT_AUDIENCE);
    assert.equal(claims.tid, 'contoso');
    assert.equal(claims.upn, 'alice@contoso.test');
    assert.equal(claims.preferred_username, 'alice@contoso.test');
    assert.equal(claims.name, 'Alice');
    assert.equal(claims.onprem_sid, 'S-1-5-21-1-2-3-1104');
    assert.deepEqual(claims.roles, ['Writeback.Admin']);
    assert.equal(claims.scp, 'Writeback.Use openid');
    assert.equal(claims.azp, 'portal-app');
    assert.equal(claims.ver, '2.0');
    assert.equal(typeof claims.oid, 'string');
    assert.equal(typeof claims.sub, 'string');
    assert.ok(claims.iat! >= before - 1 && claims.nbf === claims.iat);
    assert.equal(claims.exp, claims.nbf! + 600);
  });

  it('refuses to mint for an invalid tenant or without a user', async () => {
    await assert.rejects(provider.mintToken({ tenant: 'bad/tenant', upn: 'a@b.test' }), RangeError);
    await assert.rejects(provider.mintToken({ tenant: 'contoso' }), TypeError);
    await assert.rejects(
      provider.mintToken({ tenant: 'contoso', upn: 'a@b.test', lifetimeSeconds: 0 }),
      RangeError,
    );
  });

  it('answers 404 to invalid tenant ids and unknown paths, 405 to wrong methods', async () => {
    for (const path of [
      '/bad..tenant/v2.0/.well-known/openid-configuration',
      '/-contoso/discovery/v2.0/keys',
      `/${'a'.repeat(64)}/discovery/v2.0/keys`,
      '/contoso/v1.0/.well-known/openid-configuration',
      '/',
    ]) {
      const response = await fetch(`${provider.url}${path}`);
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
    const post = await fetch(`${provider.url}/contoso/discovery/v2.0/keys`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.body?.cancel();
    const get = await fetch(`${provider.url}/contoso/oauth2/v2.0/token`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    await get.body?.cancel();
  });

  describe('client credentials grant', () => {
    const tokenEndpoint = () => `${provider.url}/contoso/oauth2/v2.0/token`;
    const post = (form: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(tokenEndpoint(), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(form),
      });
    const basic = (id: string, secret: string) =>
      `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

    it('issues an app token (client_secret_post) that the functions validate', async () => {
      const response = await post({
        grant_type: 'client_credentials',
        client_id: AGENT.clientId,
        client_secret: AGENT.clientSecret,
        scope: 'https://vault.azure.net/.default',
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('cache-control'), 'no-store');
      const body = (await response.json()) as Record<string, unknown>;
      assert.equal(body.token_type, 'Bearer');
      assert.equal(typeof body.expires_in, 'number');
      const claims = decodeJwt(body.access_token as string);
      assert.equal(claims.aud, 'https://vault.azure.net');
      assert.equal(claims.azp, AGENT.clientId);
      assert.equal(claims.idtyp, 'app');
      assert.equal(claims.sub, claims.oid);

      const validator = createTokenValidator({
        issuerTemplate: provider.issuerTemplate,
        audience: 'https://vault.azure.net',
      });
      const caller = await validator.authenticate(`Bearer ${body.access_token as string}`, 'contoso');
      assert.deepEqual(caller.roles, AGENT.roles);
      assert.equal(caller.appId, AGENT.clientId);
      assert.equal(caller.upn, undefined);
      assert.throws(() => userIdentifierOf(caller), UnauthenticatedError);
    });

    it('accepts client_secret_basic, and a client registered after start with its own oid', async () => {
      provider.registerClient({ clientId: 'late', clientSecret: 's3cret', objectId: 'the-sp-object-id' });
      const response = await post(
        { grant_type: 'client_credentials', scope: 'api://writeback/.default' },
        { authorization: basic('late', 's3cret') },
      );
      assert.equal(response.status, 200);
      const claims = decodeJwt(((await response.json()) as { access_token: string }).access_token);
      assert.equal(claims.oid, 'the-sp-object-id');
      assert.equal(claims.aud, 'api://writeback');
      assert.equal(claims.roles, undefined);
    });

    it('answers 401 invalid_client to an unknown client or a wrong secret', async () => {
      const cases: Array<[Record<string, string>, Record<string, string>?]> = [
        [{ client_id: 'nobody', client_secret: 'x' }],
        [{ client_id: AGENT.clientId, client_secret: 'wrong' }],
        [{ client_id: AGENT.clientId }],
        [{}],
        [{}, { authorization: basic(AGENT.clientId, 'wrong') }],
      ];
      for (const [credentials, headers] of cases) {
        const response = await post(
          { grant_type: 'client_credentials', scope: 'api://writeback/.default', ...credentials },
          headers,
        );
        assert.equal(response.status, 401);
        const body = (await response.json()) as Record<string, unknown>;
        assert.equal(body.error, 'invalid_client');
        assert.equal(typeof body.error_description, 'string');
        assert.equal(body.access_token, undefined);
      }
    });

    it('answers OAuth errors to a bad grant type, scope or body', async () => {
      const credentials = { client_id: AGENT.clientId, client_secret: AGENT.clientSecret };
      const expectError = async (response: Response, status: number, error: string) => {
        assert.equal(response.status, status);
        assert.equal(((await response.json()) as { error: string }).error, error);
      };
      await expectError(
        await post({ grant_type: 'password', scope: 'api://writeback/.default', ...credentials }),
        400,
        'unsupported_grant_type',
      );
      await expectError(
        await post({ scope: 'api://writeback/.default', ...credentials }),
        400,
        'invalid_request',
      );
      await expectError(
        await post({ grant_type: 'client_credentials', ...credentials }),
        400,
        'invalid_request',
      );
      for (const scope of ['api://writeback', 'api://a/.default api://b/.default', 'openid']) {
        await expectError(
          await post({ grant_type: 'client_credentials', scope, ...credentials }),
          400,
          'invalid_scope',
        );
      }
      const json = await fetch(tokenEndpoint(), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'client_credentials', ...credentials }),
      });
      await expectError(json, 400, 'invalid_request');
    });
  });
});

describe('signing key persistence', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'identity-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('keeps the key in the data dir (mode 0600): tokens outlive a restart, and offline minting matches', async () => {
    const keyDir = join(dataDir, 'nested', 'identity');
    let provider = await startIdentityProvider({ port: 0, dataDir: keyDir });
    const port = Number(new URL(provider.url).port);
    const earlier = await provider.mintToken({ tenant: 'contoso', upn: 'alice@contoso.test' });
    const offline = await mintTokenOffline(
      { tenant: 'contoso', upn: 'bob@contoso.test', roles: ['Writeback.Admin'] },
      { dataDir: keyDir, issuerBaseUrl: provider.url },
    );
    await provider.close();
    assert.equal((await stat(join(keyDir, 'signing-key.json'))).mode & 0o777, 0o600);

    provider = await startIdentityProvider({ port, dataDir: keyDir });
    try {
      const validator = createTokenValidator({
        issuerTemplate: provider.issuerTemplate,
        audience: DEFAULT_AUDIENCE,
      });
      assert.equal((await validator.authenticate(`Bearer ${earlier}`, 'contoso')).upn, 'alice@contoso.test');
      const bob = await validator.authenticate(`Bearer ${offline}`, 'contoso');
      assert.deepEqual(bob.roles, ['Writeback.Admin']);
    } finally {
      await provider.close();
    }
  });

  it('creates one key even when several processes start at once', async () => {
    const keyDir = join(dataDir, 'concurrent');
    const tokens = await Promise.all(
      [1, 2, 3, 4].map(() =>
        mintTokenOffline(
          { tenant: 'contoso', upn: 'a@contoso.test' },
          { dataDir: keyDir, issuerBaseUrl: 'http://x' },
        ),
      ),
    );
    const kids = new Set(tokens.map((t) => decodeProtectedHeader(t).kid));
    assert.equal(kids.size, 1);
  });

  it('without a data dir, each provider has its own key', async () => {
    const [a, b] = await Promise.all([
      startIdentityProvider({ port: 0 }),
      startIdentityProvider({ port: 0 }),
    ]);
    try {
      const kid = async (p: IdentityProvider) =>
        decodeProtectedHeader(await p.mintToken({ tenant: 'contoso', upn: 'a@contoso.test' })).kid;
      assert.notEqual(await kid(a), await kid(b));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
