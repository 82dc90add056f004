/**
 * Token handling of an authenticated route, end to end: the real app in the local host, tokens from
 * the real development identity provider, validated by the functions against OIDC discovery.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startIdentityProvider, type IdentityProvider } from '../../../local/identity/index.js';
import { freePort } from '../../../local/process/ports.js';
import { appSettings, startAppHost, startRealApp, type AppUnderTest } from '../../support/app.js';

let app: AppUnderTest;
let otherProvider: IdentityProvider;
before(async () => {
  app = await startRealApp();
  otherProvider = await startIdentityProvider({ port: 0 });
});
after(async () => {
  await app?.stop();
  await otherProvider?.close();
});

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors?: { path: string; message: string }[];
}

async function callMe(
  tenant: string,
  authorization?: string,
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const response = await fetch(`${app.api}/tenants/${tenant}/me`, {
    headers: authorization ? { authorization } : {},
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

function assertProblem(
  result: { status: number; headers: Headers; body: unknown },
  status: number,
  code: string,
  detail?: RegExp,
): Problem {
  assert.equal(result.status, status, JSON.stringify(result.body));
  assert.equal(result.headers.get('content-type'), 'application/problem+json');
  const problem = result.body as Problem;
  assert.equal(problem.status, status);
  assert.equal(problem.code, code);
  assert.equal(problem.type, `urn:writeback:problem:${code}`);
  assert.ok(problem.title.length > 0);
  if (detail) assert.match(problem.detail, detail);
  return problem;
}

function alice(overrides: Partial<Parameters<IdentityProvider['mintToken']>[0]> = {}): Promise<string> {
  return app.identity.mintToken({ tenant: 'contoso', upn: 'alice@contoso.test', ...overrides });
}

test('a minted token is accepted and the caller is the token', async () => {
  const token = await alice({ roles: ['Writeback.Admin'], onPremisesSid: 'S-1-5-21-1-2-3-1104' });
  const result = await callMe('contoso', `Bearer ${token}`);
  assert.equal(result.status, 200);
  const body = result.body as Record<string, unknown>;
  assert.equal(body.tenantId, 'contoso');
  assert.equal(body.upn, 'alice@contoso.test');
  assert.equal(body.onPremisesSid, 'S-1-5-21-1-2-3-1104');
  assert.equal(body.userIdentifier, 'S-1-5-21-1-2-3-1104');
  assert.deepEqual(body.roles, ['Writeback.Admin']);
  assert.match(String(body.objectId), /^[0-9a-f-]{36}$/);
});

test('without onprem_sid, the self-service identifier is the upn', async () => {
  const result = await callMe('contoso', `Bearer ${await alice()}`);
  assert.equal(result.status, 200);
  assert.equal((result.body as { userIdentifier: string }).userIdentifier, 'alice@contoso.test');
});

test('no token, or another scheme, is 401 with WWW-Authenticate', async () => {
  const missing = await callMe('contoso');
  assertProblem(missing, 401, 'Unauthenticated', /bearer token/i);
  assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
  assertProblem(await callMe('contoso', 'Basic YWxpY2U6cGFzcw=='), 401, 'Unauthenticated', /Bearer scheme/);
  assertProblem(await callMe('contoso', 'Bearer not-a-jwt'), 401, 'Unauthenticated', /malformed/);
});

test('an expired token is 401', async () => {
  const token = await alice({ notBefore: new Date(Date.now() - 3 * 3_600_000), lifetimeSeconds: 600 });
  assertProblem(await callMe('contoso', `Bearer ${token}`), 401, 'Unauthenticated', /expired/);
});

test('a token that is not valid yet is 401', async () => {
  const token = await alice({ notBefore: new Date(Date.now() + 3_600_000) });
  assertProblem(await callMe('contoso', `Bearer ${token}`), 401, 'Unauthenticated', /not valid yet/);
});

test('a tampered token is 401', async () => {
  const [header, payload, signature] = (await alice()).split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  claims.roles = ['Writeback.Admin'];
  const tampered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
  assertProblem(await callMe('contoso', `Bearer ${tampered}`), 401, 'Unauthenticated', /signature/);
});

test('a token signed by another key is 401', async () => {
  // Another provider instance has its own key but, told to, writes the same issuer.
  const forged = await otherProvider.mintToken({
    tenant: 'contoso',
    upn: 'alice@contoso.test',
    issuer: app.identity.issuer('contoso'),
  });
  assertProblem(await callMe('contoso', `Bearer ${forged}`), 401, 'Unauthenticated');
});

test('a token for another audience or from another issuer is 401', async () => {
  const wrongAudience = await alice({ audience: 'api://something-else' });
  assertProblem(await callMe('contoso', `Bearer ${wrongAudience}`), 401, 'Unauthenticated', /audience/);
  const wrongIssuer = await alice({ issuer: 'http://127.0.0.1:1/contoso/v2.0' });
  assertProblem(await callMe('contoso', `Bearer ${wrongIssuer}`), 401, 'Unauthenticated', /issuer/);
});

test('a token of another tenant is 403', async () => {
  const fabrikam = await app.identity.mintToken({ tenant: 'fabrikam', upn: 'eve@fabrikam.test' });
  assertProblem(await callMe('contoso', `Bearer ${fabrikam}`), 403, 'Forbidden', /another tenant/);
});

test('alg none and HS256 tokens are 401', async () => {
  const [, payload] = (await alice()).split('.') as [string, string];
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
  assertProblem(await callMe('contoso', `Bearer ${none}`), 401, 'Unauthenticated');
  const hsHeader = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const { createHmac } = await import('node:crypto');
  const hsSignature = createHmac('sha256', 'guessable').update(`${hsHeader}.${payload}`).digest('base64url');
  assertProblem(
    await callMe('contoso', `Bearer ${hsHeader}.${payload}.${hsSignature}`),
    401,
    'Unauthenticated',
  );
});

test('a bad tenant id in the route is 400 and names the route value', async () => {
  const result = await callMe('not_a_tenant!', `Bearer ${await alice()}`);
  const problem = assertProblem(result, 400, 'InvalidRequest', /tenantId/);
  assert.equal(problem.errors?.[0]?.path, 'route.tenantId');
});

test('an unreachable identity provider is 503 with Retry-After, not 401', async () => {
  const closedPort = await freePort();
  const unreachable = await startAppHost(
    appSettings(app.identity, { AUTH_ISSUER: `http://127.0.0.1:${closedPort}/{tenantId}/v2.0` }),
  );
  try {
    const token = await alice();
    const response = await fetch(`${unreachable.url}/api/tenants/contoso/me`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assertProblem(
      { status: response.status, headers: response.headers, body: await response.json() },
      503,
      'ServiceUnavailable',
    );
    assert.ok(Number(response.headers.get('retry-after')) > 0);
  } finally {
    await unreachable.stop();
  }
});

test('a missing setting stops the app at start-up and names the setting', async () => {
  // Empty, not absent: an absent one could be filled in from a developer's local.settings.json.
  await assert.rejects(startAppHost(appSettings(app.identity, { AUTH_AUDIENCE: '' })), (error: Error) =>
    /AUTH_AUDIENCE/.test(error.message),
  );
});
