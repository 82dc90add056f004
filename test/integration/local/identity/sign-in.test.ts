/**
 * Interactive sign-in at the development identity provider, as MSAL.js drives it (the browser test,
 * test/e2e/portal.test.ts, does it through a real Chromium): the development sign-in page, codes bound
 * to PKCE and redeemed once by the application's origin, rotating refresh tokens, CORS, and tokens with
 * the claims `npm run token` gives.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { startIdentityProvider, type IdentityProvider } from '../../../../local/identity/index.js';

const ORIGIN = 'http://127.0.0.1:8080';
const CLIENT_ID = 'portal-client';
const REDIRECT = `${ORIGIN}/`;
const SCOPE = 'api://writeback/access_as_user openid profile offline_access';

describe('development sign-in (authorization code with PKCE)', () => {
  let provider: IdentityProvider;
  before(async () => {
    provider = await startIdentityProvider({
      port: 0,
      applications: [{ clientId: CLIENT_ID, name: 'Test portal', redirectUris: [REDIRECT] }],
      users: [
        { tenant: 'contoso', upn: 'alice@contoso.test', name: 'Alice' },
        { tenant: 'contoso', upn: 'admin@contoso.test', name: 'Admin', roles: ['Writeback.Admin'] },
        { tenant: 'fabrikam', upn: 'eve@fabrikam.test' },
      ],
    });
  });
  after(() => provider?.close());

  const authorizeUrl = () => `${provider.url}/contoso/oauth2/v2.0/authorize`;
  const verifier = () => randomBytes(32).toString('base64url');
  const challenge = (v: string) => createHash('sha256').update(v).digest('base64url');
  const request = (v: string, extra: Record<string, string> = {}) => ({
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT,
    response_type: 'code',
    response_mode: 'fragment',
    scope: SCOPE,
    state: 'state-1',
    nonce: 'nonce-1',
    code_challenge: challenge(v),
    code_challenge_method: 'S256',
    ...extra,
  });
  /** The page's form, submitted for `upn`: the redirect back, not followed. */
  const choose = (params: Record<string, string>, upn: string) =>
    fetch(authorizeUrl(), {
      method: 'POST',
      body: new URLSearchParams({ ...params, login_hint: upn }),
      redirect: 'manual',
    });
  const codeOf = (response: Response) => {
    const location = response.headers.get('location') ?? '';
    assert.ok(location.startsWith(`${REDIRECT}#`), location);
    return new URLSearchParams(location.slice(REDIRECT.length + 1));
  };
  const token = (form: Record<string, string>, origin: string | null = ORIGIN) =>
    fetch(`${provider.url}/contoso/oauth2/v2.0/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded;charset=utf-8',
        ...(origin ? { origin } : {}),
      },
      body: new URLSearchParams(form),
    });
  const errorOf = async (response: Response) => ((await response.json()) as { error: string }).error;

  it('shows a labelled development sign-in page listing the tenant’s users', async () => {
    const page = await fetch(`${authorizeUrl()}?${new URLSearchParams(request(verifier()))}`);
    assert.equal(page.status, 200);
    assert.match(
      page.headers.get('content-security-policy') ?? '',
      /default-src 'none'.*form-action 'self' http:\/\/127\.0\.0\.1:8080/,
    );
    const html = await page.text();
    assert.match(html, /<h1>Development sign-in<\/h1>/);
    assert.match(html, /alice@contoso\.test/);
    assert.match(html, /Writeback\.Admin/);
    assert.doesNotMatch(html, /eve@fabrikam\.test/, 'only the tenant’s users');
  });

  it('never redirects to an unregistered client or redirect URI', async () => {
    for (const params of [
      request(verifier(), { client_id: 'someone-else' }),
      request(verifier(), { redirect_uri: 'http://127.0.0.1:9999/' }),
    ]) {
      const answer = await fetch(`${authorizeUrl()}?${new URLSearchParams(params)}`, { redirect: 'manual' });
      assert.equal(answer.status, 400);
      assert.equal(answer.headers.get('location'), null);
      await answer.body?.cancel();
    }
  });

  it('requires PKCE with S256, and answers errors at the redirect URI', async () => {
    const answer = await choose(
      request(verifier(), { code_challenge_method: 'plain' }),
      'alice@contoso.test',
    );
    const back = codeOf(answer);
    assert.equal(back.get('error'), 'invalid_request');
    assert.equal(back.get('state'), 'state-1');
    assert.equal(back.get('code'), null);
  });

  it('redeems a code once, with its verifier, from the application’s origin; tokens as npm run token’s', async () => {
    const v = verifier();
    const back = codeOf(await choose(request(v), 'admin@contoso.test'));
    assert.equal(back.get('state'), 'state-1');
    const code = back.get('code')!;
    const form = {
      grant_type: 'authorization_code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT,
      code,
      code_verifier: v,
      scope: SCOPE,
    };

    assert.equal(await errorOf(await token(form, null)), 'invalid_request', 'not from a browser');
    // That attempt did not use the code up: it was refused before the code was looked at.
    const answer = await token(form);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    const body = (await answer.json()) as Record<string, string>;
    const access = decodeJwt(body.access_token!);
    assert.equal(access.aud, 'api://writeback');
    assert.equal(access.iss, provider.issuer('contoso'));
    assert.equal(access.tid, 'contoso');
    assert.equal(access.upn, 'admin@contoso.test');
    assert.equal(access.azp, CLIENT_ID);
    assert.equal(access.scp, 'access_as_user');
    assert.deepEqual(access.roles, ['Writeback.Admin']);
    const offline = decodeJwt(await provider.mintToken({ tenant: 'contoso', upn: 'admin@contoso.test' }));
    assert.equal(access.oid, offline.oid, 'the same user as npm run token’s');
    const id = decodeJwt(body.id_token!);
    assert.equal(id.aud, CLIENT_ID);
    assert.equal(id.nonce, 'nonce-1');
    assert.deepEqual(JSON.parse(Buffer.from(body.client_info!, 'base64url').toString()), {
      uid: access.oid,
      utid: 'contoso',
    });

    assert.equal(await errorOf(await token(form)), 'invalid_grant', 'a code works once');
  });

  it('refuses a wrong verifier, and the code is spent', async () => {
    const v = verifier();
    const code = codeOf(await choose(request(v), 'alice@contoso.test')).get('code')!;
    const form = {
      grant_type: 'authorization_code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT,
      code,
      scope: SCOPE,
    };
    assert.equal(await errorOf(await token({ ...form, code_verifier: verifier() })), 'invalid_grant');
    assert.equal(await errorOf(await token({ ...form, code_verifier: v })), 'invalid_grant');
  });

  it('rotates refresh tokens', async () => {
    const v = verifier();
    const code = codeOf(await choose(request(v), 'alice@contoso.test')).get('code')!;
    const first = (await (
      await token({
        grant_type: 'authorization_code',
        client_id: CLIENT_ID,
        redirect_uri: REDIRECT,
        code,
        code_verifier: v,
      })
    ).json()) as Record<string, string>;
    const refresh = {
      grant_type: 'refresh_token',
      client_id: CLIENT_ID,
      scope: SCOPE,
      refresh_token: first.refresh_token!,
    };
    const second = await token(refresh);
    assert.equal(second.status, 200);
    const renewed = (await second.json()) as Record<string, string>;
    assert.equal(decodeJwt(renewed.access_token!).upn, 'alice@contoso.test');
    assert.notEqual(renewed.refresh_token, first.refresh_token);
    assert.equal(await errorOf(await token(refresh)), 'invalid_grant', 'a refresh token works once');
  });

  it('answers CORS preflights for the application’s origin only', async () => {
    const preflight = (origin: string) =>
      fetch(`${provider.url}/contoso/oauth2/v2.0/token`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-client-sku',
        },
      });
    const allowed = await preflight(ORIGIN);
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(allowed.headers.get('access-control-allow-headers'), 'content-type,x-client-sku');
    const other = await preflight('http://127.0.0.1:9999');
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    await other.body?.cancel();
    const discovery = await fetch(`${provider.url}/contoso/v2.0/.well-known/openid-configuration`, {
      headers: { origin: ORIGIN },
    });
    assert.equal(discovery.headers.get('access-control-allow-origin'), ORIGIN);
    const document = (await discovery.json()) as { code_challenge_methods_supported: string[] };
    assert.deepEqual(document.code_challenge_methods_supported, ['S256']);
  });
});
