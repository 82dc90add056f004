/**
 * Key management through the official KeyClient against the emulator: create, import, get, list with
 * paging, update, rotate, rotation policy, delete, deleted-key get, recover and purge.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { KeyClient, type KeyClient as KeyClientType } from '@azure/keyvault-keys';
import { clientOptions, failure, OFFICER, startStack, type TestStack } from './support.js';

/** Fast polling for the delete and recover pollers (they would wait 2 s between polls by default). */
const POLL = { intervalInMs: 10 };

describe('Key Vault emulator: keys through KeyClient', () => {
  let stack: TestStack;
  let client: KeyClientType;

  before(async () => {
    stack = await startStack();
    client = stack.keyClient(stack.credential(OFFICER));
  });
  after(async () => stack?.close());

  it('creates RSA 2048 and 3072 keys with the default operations and Unix-second timestamps', async () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    for (const keySize of [2048, 3072]) {
      const key = await client.createRsaKey(`rsa-${keySize}`, { keySize });
      assert.equal(key.keyType, 'RSA');
      assert.equal(key.key?.n?.length, keySize / 8);
      assert.deepEqual([...(key.key?.e ?? [])], [1, 0, 1]);
      assert.deepEqual(key.keyOperations, ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey']);
      assert.match(key.properties.version ?? '', /^[0-9a-f]{32}$/);
      assert.equal(key.id, `${stack.emulator.vaultUri}/keys/rsa-${keySize}/${key.properties.version}`);
      assert.equal(key.properties.enabled, true);
      assert.equal(key.properties.recoveryLevel, 'Recoverable+Purgeable');
      assert.equal(key.properties.recoverableDays, 90);
      assert.equal(key.properties.createdOn!.getTime() % 1000, 0, 'seconds, not milliseconds');
      assert.ok(key.properties.createdOn!.getTime() >= before);
      assert.equal(key.key?.d, undefined, 'the private part never leaves the vault');
    }
  });

  it('creates an RSA 4096 key (once: it is slow to generate)', async () => {
    const key = await client.createRsaKey('rsa-4096', { keySize: 4096 });
    assert.equal(key.key?.n?.length, 512);
  });

  it('creates EC P-256 and P-384 keys, with sign and verify by default', async () => {
    for (const [curve, bytes] of [
      ['P-256', 32],
      ['P-384', 48],
    ] as const) {
      const key = await client.createEcKey(`ec-${curve}`, { curve });
      assert.equal(key.keyType, 'EC');
      assert.equal(key.key?.crv, curve);
      assert.equal(key.key?.x?.length, bytes);
      assert.equal(key.key?.y?.length, bytes);
      assert.deepEqual(key.keyOperations, ['sign', 'verify']);
    }
  });

  it('creates a key with operations, tags, nbf and exp, and an HSM key type', async () => {
    const notBefore = new Date(Date.now() - 60_000);
    const expiresOn = new Date(Date.now() + 86_400_000);
    const key = await client.createKey('shaped', 'RSA', {
      keyOps: ['wrapKey', 'unwrapKey'],
      tags: { tenant: 'contoso' },
      notBefore,
      expiresOn,
    });
    assert.deepEqual(key.keyOperations, ['wrapKey', 'unwrapKey']);
    assert.deepEqual(key.properties.tags, { tenant: 'contoso' });
    assert.equal(key.properties.notBefore?.getTime(), Math.floor(notBefore.getTime() / 1000) * 1000);
    assert.equal(key.properties.expiresOn?.getTime(), Math.floor(expiresOn.getTime() / 1000) * 1000);
    const hsm = await client.createRsaKey('hsm', { hsm: true });
    assert.equal(hsm.keyType, 'RSA-HSM');
  });

  it('imports RSA and EC keys made with node:crypto and returns only their public parts', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const imported = await client.importKey('imported-rsa', {
      kty: 'RSA',
      n: Buffer.from(rsa.n!, 'base64url'),
      e: Buffer.from(rsa.e!, 'base64url'),
      d: Buffer.from(rsa.d!, 'base64url'),
      p: Buffer.from(rsa.p!, 'base64url'),
      q: Buffer.from(rsa.q!, 'base64url'),
      dp: Buffer.from(rsa.dp!, 'base64url'),
      dq: Buffer.from(rsa.dq!, 'base64url'),
      qi: Buffer.from(rsa.qi!, 'base64url'),
    });
    assert.equal(Buffer.from(imported.key!.n!).toString('base64url'), rsa.n);
    assert.equal(imported.key?.d, undefined);

    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'jwk' });
    const importedEc = await client.importKey('imported-ec', {
      kty: 'EC',
      crv: 'P-384',
      x: Buffer.from(ec.x!, 'base64url'),
      y: Buffer.from(ec.y!, 'base64url'),
      d: Buffer.from(ec.d!, 'base64url'),
      keyOps: ['sign', 'verify'],
    });
    assert.equal(importedEc.key?.crv, 'P-384');
    assert.equal(Buffer.from(importedEc.key!.x!).toString('base64url'), ec.x);
  });

  it('gets the latest version and a given version', async () => {
    const first = await client.createRsaKey('versions');
    const second = await client.createRsaKey('versions');
    assert.notEqual(first.properties.version, second.properties.version);
    assert.equal((await client.getKey('versions')).id, second.id);
    assert.equal((await client.getKey('versions', { version: first.properties.version! })).id, first.id);
  });

  it('builds ids from the host the caller used', async () => {
    const viaLocalhost = new KeyClient(
      stack.emulator.vaultUri.replace('127.0.0.1', 'localhost'),
      stack.credential(OFFICER),
      clientOptions(stack.ca),
    );
    const key = await viaLocalhost.getKey('versions');
    assert.match(key.id!, /^https:\/\/localhost:\d+\/keys\/versions\/[0-9a-f]{32}$/);
  });

  it('lists keys and versions page by page with nextLink', async () => {
    for (let i = 0; i < 5; i++) await client.createEcKey(`paged-${i}`);
    const pages: string[][] = [];
    for await (const page of client.listPropertiesOfKeys().byPage({ maxPageSize: 2 })) {
      pages.push(page.map((p) => p.name));
    }
    assert.ok(pages.length > 2, 'more than two pages of two');
    assert.ok(pages.every((p) => p.length <= 2));
    const names = pages.flat();
    for (let i = 0; i < 5; i++) assert.ok(names.includes(`paged-${i}`));
    assert.equal(new Set(names).size, names.length, 'no key twice');

    const all: string[] = [];
    for await (const properties of client.listPropertiesOfKeys()) {
      assert.equal(properties.version, undefined, 'the keys list names keys without versions');
      all.push(properties.name);
    }
    assert.deepEqual(all.sort(), names.sort());

    for (let i = 0; i < 2; i++) await client.createEcKey('paged-0');
    const versionPages: number[] = [];
    for await (const page of client.listPropertiesOfKeyVersions('paged-0').byPage({ maxPageSize: 2 })) {
      versionPages.push(page.length);
      assert.ok(page.every((v) => /^[0-9a-f]{32}$/.test(v.version ?? '')));
    }
    assert.deepEqual(versionPages, [2, 1]);
  });

  it('updates enabled, nbf/exp, tags and key operations of a version', async () => {
    const key = await client.createRsaKey('updated', { tags: { a: '1' } });
    const expiresOn = new Date(Date.now() + 3_600_000);
    const updated = await client.updateKeyProperties('updated', key.properties.version!, {
      enabled: false,
      expiresOn,
      tags: { b: '2' },
      keyOps: ['encrypt', 'decrypt'],
    });
    assert.equal(updated.properties.enabled, false);
    assert.equal(updated.properties.expiresOn?.getTime(), Math.floor(expiresOn.getTime() / 1000) * 1000);
    assert.deepEqual(updated.properties.tags, { b: '2' });
    assert.deepEqual(updated.keyOperations, ['encrypt', 'decrypt']);
    const read = await client.getKey('updated');
    assert.equal(read.properties.enabled, false);
    assert.deepEqual(read.keyOperations, ['encrypt', 'decrypt']);
    // Without a version, the latest version is updated.
    const reenabled = await client.updateKeyProperties('updated', { enabled: true });
    assert.equal(reenabled.properties.version, key.properties.version);
    assert.equal(reenabled.properties.enabled, true);
  });

  it('rotates a key into a new version of the same type, size and operations', async () => {
    const original = await client.createRsaKey('rotated', { keySize: 3072, keyOps: ['encrypt', 'decrypt'] });
    const rotated = await client.rotateKey('rotated');
    assert.notEqual(rotated.properties.version, original.properties.version);
    assert.equal(rotated.key?.n?.length, 384);
    assert.deepEqual(rotated.keyOperations, ['encrypt', 'decrypt']);
    assert.equal((await client.getKey('rotated')).id, rotated.id);
    const versions: string[] = [];
    for await (const v of client.listPropertiesOfKeyVersions('rotated')) versions.push(v.version!);
    assert.deepEqual(versions.sort(), [original.properties.version!, rotated.properties.version!].sort());
  });

  it('gets the default rotation policy, sets one, and rotation applies its expiry', async () => {
    await client.createEcKey('policy');
    const initial = await client.getKeyRotationPolicy('policy');
    assert.equal(initial.lifetimeActions?.length, 1);
    assert.equal(initial.lifetimeActions?.[0]?.action, 'Notify');
    assert.equal(initial.lifetimeActions?.[0]?.timeBeforeExpiry, 'P30D');

    const policy = await client.updateKeyRotationPolicy('policy', {
      lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P90D' }],
      expiresIn: 'P180D',
    });
    assert.equal(policy.expiresIn, 'P180D');
    // Key Vault adds its Notify action (30 days before expiry) to a policy that has none.
    assert.equal(policy.lifetimeActions?.length, 2);
    assert.equal(policy.lifetimeActions?.[1]?.action, 'Notify');
    assert.equal(policy.lifetimeActions?.[0]?.action, 'Rotate');
    assert.equal(policy.lifetimeActions?.[0]?.timeAfterCreate, 'P90D');
    assert.equal(policy.lifetimeActions?.[0]?.timeBeforeExpiry, undefined);
    assert.ok(policy.createdOn instanceof Date);
    assert.deepEqual((await client.getKeyRotationPolicy('policy')).lifetimeActions, policy.lifetimeActions);

    const rotated = await client.rotateKey('policy');
    const expectedExpiry = Date.now() + 180 * 86_400_000;
    assert.ok(Math.abs(rotated.properties.expiresOn!.getTime() - expectedExpiry) < 60_000);

    const refused = await failure(
      client.updateKeyRotationPolicy('policy', {
        lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P1D' }],
      }),
    );
    assert.equal(refused.status, 400);
    assert.equal(refused.code, 'BadParameter');
  });

  it('deletes a key (soft), reads it as deleted, recovers it, deletes and purges it', async () => {
    const key = await client.createRsaKey('doomed');
    const deleting = await client.beginDeleteKey('doomed', POLL);
    const deleted = await deleting.pollUntilDone();
    assert.equal(deleted.properties.recoveryId, `${stack.emulator.vaultUri}/deletedkeys/doomed`);
    assert.ok(deleted.properties.deletedOn instanceof Date);
    assert.ok(deleted.properties.scheduledPurgeDate! > deleted.properties.deletedOn!);

    assert.equal((await failure(client.getKey('doomed'))).status, 404);
    assert.equal((await client.getDeletedKey('doomed')).id, key.id);
    const deletedNames: string[] = [];
    for await (const d of client.listDeletedKeys()) deletedNames.push(d.name);
    assert.ok(deletedNames.includes('doomed'));

    const reuse = await failure(client.createRsaKey('doomed'));
    assert.equal(reuse.status, 409);
    assert.equal(reuse.code, 'Conflict');

    const recovered = await (await client.beginRecoverDeletedKey('doomed', POLL)).pollUntilDone();
    assert.equal(recovered.id, key.id);
    assert.equal((await client.getKey('doomed')).id, key.id);
    assert.equal((await failure(client.getDeletedKey('doomed'))).status, 404);

    await (await client.beginDeleteKey('doomed', POLL)).pollUntilDone();
    await client.purgeDeletedKey('doomed');
    assert.equal((await failure(client.getDeletedKey('doomed'))).code, 'KeyNotFound');
    const fresh = await client.createRsaKey('doomed');
    assert.notEqual(fresh.id, key.id, 'a purged name can be used again');
  });
});
