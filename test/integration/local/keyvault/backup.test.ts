/**
 * Key backup and restore through KeyClient, as the SDK's samples do them: back up, delete, purge,
 * restore (every version, same ids), and the refusals: a name in use (409, as Key Vault), a backup of
 * another vault, a damaged blob, a caller without the restore permission.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KeyClient } from '@azure/keyvault-keys';
import { CRYPTO_USER, failure, OFFICER, startStack, type TestStack } from './support.js';

const POLL = { intervalInMs: 10 };

async function deleteAndPurge(client: KeyClient, name: string): Promise<void> {
  await (await client.beginDeleteKey(name, POLL)).pollUntilDone();
  await client.purgeDeletedKey(name);
}

describe('Key Vault emulator: backup and restore', () => {
  let stack: TestStack;
  let officer: KeyClient;

  before(async () => {
    stack = await startStack();
    officer = stack.keyClient(stack.credential(OFFICER));
  });
  after(async () => stack?.close());

  it('backs up, deletes, purges and restores a key with all its versions, ids, tags and policy', async () => {
    const first = await officer.createRsaKey('backed-up', { tags: { purpose: 'test' } });
    await officer.updateKeyRotationPolicy('backed-up', { expiresIn: 'P90D' });
    const second = await officer.rotateKey('backed-up');
    const backup = await officer.backupKey('backed-up');
    assert.ok(backup && backup.length > 0);

    await deleteAndPurge(officer, 'backed-up');
    assert.equal((await failure(officer.getKey('backed-up'))).status, 404);

    const restored = await officer.restoreKeyBackup(backup);
    assert.equal(restored.name, 'backed-up');
    assert.equal(restored.id, second.id, 'the current version keeps its id');
    assert.deepEqual(restored.key?.n, second.key?.n);
    const versions: string[] = [];
    for await (const version of officer.listPropertiesOfKeyVersions('backed-up')) {
      versions.push(version.version!);
    }
    assert.deepEqual(versions.sort(), [first.properties.version, second.properties.version].sort());
    assert.deepEqual(
      (await officer.getKey('backed-up', { version: first.properties.version! })).key?.n,
      first.key?.n,
    );
    assert.deepEqual((await officer.getKey('backed-up')).properties.tags, { purpose: 'test' });
    assert.equal((await officer.getKeyRotationPolicy('backed-up')).expiresIn, 'P90D');
  });

  it('restores a key whose private operations work as before: decrypt what was encrypted before the backup', async () => {
    const key = await officer.createRsaKey('crypto-backup');
    const crypto = stack.cryptoClient(key.id!, stack.credential(CRYPTO_USER));
    const plaintext = randomBytes(32);
    const { result: ciphertext } = await crypto.encrypt({ algorithm: 'RSA-OAEP-256', plaintext });
    const backup = await officer.backupKey('crypto-backup');
    await deleteAndPurge(officer, 'crypto-backup');
    await officer.restoreKeyBackup(backup!);
    const decrypted = await crypto.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext });
    assert.deepEqual(Buffer.from(decrypted.result), plaintext);
  });

  it('refuses a restore while the name is taken by a key, or by a deleted key not yet purged (409)', async () => {
    await officer.createEcKey('taken');
    const backup = (await officer.backupKey('taken'))!;
    const whileActive = await failure(officer.restoreKeyBackup(backup));
    assert.equal(whileActive.status, 409);
    assert.equal(whileActive.code, 'Conflict');

    await (await officer.beginDeleteKey('taken', POLL)).pollUntilDone();
    const whileDeleted = await failure(officer.restoreKeyBackup(backup));
    assert.equal(whileDeleted.status, 409);
    assert.match(whileDeleted.error.message, /deleted/);

    await officer.purgeDeletedKey('taken');
    assert.equal((await officer.restoreKeyBackup(backup)).name, 'taken');
  });

  it('refuses to back up a missing or deleted key (404)', async () => {
    assert.equal((await failure(officer.backupKey('never-created'))).status, 404);
    await officer.createEcKey('gone-before-backup');
    await (await officer.beginDeleteKey('gone-before-backup', POLL)).pollUntilDone();
    assert.equal((await failure(officer.backupKey('gone-before-backup'))).code, 'KeyNotFound');
  });

  it('refuses damaged blobs and blobs that are not backups (400 BadParameter)', async () => {
    await officer.createEcKey('to-damage');
    const backup = Buffer.from((await officer.backupKey('to-damage'))!);
    await deleteAndPurge(officer, 'to-damage');
    backup[backup.length - 20]! ^= 0xff;
    const damaged = await failure(officer.restoreKeyBackup(backup));
    assert.equal(damaged.status, 400);
    assert.equal(damaged.code, 'BadParameter');
    assert.equal((await failure(officer.restoreKeyBackup(randomBytes(64)))).code, 'BadParameter');
    assert.equal((await failure(officer.getKey('to-damage'))).status, 404, 'nothing was restored');
  });

  it('lets a Crypto User back up but not restore, as Key Vault’s role definitions say (403)', async () => {
    await officer.createEcKey('user-backup');
    const user = stack.keyClient(stack.credential(CRYPTO_USER));
    const backup = (await user.backupKey('user-backup'))!;
    await deleteAndPurge(officer, 'user-backup');
    const refused = await failure(user.restoreKeyBackup(backup));
    assert.equal(refused.status, 403);
    assert.equal(refused.inner, 'ForbiddenByRbac');
  });
});

describe('Key Vault emulator: backups across emulators', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'keyvault-backup-'));
  });
  after(async () => rm(dataDir, { recursive: true, force: true }));

  it('restores into another emulator with the same backup key, and into no emulator with another', async () => {
    const backupKey = randomBytes(32).toString('base64');
    const source = await startStack({ backupKey });
    const twin = await startStack({ backupKey });
    const stranger = await startStack();
    try {
      const sourceClient = source.keyClient(source.credential(OFFICER));
      const created = await sourceClient.createRsaKey('travelling');
      const backup = (await sourceClient.backupKey('travelling'))!;

      const restored = await twin.keyClient(twin.credential(OFFICER)).restoreKeyBackup(backup);
      assert.equal(restored.properties.version, created.properties.version);
      assert.deepEqual(restored.key?.n, created.key?.n);

      const refused = await failure(
        stranger.keyClient(stranger.credential(OFFICER)).restoreKeyBackup(backup),
      );
      assert.equal(refused.status, 400);
      assert.match(refused.error.message, /another backup key/);
    } finally {
      await Promise.allSettled([source.close(), twin.close(), stranger.close()]);
    }
  });

  it('keeps the backup key in the data folder (mode 0600), so backups restore after a restart', async () => {
    const stack = await startStack({ inMemory: false, dataDir });
    try {
      const client = stack.keyClient(stack.credential(OFFICER));
      await client.createEcKey('survives-restart');
      const backup = (await client.backupKey('survives-restart'))!;
      await deleteAndPurge(client, 'survives-restart');
      assert.equal((await stat(join(dataDir, 'backup-key'))).mode & 0o777, 0o600);
      await stack.restart();
      const restored = await stack.keyClient(stack.credential(OFFICER)).restoreKeyBackup(backup);
      assert.equal(restored.name, 'survives-restart');
    } finally {
      await stack.close();
    }
  });
});
