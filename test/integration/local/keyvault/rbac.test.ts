/**
 * Authorization as Key Vault RBAC does it: roles at the vault's scope or one key's, 403 ForbiddenByRbac
 * otherwise; and the emulator's admin endpoint that changes role assignments at run time.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { KeyVaultKey } from '@azure/keyvault-keys';
import {
  ADMIN,
  adminRequest,
  ENCRYPTION_USER,
  failure,
  NOBODY,
  OFFICER,
  startStack,
  TENANT,
  VAULT_AUDIENCE,
  type TestStack,
} from './support.js';

const KEY_SCOPED = '77777777-7777-4777-8777-777777777777';

describe('Key Vault emulator: RBAC', () => {
  let stack: TestStack;
  let mine: KeyVaultKey;
  let other: KeyVaultKey;

  before(async () => {
    stack = await startStack();
    const officer = stack.keyClient(stack.credential(OFFICER));
    [mine, other] = await Promise.all([officer.createRsaKey('mine'), officer.createRsaKey('other')]);
  });
  after(async () => stack?.close());

  it('refuses an identity without a role with 403 ForbiddenByRbac', async () => {
    const nobody = stack.credential(NOBODY);
    const refused = await failure(stack.keyClient(nobody).getKey('mine'));
    assert.equal(refused.status, 403);
    assert.equal(refused.code, 'Forbidden');
    assert.equal(refused.inner, 'ForbiddenByRbac');
    assert.match(refused.error.message, /Caller is not authorized to perform action on resource/);
    assert.match(refused.error.message, /Microsoft\.KeyVault\/vaults\/keys\/read/);

    // Without the right to read the key, the SDK falls back to remote operations: still refused.
    const crypto = stack.cryptoClient(mine.id!, nobody);
    const encrypt = await failure(crypto.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: Buffer.from('x') }));
    assert.equal(encrypt.status, 403);
    assert.equal(encrypt.inner, 'ForbiddenByRbac');
  });

  it('limits a role scoped to one key to that key', async () => {
    const assignment = stack.emulator.assignRole({
      principalId: KEY_SCOPED,
      role: 'Key Vault Crypto User',
      scope: '/keys/mine',
    });
    try {
      const credential = stack.credential(KEY_SCOPED);
      const own = stack.cryptoClient(mine.id!, credential);
      const encrypted = await own.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: Buffer.from('mine') });
      assert.equal(
        Buffer.from(
          (await own.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: encrypted.result })).result,
        ).toString(),
        'mine',
      );

      const foreign = stack.cryptoClient(other.id!, credential);
      const refused = await failure(
        foreign.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: encrypted.result }),
      );
      assert.equal(refused.status, 403);
      assert.equal(refused.inner, 'ForbiddenByRbac');

      const listing = await failure(stack.keyClient(credential).listPropertiesOfKeys().next());
      assert.equal(listing.status, 403, 'listing needs a role at the vault scope');
    } finally {
      stack.emulator.removeRoleAssignment(assignment.id);
    }
  });

  it('lets a Crypto Service Encryption User get, wrap and unwrap, and nothing else', async () => {
    const assignment = stack.emulator.assignRole({
      principalId: ENCRYPTION_USER,
      role: 'Key Vault Crypto Service Encryption User',
    });
    try {
      const credential = stack.credential(ENCRYPTION_USER);
      const crypto = stack.cryptoClient(mine.id!, credential);
      const contentKey = randomBytes(32);
      const wrapped = await crypto.wrapKey('RSA-OAEP-256', contentKey);
      assert.deepEqual(
        Buffer.from((await crypto.unwrapKey('RSA-OAEP-256', wrapped.result)).result),
        contentKey,
      );

      const decrypt = await failure(
        crypto.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: wrapped.result }),
      );
      assert.equal(decrypt.status, 403);
      assert.equal(decrypt.inner, 'ForbiddenByRbac');
      const sign = await failure(crypto.sign('RS256', randomBytes(32)));
      assert.equal(sign.status, 403);
      const rotate = await failure(stack.keyClient(credential).rotateKey('mine'));
      assert.equal(rotate.status, 403);
    } finally {
      stack.emulator.removeRoleAssignment(assignment.id);
    }
  });

  it('changes role assignments at run time through the admin endpoint, for administrators only', async () => {
    const token = (oid: string) =>
      stack.identity.mintToken({ tenant: TENANT, oid, audience: VAULT_AUDIENCE });
    const path = '/.emulator/role-assignments/agent-on-mine';
    const assignment = { principalId: NOBODY, role: 'Key Vault Crypto User', scope: '/keys/mine' };

    const anonymous = await adminRequest(stack, 'PUT', path, undefined, assignment);
    assert.equal(anonymous.status, 401);
    assert.match(String(anonymous.headers['www-authenticate']), /^Bearer authorization=/);
    const notAdmin = await adminRequest(stack, 'PUT', path, await token(OFFICER), assignment);
    assert.equal(notAdmin.status, 403);
    assert.equal((notAdmin.body as { error: { code: string } }).error.code, 'Forbidden');
    const badRole = await adminRequest(stack, 'PUT', path, await token(ADMIN), {
      ...assignment,
      role: 'Owner',
    });
    assert.equal(badRole.status, 400);

    const created = await adminRequest(stack, 'PUT', path, await token(ADMIN), assignment);
    assert.equal(created.status, 200);
    assert.deepEqual(created.body, {
      id: 'agent-on-mine',
      principalId: NOBODY,
      roleDefinitionName: 'Key Vault Crypto User',
      roleDefinitionId: '12338af0-0e69-4776-bea7-57ae8d297424',
      scope: '/keys/mine',
    });
    const listed = await adminRequest(stack, 'GET', '/.emulator/role-assignments', await token(ADMIN));
    assert.ok((listed.body as { value: { id: string }[] }).value.some((a) => a.id === 'agent-on-mine'));

    const crypto = stack.cryptoClient(mine.id!, stack.credential(NOBODY));
    const signed = await crypto.sign('RS256', randomBytes(32));
    assert.equal(signed.result.length, 256);

    const removed = await adminRequest(stack, 'DELETE', path, await token(ADMIN));
    assert.equal(removed.status, 204);
    const refused = await failure(
      stack.cryptoClient(mine.id!, stack.credential(NOBODY)).sign('RS256', randomBytes(32)),
    );
    assert.equal(refused.status, 403);
    assert.equal((await adminRequest(stack, 'DELETE', path, await token(ADMIN))).status, 404);
  });
});
