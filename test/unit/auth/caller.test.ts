import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ADMIN_ROLE,
  onPremisesUserOf,
  requireRole,
  userIdentifierOf,
  type Caller,
} from '../../../shared/auth/index.js';
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

describe('onPremisesUserOf', () => {
  // Found by fuzzing: such claims reached the request envelope, which refused them with a 500.
  it('answers 401 for an onprem_sid that is not a SID, even with a valid upn', () => {
    for (const onPremisesSid of ['X-1', 'S-1-5', 'S-1-5-21-', 's-1-5-21-1', `S-1-${'9'.repeat(16)}-1`]) {
      assert.throws(
        () => onPremisesUserOf({ ...base, upn: 'alice@contoso.test', onPremisesSid }),
        (error: unknown) => error instanceof UnauthenticatedError && /onprem_sid/.test(error.detail),
        onPremisesSid,
      );
    }
  });

  it('answers 401 for a upn that is not name@suffix, has a lone surrogate or is over 1024 bytes', () => {
    for (const upn of [
      'alice',
      'alice@',
      'al ice@contoso.test',
      'alice\udc00@contoso.test',
      `${'a'.repeat(1012)}@contoso.test`,
    ]) {
      assert.throws(
        () => onPremisesUserOf({ ...base, upn }),
        (error: unknown) => error instanceof UnauthenticatedError && /upn/.test(error.detail),
        upn.slice(0, 40),
      );
    }
  });

  it('takes the longest SID and UPN the request envelope carries', () => {
    const sid = `S-1-${'9'.repeat(15)}${`-${'4'.repeat(10)}`.repeat(15)}`;
    assert.deepEqual(onPremisesUserOf({ ...base, onPremisesSid: sid }), { kind: 'sid', value: sid });
    const upn = `${'a'.repeat(1011)}@contoso.test`;
    assert.deepEqual(onPremisesUserOf({ ...base, upn }), { kind: 'upn', value: upn });
  });
});
