/**
 * Rotation policies and rotation through the official KeyClient, as the key rollover uses them: a
 * policy read and written back unchanged is accepted, a Notify-only policy with an expiry round-trips,
 * Key Vault's minimums are enforced (and only those), and a rotation makes a version like the current
 * one whose expiry follows the policy, for software and HSM keys.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KeyClient, KeyRotationPolicyProperties } from '@azure/keyvault-keys';
import { failure, OFFICER, startStack, type TestStack } from './support.js';

const DAY_MS = 86_400_000;
/** Key Vault's timestamps are whole seconds; a rotation takes well under this. */
const SLACK_MS = 60_000;

function near(actual: Date | undefined, expectedMs: number, what: string): void {
  assert.ok(actual instanceof Date, `${what} is set`);
  assert.ok(
    Math.abs(actual.getTime() - expectedMs) < SLACK_MS,
    `${what}: ${actual.toISOString()} is not near ${new Date(expectedMs).toISOString()}`,
  );
}

describe('Key Vault emulator: rotation policies and rotation', () => {
  let stack: TestStack;
  let client: KeyClient;

  before(async () => {
    stack = await startStack();
    client = stack.keyClient(stack.credential(OFFICER));
  });
  after(async () => stack?.close());

  it('accepts the default policy read and written back unchanged', async () => {
    await client.createEcKey('write-back-default');
    const read = await client.getKeyRotationPolicy('write-back-default');
    // Key Vault's default for a key without a policy: Notify 30 days before expiry, nothing else.
    assert.equal(read.id, undefined);
    assert.equal(read.createdOn, undefined);
    assert.equal(read.expiresIn, undefined);
    assert.deepEqual(read.lifetimeActions, [
      { action: 'Notify', timeAfterCreate: undefined, timeBeforeExpiry: 'P30D' },
    ]);

    const written = await client.updateKeyRotationPolicy('write-back-default', read);
    assert.deepEqual(written.lifetimeActions, read.lifetimeActions);
    assert.equal(written.expiresIn, undefined);
    assert.match(written.id ?? '', /\/keys\/write-back-default\/rotationpolicy$/);
    assert.ok(written.createdOn instanceof Date && written.updatedOn instanceof Date);

    // And a policy of its own, read and written back, is accepted and unchanged too.
    const again = await client.updateKeyRotationPolicy(
      'write-back-default',
      await client.getKeyRotationPolicy('write-back-default'),
    );
    assert.deepEqual(again.lifetimeActions, read.lifetimeActions);
    assert.equal(again.createdOn?.getTime(), written.createdOn?.getTime(), 'created stays');
  });

  it('round-trips a Notify-only policy with expiresIn, short and long', async () => {
    await client.createRsaKey('notify-only', { keySize: 2048 });
    for (const expiresIn of ['P370D', 'P1Y', 'P28D', 'PT672H', 'P2Y6M']) {
      const policy: KeyRotationPolicyProperties = {
        expiresIn,
        lifetimeActions: [{ action: 'Notify', timeBeforeExpiry: 'P30D' }],
      };
      const written = await client.updateKeyRotationPolicy('notify-only', policy);
      assert.equal(written.expiresIn, expiresIn);
      assert.deepEqual(written.lifetimeActions, [
        { action: 'Notify', timeAfterCreate: undefined, timeBeforeExpiry: 'P30D' },
      ]);
      const read = await client.getKeyRotationPolicy('notify-only');
      assert.deepEqual(read, written);
      const writtenBack = await client.updateKeyRotationPolicy('notify-only', read);
      assert.equal(writtenBack.expiresIn, expiresIn);
      assert.deepEqual(writtenBack.lifetimeActions, read.lifetimeActions);
    }
  });

  it('refuses an expiry under 28 days, as Key Vault does, so minute-long demo periods cannot be a policy', async () => {
    await client.createEcKey('too-short');
    for (const expiresIn of ['PT5M', 'PT2M', 'P1D', 'P27D', 'PT671H']) {
      const refused = await failure(
        client.updateKeyRotationPolicy('too-short', {
          expiresIn,
          lifetimeActions: [{ action: 'Notify', timeBeforeExpiry: 'P30D' }],
        }),
      );
      assert.equal(refused.status, 400, expiresIn);
      assert.equal(refused.code, 'BadParameter', expiresIn);
    }
    // Nothing was stored: the key still has Key Vault's default.
    assert.equal((await client.getKeyRotationPolicy('too-short')).id, undefined);
  });

  it('adds Key Vault’s Notify action to a policy without one, and an empty list restores the default', async () => {
    await client.createEcKey('rotate-only');
    const policy = await client.updateKeyRotationPolicy('rotate-only', {
      expiresIn: 'P90D',
      lifetimeActions: [{ action: 'Rotate', timeBeforeExpiry: 'P30D' }],
    });
    assert.deepEqual(policy.lifetimeActions, [
      { action: 'Rotate', timeAfterCreate: undefined, timeBeforeExpiry: 'P30D' },
      { action: 'Notify', timeAfterCreate: undefined, timeBeforeExpiry: 'P30D' },
    ]);
    const reset = await client.updateKeyRotationPolicy('rotate-only', { lifetimeActions: [] });
    assert.deepEqual(reset.lifetimeActions, [
      { action: 'Notify', timeAfterCreate: undefined, timeBeforeExpiry: 'P30D' },
    ]);
    assert.equal(reset.expiresIn, undefined);
  });

  it('keeps a Rotate action 7 days from creation and from expiry', async () => {
    await client.createEcKey('rotate-rules');
    const refusals: KeyRotationPolicyProperties[] = [
      { lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P6D' }] },
      { expiresIn: 'P30D', lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P24D' }] },
      { expiresIn: 'P90D', lifetimeActions: [{ action: 'Rotate', timeBeforeExpiry: 'P6D' }] },
      { expiresIn: 'P30D', lifetimeActions: [{ action: 'Rotate', timeBeforeExpiry: 'P24D' }] },
      // Rotating before expiry needs an expiry.
      { lifetimeActions: [{ action: 'Rotate', timeBeforeExpiry: 'P30D' }] },
    ];
    for (const policy of refusals) {
      const refused = await failure(client.updateKeyRotationPolicy('rotate-rules', policy));
      assert.equal(refused.status, 400, JSON.stringify(policy));
      assert.equal(refused.code, 'BadParameter');
    }
    const accepted = await client.updateKeyRotationPolicy('rotate-rules', {
      expiresIn: 'P30D',
      lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P23D' }],
    });
    assert.equal(accepted.lifetimeActions?.[0]?.timeAfterCreate, 'P23D');
  });

  for (const { kind, hsm } of [
    { kind: 'software', hsm: false },
    { kind: 'HSM', hsm: true },
  ]) {
    it(`creates ${kind} RSA and EC keys with a policy; a rotation copies type, size, operations and tags and takes its expiry from the policy`, async () => {
      const tags = { tenant: 'contoso', purpose: 'writeback' };
      const rsa = await client.createRsaKey(`rolled-rsa-${kind}`, {
        keySize: 3072,
        hsm,
        keyOps: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
        tags,
      });
      const ec = await client.createEcKey(`rolled-ec-${kind}`, {
        curve: 'P-384',
        hsm,
        keyOps: ['sign', 'verify'],
        tags,
      });
      assert.equal(rsa.keyType, hsm ? 'RSA-HSM' : 'RSA');
      assert.equal(ec.keyType, hsm ? 'EC-HSM' : 'EC');
      assert.equal(rsa.properties.expiresOn, undefined, 'a created version takes no expiry from a policy');

      for (const [original, expiresIn, days] of [
        [rsa, 'P370D', 370],
        [ec, 'P1Y', 365],
      ] as const) {
        await client.updateKeyRotationPolicy(original.name, {
          expiresIn,
          lifetimeActions: [{ action: 'Notify', timeBeforeExpiry: 'P30D' }],
        });
        const before = Date.now();
        const rotated = await client.rotateKey(original.name);
        assert.notEqual(rotated.properties.version, original.properties.version);
        assert.equal(rotated.keyType, original.keyType);
        assert.deepEqual(rotated.keyOperations, original.keyOperations);
        assert.deepEqual(rotated.properties.tags, tags);
        assert.equal(rotated.properties.enabled, true);
        near(rotated.properties.expiresOn, before + days * DAY_MS, `${original.name} expiry`);
        if (original.keyType?.startsWith('RSA')) {
          assert.equal(rotated.key?.n?.length, 384, 'same modulus size');
          assert.notDeepEqual(Buffer.from(rotated.key!.n!), Buffer.from(original.key!.n!));
        } else {
          assert.equal(rotated.key?.crv, 'P-384', 'same curve');
        }
        // The new version is the current one; the old one is still there, enabled and without expiry.
        assert.equal((await client.getKey(original.name)).id, rotated.id);
        const old = await client.getKey(original.name, { version: original.properties.version! });
        assert.equal(old.properties.enabled, true);
        assert.equal(old.properties.expiresOn, undefined);
      }
    });
  }

  it('rotates without a policy into a version without expiry', async () => {
    const key = await client.createEcKey('no-policy', { hsm: true });
    const rotated = await client.rotateKey('no-policy');
    assert.equal(rotated.keyType, 'EC-HSM');
    assert.equal(rotated.properties.expiresOn, undefined);
    assert.notEqual(rotated.id, key.id);
  });
});
