import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ADMIN_ROLE, requireRole, userIdentifierOf, type Caller } from '../../../shared/auth/index.js';
import { ForbiddenError, UnauthenticatedError } from '../../../shared/errors/index.js';

const base: Caller = { tenantId: 'contoso', objectId: '00000000-0000-4000-8000-000000000001', roles: [] };

describe('requireRole', () => {
  it('passes when the caller holds the role', () => {
    assert.doesNotThrow(() => requireRole({ ...base, roles: ['Reader', ADMIN_ROLE] }, ADMIN_ROLE));
  });

  it('answers 403 naming the role when the caller lacks it (roles are case-sensitive)', () => {
    for (const roles of [[], ['Reader'], ['writeback.admin']]) {
      assert.throws(
        () => requireRole({ ...base, roles }, ADMIN_ROLE),
        (error: unknown) =>
          error instanceof ForbiddenError && error.status === 403 && error.detail.includes(ADMIN_ROLE),
      );
    }
  });
});

describe('userIdentifierOf', () => {
  it('prefers the on-premises SID', () => {
    assert.equal(
      userIdentifierOf({ ...base, upn: 'alice@contoso.test', onPremisesSid: 'S-1-5-21-1-2-3-1104' }),
      'S-1-5-21-1-2-3-1104',
    );
  });

  it('falls back to the UPN', () => {
    assert.equal(userIdentifierOf({ ...base, upn: 'alice@contoso.test' }), 'alice@contoso.test');
  });

  it('answers 401 when the token names no on-premises user', () => {
    assert.throws(
      () => userIdentifierOf(base),
      (error: unknown) => error instanceof UnauthenticatedError && error.status === 401,
    );
  });
});
