/**
 * The functions' token validation (shared/auth) against the real development identity provider,
 * started here on a free port: the same OIDC discovery and JWKS path as with Entra ID.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { createTokenValidator, type TokenValidator } from '../../../shared/auth/index.js';
import { ForbiddenError, ProblemError, UnauthenticatedError } from '../../../shared/errors/index.js';
import {
  ADMIN_ROLE,
  stableUuid,
  startIdentityProvider,
  type IdentityProvider,
} from '../../../local/identity/index.js';

const AUDIENCE = 'api://writeback';

/** Asserts that `promise` rejects with a 401 whose detail matches `detail`. */
async function rejectsUnauthenticated(promise: Promise<unknown>, detail: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof UnauthenticatedError, `expected UnauthenticatedError, got ${String(error)}`);
    assert.equal(error.status, 401);
    assert.equal(error.code, 'Unauthenticated');
    assert.match(error.detail, detail);
    return true;
  });
}

function tamper(token: string, change: (claims: Record<string, unknown>) => void): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  change(claims);
  return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
}

describe('token validation against the development identity provider', () => {
  let provider: IdentityProvider;
  let validator: TokenValidator;

  before(async () => {
    provider = await startIdentityProvider({ port: 0 });
    validator = createTokenValidator({ issuerTemplate: provider.issuerTemplate, audience: AUDIENCE });
  });
  after(() => provider.close());

  it('accepts a minted token and maps its claims into the caller', async () => {
    const token = await provider.mintToken({
      tenant: 'contoso',
      upn: 'alice@contoso.test',
      onPremisesSid: 'S-1-5-21-1004336348-1177238915-682003330-1104',
      roles: [ADMIN_ROLE, 'Other.Role'],
    });
    const caller = await validator.authenticate(`Bearer ${token}`, 'contoso');
    assert.deepEqual(caller, {
      tenantId: 'contoso',
      objectId: stableUuid('user\ncontoso\nalice@contoso.test'),
      upn: 'alice@contoso.test',
      onPremisesSid: 'S-1-5-21-1004336348-1177238915-682003330-1104',
      roles: [ADMIN_ROLE, 'Other.Role'],
      appId: caller.appId,
    });
    assert.ok(caller.appId, 'azp is mapped to appId');
  });

  it('gives the same user the same oid in every token, and another user another oid', async () => {
    const oidOf = async (upn: string) =>
      (
        await validator.authenticate(
          `Bearer ${await provider.mintToken({ tenant: 'contoso', upn })}`,
          'contoso',
        )
      ).objectId;
    const alice = await oidOf('alice@contoso.test');
    assert.equal(await oidOf('Alice@Contoso.test'), alice);
    assert.notEqual(await oidOf('bob@contoso.test'), alice);
    assert.match(alice, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('accepts an explicit oid and a lower-case bearer scheme; a token without roles has none', async () => {
    const oid = '6f1c3a4e-2b7d-4c8e-9f01-23456789abcd';
    const token = await provider.mintToken({ tenant: 'contoso', oid, upn: 'bob@contoso.test' });
    const caller = await validator.authenticate(`bearer ${token}`, 'contoso');
    assert.equal(caller.objectId, oid);
    assert.deepEqual(caller.roles, []);
    assert.equal(caller.onPremisesSid, undefined);
  });

  it('refuses an expired token', async () => {
    const token = await provider.mintToken({
      tenant: 'contoso',
      upn: 'alice@contoso.test',
      notBefore: new Date(Date.now() - 2 * 3_600_000),
      lifetimeSeconds: 3600,
    });
    await rejectsUnauthenticated(validator.authenticate(`Bearer ${token}`, 'contoso'), /expired/);
  });

  it('refuses a token that is not valid yet', async () => {
    const token = await provider.mintToken({
      tenant: 'contoso',
      upn: 'alice@contoso.test',
      notBefore: new Date(Date.now() + 10 * 60_000),
    });
    await rejectsUnauthenticated(validator.authenticate(`Bearer ${token}`, 'contoso'), /not valid yet/);
  });

  it('refuses a token whose payload was tampered with', async () => {
    const token = await provider.mintToken({ tenant: 'contoso', upn: 'alice@contoso.test' });
    const forged = tamper(token, (claims) => {
      claims.roles = [ADMIN_ROLE];
    });
    await rejectsUnauthenticated(
      validator.authenticate(`Bearer ${forged}`, 'contoso'),
      /signature is invalid/,
    );
  });

  it('refuses a token signed by another key (another provider with the same issuer shape)', async () => {
    const other = await startIdentityProvider({ port: 0 });
    try {
      // Our provider's issuer, signed with the other provider's key (and its kid).
      const foreign = await other.mintToken({
        tenant: 'contoso',
        upn: 'alice@contoso.test',
        issuer: provider.issuer('contoso'),
      });
      await rejectsUnauthenticated(
        validator.authenticate(`Bearer ${foreign}`, 'contoso'),
        /not signed with a key the issuer publishes/,
      );
      const ours = await provider.mintToken({ tenant: 'contoso', upn: 'alice@contoso.test' });
      const [header] = ours.split('.') as [string];
      const [, payload, signature] = foreign.split('.') as [string, string, string];
      await rejectsUnauthenticated(
        validator.authenticate(`Bearer ${header}.${payload}.${signature}`, 'contoso'),
        /signature is invalid/,
      );
    } finally {
      await other.close();
    }
  });

  it('refuses a token for another audience', async () => {
    const token = await provider.mintToken({
      tenant: 'contoso',
      upn: 'alice@contoso.test',
      audience: 'api://other',
    });
    await rejectsUnauthenticated(validator.authenticate(`Bearer ${token}`, 'contoso'), /another audience/);
  });

  it('refuses a token from another issuer, even when signed with the right key', async () => {
    const token = await provider.mintToken({
      tenant: 'contoso',
      upn: 'alice@contoso.test',
      issuer: 'https://login.microsoftonline.com/contoso/v2.0',
    });
    await rejectsUnauthenticated(validator.authenticate(`Bearer ${token}`, 'contoso'), /another issuer/);
  });

  it('answers 403 to a valid token of another tenant', async () => {
    const token = await provider.mintToken({
      tenant: 'fabrikam',
      upn: 'mallory@fabrikam.test',
      roles: [ADMIN_ROLE],
    });
    assert.equal((await validator.authenticate(`Bearer ${token}`, 'fabrikam')).tenantId, 'fabrikam');
    await assert.rejects(validator.authenticate(`Bearer ${token}`, 'contoso'), (error: unknown) => {
      assert.ok(error instanceof ForbiddenError);
      assert.equal(error.status, 403);
      assert.match(error.detail, /another tenant/);
      return true;
    });
  });

  it('refuses alg none and HS256 tokens carrying valid-looking claims', async () => {
    const claims = {
      iss: provider.issuer('contoso'),
      aud: AUDIENCE,
      tid: 'contoso',
      oid: stableUuid('user\ncontoso\nalice@contoso.test'),
      upn: 'alice@contoso.test',
      roles: [ADMIN_ROLE],
    };
    const unsecured = new UnsecuredJWT(claims).setIssuedAt().setExpirationTime('1h').encode();
    await rejectsUnauthenticated(validator.authenticate(`Bearer ${unsecured}`, 'contoso'), /algorithm/);

    const hs256 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('a-shared-secret-that-is-long-enough!!'));
    await rejectsUnauthenticated(validator.authenticate(`Bearer ${hs256}`, 'contoso'), /algorithm/);
  });

  it('refuses a missing, empty, non-Bearer or garbage Authorization header', async () => {
    await rejectsUnauthenticated(validator.authenticate(undefined, 'contoso'), /No bearer token/);
    await rejectsUnauthenticated(validator.authenticate(null, 'contoso'), /No bearer token/);
    await rejectsUnauthenticated(validator.authenticate('   ', 'contoso'), /No bearer token/);
    await rejectsUnauthenticated(
      validator.authenticate('Basic YWxpY2U6c2VjcmV0', 'contoso'),
      /Bearer scheme/,
    );
    await rejectsUnauthenticated(validator.authenticate('Bearer', 'contoso'), /Bearer <token>/);
    await rejectsUnauthenticated(validator.authenticate('Bearer a b', 'contoso'), /Bearer <token>/);
    await rejectsUnauthenticated(validator.authenticate('Bearer not-a-jwt', 'contoso'), /malformed/);
    await rejectsUnauthenticated(validator.authenticate('Bearer e30.e30.e30.e30', 'contoso'), /malformed/);
  });

  it('refuses a token without a tid or with a tid that is not a tenant id, without asking the provider', async () => {
    const before = provider.requestCounts().discovery;
    const { privateKey } = await generateKeyPair('RS256');
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('1h').sign(privateKey);
    for (const claims of [
      { aud: AUDIENCE },
      { tid: '../contoso' },
      { tid: 'conto so' },
      { tid: 42 },
      { tid: '-x' },
    ]) {
      await rejectsUnauthenticated(
        validator.authenticate(`Bearer ${await sign(claims)}`, 'contoso'),
        /tenant id/,
      );
    }
    assert.equal(provider.requestCounts().discovery, before);
  });

  it('fetches discovery and keys once per issuer, not per request', async () => {
    const fresh = createTokenValidator({ issuerTemplate: provider.issuerTemplate, audience: AUDIENCE });
    const start = provider.requestCounts();
    const token = await provider.mintToken({ tenant: 'cache-test', upn: 'alice@cache-test.test' });
    await fresh.authenticate(`Bearer ${token}`, 'cache-test');
    await Promise.all([1, 2, 3].map(() => fresh.authenticate(`Bearer ${token}`, 'cache-test')));
    const other = await provider.mintToken({ tenant: 'cache-test', upn: 'bob@cache-test.test' });
    await fresh.authenticate(`Bearer ${other}`, 'cache-test');
    let counts = provider.requestCounts();
    assert.equal(counts.discovery - start.discovery, 1);
    assert.equal(counts.jwks - start.jwks, 1);

    // Another tenant is another issuer: its own discovery document.
    await fresh.authenticate(
      `Bearer ${await provider.mintToken({ tenant: 'other', upn: 'x@other.test' })}`,
      'other',
    );
    counts = provider.requestCounts();
    assert.equal(counts.discovery - start.discovery, 2);
  });

  it('fetches discovery again once the cached document has expired', async () => {
    const shortLived = createTokenValidator({
      issuerTemplate: provider.issuerTemplate,
      audience: AUDIENCE,
      discoveryCacheMs: 0,
    });
    const start = provider.requestCounts().discovery;
    // Two tokens: a token that verified once is remembered, and would need no discovery at all.
    for (const upn of ['alice@contoso.test', 'bob@contoso.test']) {
      const token = await provider.mintToken({ tenant: 'contoso', upn });
      await shortLived.authenticate(`Bearer ${token}`, 'contoso');
    }
    assert.equal(provider.requestCounts().discovery - start, 2);
  });

  it('remembers a verified token until its expiry: no request to the provider, the tenant still checked', async () => {
    const remembering = createTokenValidator({
      issuerTemplate: provider.issuerTemplate,
      audience: AUDIENCE,
      discoveryCacheMs: 0,
      clockToleranceSeconds: 0,
    });
    const token = await provider.mintToken({
      tenant: 'contoso',
      upn: 'alice@contoso.test',
      lifetimeSeconds: 2,
    });
    const start = provider.requestCounts().discovery;
    const first = await remembering.authenticate(`Bearer ${token}`, 'contoso');
    const again = await remembering.authenticate(`Bearer ${token}`, 'contoso');
    assert.deepEqual(again, first);
    assert.equal(provider.requestCounts().discovery - start, 1);
    await assert.rejects(remembering.authenticate(`Bearer ${token}`, 'fabrikam'), ForbiddenError);
    // Past its expiry the token is checked again, and refused.
    const exp = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number })
      .exp;
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 50));
    await rejectsUnauthenticated(remembering.authenticate(`Bearer ${token}`, 'contoso'), /expired/);
  });

  it('works with a single-tenant issuer (no {tenantId} in AUTH_ISSUER)', async () => {
    const single = createTokenValidator({ issuerTemplate: provider.issuer('contoso'), audience: AUDIENCE });
    const token = await provider.mintToken({ tenant: 'contoso', upn: 'alice@contoso.test' });
    assert.equal((await single.authenticate(`Bearer ${token}`, 'contoso')).upn, 'alice@contoso.test');
    const fabrikam = await provider.mintToken({ tenant: 'fabrikam', upn: 'eve@fabrikam.test' });
    await rejectsUnauthenticated(single.authenticate(`Bearer ${fabrikam}`, 'fabrikam'), /another issuer/);
  });
});

describe('token validation when the identity provider is unreachable', () => {
  it('answers ServiceUnavailable (503), not 401, and recovers once the provider is back', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'identity-'));
    let provider = await startIdentityProvider({ port: 0, dataDir });
    try {
      const port = Number(new URL(provider.url).port);
      const token = await provider.mintToken({ tenant: 'contoso', upn: 'alice@contoso.test' });
      const validator = createTokenValidator({
        issuerTemplate: provider.issuerTemplate,
        audience: AUDIENCE,
        fetchTimeoutMs: 2_000,
      });
      await provider.close();

      for (let attempt = 0; attempt < 2; attempt++) {
        await assert.rejects(validator.authenticate(`Bearer ${token}`, 'contoso'), (error: unknown) => {
          assert.ok(error instanceof ProblemError);
          assert.ok(!(error instanceof UnauthenticatedError));
          assert.equal(error.code, 'ServiceUnavailable');
          assert.equal(error.status, 503);
          assert.ok(error.extras.retryAfterSeconds! > 0);
          assert.ok(!error.detail.includes(token), 'the token is never in an error');
          return true;
        });
      }

      // The failure was not cached: once the provider is back (same port, same key), the token is accepted.
      provider = await startIdentityProvider({ port, dataDir });
      assert.equal((await validator.authenticate(`Bearer ${token}`, 'contoso')).upn, 'alice@contoso.test');
    } finally {
      await provider.close().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('answers 401 for a tenant the provider does not know (discovery 404)', async () => {
    const provider = await startIdentityProvider({ port: 0 });
    try {
      // A template whose discovery path the provider does not serve stands for a tenant Entra does not know.
      const validator = createTokenValidator({
        issuerTemplate: `${provider.url}/nowhere/{tenantId}/v2.0`,
        audience: AUDIENCE,
      });
      const token = await provider.mintToken({ tenant: 'contoso', upn: 'alice@contoso.test' });
      await rejectsUnauthenticated(validator.authenticate(`Bearer ${token}`, 'contoso'), /not known/);
    } finally {
      await provider.close();
    }
  });
});
