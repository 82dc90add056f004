/**
 * Persistence: keys survive a restart (files under the data folder, mode 0600), and in-memory mode
 * writes nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CRYPTO_USER, failure, OFFICER, startStack, type TestStack } from './support.js';

describe('Key Vault emulator: persistence', () => {
  let dataDir: string;
  let stack: TestStack;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'keyvault-data-'));
    stack = await startStack({ inMemory: false, dataDir });
  });
  after(async () => {
    await stack?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps keys, versions, deletions and rotation policies across a restart', async () => {
    const keys = stack.keyClient(stack.credential(OFFICER));
    const first = await keys.createRsaKey('durable', { tags: { purpose: 'test' } });
    const crypto = stack.cryptoClient(first.id!, stack.credential(CRYPTO_USER));
    const secret = randomBytes(48);
    const { result: ciphertext } = await crypto.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: secret });
    const rotated = await keys.rotateKey('durable');
    await keys.updateKeyRotationPolicy('durable', {
      lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P30D' }],
      expiresIn: 'P60D',
    });
    await keys.createEcKey('deleted-before-restart');
    await (await keys.beginDeleteKey('deleted-before-restart', { intervalInMs: 10 })).pollUntilDone();

    await stack.restart();

    const keysAfter = stack.keyClient(stack.credential(OFFICER));
    const current = await keysAfter.getKey('durable');
    assert.equal(current.id, rotated.id);
    assert.deepEqual(Buffer.from(current.key!.n!), Buffer.from(rotated.key!.n!));
    assert.deepEqual(current.properties.tags, { purpose: 'test' });
    const old = stack.cryptoClient(first.id!, stack.credential(CRYPTO_USER));
    const decrypted = await old.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext });
    assert.deepEqual(
      Buffer.from(decrypted.result),
      secret,
      'the old version still decrypts after the restart',
    );
    assert.equal((await keysAfter.getKeyRotationPolicy('durable')).expiresIn, 'P60D');
    assert.equal((await keysAfter.getDeletedKey('deleted-before-restart')).name, 'deleted-before-restart');
    assert.equal((await failure(keysAfter.getKey('deleted-before-restart'))).status, 404);
  });

  it('writes key files with mode 0600 in a 0700 folder', async () => {
    const dir = join(dataDir, 'keys');
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    const files = await readdir(dir);
    assert.ok(files.includes('durable.json'));
    for (const file of files) {
      assert.equal((await stat(join(dir, file))).mode & 0o777, 0o600, file);
      assert.ok(file.endsWith('.json'), `no temporary file is left: ${file}`);
    }
    const stored = JSON.parse(await readFile(join(dir, 'durable.json'), 'utf8')) as {
      versions: { privateJwk: { d?: string } }[];
    };
    assert.ok(
      stored.versions.every((v) => typeof v.privateJwk.d === 'string'),
      'the private part stays in the vault’s files',
    );
  });

  it('purging removes the key’s file', async () => {
    const keys = stack.keyClient(stack.credential(OFFICER));
    await keys.purgeDeletedKey('deleted-before-restart');
    await assert.rejects(access(join(dataDir, 'keys', 'deleted-before-restart.json')), { code: 'ENOENT' });
  });

  it('in memory, writes nothing to the data folder', async () => {
    const unusedDir = join(dataDir, 'unused');
    const memory = await startStack({ inMemory: true, dataDir: unusedDir });
    try {
      await memory.keyClient(memory.credential(OFFICER)).createRsaKey('ephemeral');
      await memory.restart();
      assert.equal(
        (await failure(memory.keyClient(memory.credential(OFFICER)).getKey('ephemeral'))).status,
        404,
      );
    } finally {
      await memory.close();
    }
    await assert.rejects(access(unusedDir), { code: 'ENOENT' });
  });
});
