/**
 * Throttling, off by default. Over Key Vault's limits the emulator answers 429 `Throttled` as Key Vault
 * does: without Retry-After, so the SDK does not retry by itself and the caller must back off. Creating
 * and rotating keys share Key Vault's creation budget: 10 HSM keys or 20 software keys per window.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KeyVaultKey } from '@azure/keyvault-keys';
import { CRYPTO_USER, failure, OFFICER, startStack, type TestStack } from './support.js';

const LIMIT = 3;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Key Vault emulator: throttling', () => {
  let stack: TestStack;
  let key: KeyVaultKey;

  before(async () => {
    // A small operations limit over a one-second window, so that the test triggers it cheaply.
    stack = await startStack({ throttle: { windowMs: 1000, limits: { operations: LIMIT } } });
    key = await stack.keyClient(stack.credential(OFFICER)).createRsaKey('busy');
  });
  after(async () => stack?.close());

  it('answers 429 Throttled without Retry-After over the limit, and the SDK does not retry it', async () => {
    await delay(1100); // the create above is in another budget; start with an empty window anyway
    const crypto = stack.cryptoClient(key.id!, stack.credential(CRYPTO_USER), { retryOptions: {} });
    let refused: Awaited<ReturnType<typeof failure>> | undefined;
    for (let i = 0; i <= LIMIT && !refused; i++) {
      refused = await crypto.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: Buffer.from(`m${i}`) }).then(
        () => undefined,
        (error: unknown) => failure(Promise.reject(error)),
      );
    }
    assert.ok(refused, `refused within ${LIMIT + 1} requests`);
    assert.equal(refused.status, 429);
    assert.equal(refused.code, 'Throttled');
    assert.match(refused.error.message, /too many requests were received/);
    assert.equal(refused.error.response?.headers.get('retry-after'), undefined, 'Key Vault sends none');
    // Refused requests do not count: once the window has passed, the whole limit is available again.
    await delay(1100);
    for (let i = 0; i < LIMIT; i++)
      await crypto.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: Buffer.from('x') });
    assert.equal(
      (await failure(crypto.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: Buffer.from('y') }))).status,
      429,
    );
  });

  it('is off by default', async () => {
    const unthrottled = await startStack();
    try {
      const keys = unthrottled.keyClient(unthrottled.credential(OFFICER));
      for (let i = 0; i < 25; i++) await keys.createEcKey('calm', { hsm: true });
      assert.equal(unthrottled.emulator.throttledRequests(), 0);
    } finally {
      await unthrottled.close();
    }
  });
});

describe('Key Vault emulator: Key Vault’s creation limits, rotation included', () => {
  let stack: TestStack;

  before(async () => {
    // Key Vault's own limits; a two-second window keeps the test short.
    stack = await startStack({ throttle: { windowMs: 2000 } });
  });
  after(async () => stack?.close());

  async function emptyWindow(): Promise<void> {
    await delay(2100);
  }

  it('takes 10 HSM creations per window, creates and rotations together, then 429', async () => {
    await emptyWindow();
    const keys = stack.keyClient(stack.credential(OFFICER));
    await keys.createEcKey('hsm-rolled', { hsm: true });
    for (let i = 0; i < 9; i++) await keys.rotateKey('hsm-rolled');
    const refused = await failure(keys.rotateKey('hsm-rolled'));
    assert.equal(refused.status, 429);
    assert.equal(refused.code, 'Throttled');
    assert.equal((await failure(keys.createRsaKey('hsm-other', { hsm: true }))).status, 429);
    // Reads are operations, a budget of their own.
    assert.equal((await keys.getKey('hsm-rolled')).keyType, 'EC-HSM');
    let versions = 0;
    for await (const _version of keys.listPropertiesOfKeyVersions('hsm-rolled')) versions++;
    assert.equal(versions, 10, 'the refused rotation made no version');
  });

  it('takes 20 software creations per window, and a mix by weight (an HSM key counts twice)', async () => {
    await emptyWindow();
    const keys = stack.keyClient(stack.credential(OFFICER));
    await keys.createEcKey('soft-rolled');
    for (let i = 0; i < 19; i++) await keys.rotateKey('soft-rolled');
    assert.equal((await failure(keys.rotateKey('soft-rolled'))).status, 429);

    await emptyWindow();
    for (let i = 0; i < 5; i++) await keys.rotateKey('hsm-rolled'); // 5 HSM = 10 software
    for (let i = 0; i < 10; i++) await keys.rotateKey('soft-rolled');
    assert.equal((await failure(keys.rotateKey('soft-rolled'))).status, 429);
    assert.ok(stack.emulator.throttledRequests() >= 4);
  });

  it('adds Retry-After when asked, and the SDK’s retry policy then waits and succeeds', async () => {
    const withHeader = await startStack({ throttle: { windowMs: 2000, retryAfter: true } });
    try {
      const noRetry = withHeader.keyClient(withHeader.credential(OFFICER));
      await noRetry.createEcKey('told', { hsm: true });
      for (let i = 0; i < 9; i++) await noRetry.rotateKey('told');
      const refused = await failure(noRetry.rotateKey('told'));
      assert.equal(refused.status, 429);
      const retryAfter = Number(refused.error.response?.headers.get('retry-after'));
      assert.ok(
        Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 2,
        `Retry-After ${retryAfter}`,
      );
      const retrying = withHeader.keyClient(withHeader.credential(OFFICER), { retryOptions: {} });
      const rotated = await retrying.rotateKey('told');
      assert.equal(rotated.keyType, 'EC-HSM');
    } finally {
      await withHeader.close();
    }
  });
});
