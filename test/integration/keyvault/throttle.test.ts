/**
 * Throttling, off by default: over the limit the emulator answers 429 with Retry-After, as Key Vault
 * does, and the SDK's own retry policy waits and then succeeds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KeyVaultKey } from '@azure/keyvault-keys';
import { CRYPTO_USER, failure, OFFICER, startStack, type TestStack } from './support.js';

const LIMIT = 3;

describe('Key Vault emulator: throttling', () => {
  let stack: TestStack;
  let key: KeyVaultKey;

  before(async () => {
    // A small limit over a one-second window, so that the test triggers it cheaply.
    stack = await startStack({ throttle: { windowMs: 1000, limits: { operations: LIMIT, creates: 5 } } });
    key = await stack.keyClient(stack.credential(OFFICER)).createRsaKey('busy');
  });
  after(async () => stack?.close());

  it('answers 429 Throttled with Retry-After over the limit, and the SDK’s retry then succeeds', async () => {
    // The client's reads and encrypts count; the limit-th next one is refused (the SDK may not retry here).
    const noRetry = stack.cryptoClient(key.id!, stack.credential(CRYPTO_USER));
    let refused: Awaited<ReturnType<typeof failure>> | undefined;
    for (let i = 0; i <= LIMIT && !refused; i++) {
      refused = await noRetry.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: Buffer.from(`m${i}`) }).then(
        () => undefined,
        (error: unknown) => failure(Promise.reject(error)),
      );
    }
    assert.ok(refused, `refused within ${LIMIT + 1} requests`);
    assert.equal(refused.status, 429);
    assert.equal(refused.code, 'Throttled');
    const retryAfter = Number(refused.error.response?.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After is whole seconds: ${retryAfter}`);

    const throttledBefore = stack.emulator.throttledRequests();
    // The SDK's default retry policy honours Retry-After.
    const retrying = stack.cryptoClient(key.id!, stack.credential(CRYPTO_USER), { retryOptions: {} });
    for (let i = 0; i < LIMIT + 2; i++) {
      const result = await retrying.encrypt({
        algorithm: 'RSA-OAEP-256',
        plaintext: Buffer.from(`retry ${i}`),
      });
      assert.equal(result.result.length, 256);
    }
    assert.ok(stack.emulator.throttledRequests() > throttledBefore, 'some of those were answered 429 first');
  });

  it('is off by default', async () => {
    const unthrottled = await startStack();
    try {
      const crypto = unthrottled.cryptoClient(
        (await unthrottled.keyClient(unthrottled.credential(OFFICER)).createRsaKey('calm')).id!,
        unthrottled.credential(CRYPTO_USER),
      );
      for (let i = 0; i < 50; i++)
        await crypto.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: Buffer.from('x') });
      assert.equal(unthrottled.emulator.throttledRequests(), 0);
    } finally {
      await unthrottled.close();
    }
  });
});
