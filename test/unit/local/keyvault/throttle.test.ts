/** The sliding window of the Key Vault emulator's throttling, with explicit clock values. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ThrottleLimiter } from '../../../../local/keyvault/throttle/limiter.js';

describe('Key Vault emulator: throttle window', () => {
  it('admits up to the limit per window, then asks to retry once the window frees a place', () => {
    const limiter = new ThrottleLimiter({ windowMs: 10_000, limits: { operations: 3 } });
    assert.equal(limiter.admit('operations', 0), undefined);
    assert.equal(limiter.admit('operations', 1000), undefined);
    assert.equal(limiter.admit('operations', 2000), undefined);
    assert.equal(
      limiter.admit('operations', 2500),
      8,
      'a place is free when the request at 0 ms leaves, at 10 s',
    );
    assert.equal(limiter.refused(), 1);
    // Refused requests do not count (Key Vault's guidance): the place frees at 10 s all the same.
    assert.equal(limiter.admit('operations', 9000), 1);
    assert.equal(limiter.admit('operations', 10_000), undefined);
    assert.equal(
      limiter.admit('operations', 10_500),
      1,
      'the next place frees when the request at 1 s leaves',
    );
    assert.equal(limiter.admit('operations', 11_000), undefined);
  });

  it('has Key Vault’s limits: 20 software or 10 HSM creations, 4,000 or 2,000 operations', () => {
    const creates = new ThrottleLimiter();
    for (let i = 0; i < 20; i++) assert.equal(creates.admit('creates', i), undefined);
    assert.equal(creates.admit('creates', 20), 10);
    const hsm = new ThrottleLimiter();
    for (let i = 0; i < 10; i++) assert.equal(hsm.admit('hsmCreates', i), undefined);
    assert.ok(hsm.admit('hsmCreates', 10));
    assert.ok(hsm.admit('creates', 11), 'software and HSM creations share one budget');
    const operations = new ThrottleLimiter();
    for (let i = 0; i < 4000; i++) assert.equal(operations.admit('operations', i), undefined);
    assert.equal(operations.admit('operations', 5000), 5);
    // Creations and operations are separate budgets.
    assert.equal(operations.admit('hsmCreates', 5000), undefined);
    const hsmOperations = new ThrottleLimiter();
    for (let i = 0; i < 2000; i++) assert.equal(hsmOperations.admit('hsmOperations', i), undefined);
    assert.ok(hsmOperations.admit('hsmOperations', 2000));
  });

  it('enforces the weighted sum, as Key Vault does', () => {
    // Key Vault's example, with the limits it was written for (1,000 RSA 2048 HSM operations): 124 RSA
    // 4096 HSM operations (weight 8) and 8 RSA 2048 HSM ones fill a window.
    const limiter = new ThrottleLimiter({ limits: { hsmOperations: 1000, operations: 2000 } });
    for (let i = 0; i < 124; i++) assert.equal(limiter.admit('hsmOperations', i, 8), undefined);
    for (let i = 0; i < 8; i++) assert.equal(limiter.admit('hsmOperations', 200 + i, 1), undefined);
    assert.ok(limiter.admit('hsmOperations', 300, 1));
    assert.ok(limiter.admit('operations', 300, 1), 'software operations share the budget');
    // A mix of creations: 5 HSM and 10 software keys fill the window.
    const mixed = new ThrottleLimiter();
    for (let i = 0; i < 5; i++) assert.equal(mixed.admit('hsmCreates', i), undefined);
    for (let i = 0; i < 10; i++) assert.equal(mixed.admit('creates', 10 + i), undefined);
    assert.equal(mixed.admit('creates', 100), 10);
    assert.equal(mixed.admit('hsmCreates', 9_999), 1);
    assert.equal(
      mixed.admit('hsmCreates', 10_001),
      undefined,
      'the HSM creations at 0 and 1 ms have left by then',
    );
  });

  it('refuses limits that are not positive integers', () => {
    assert.throws(() => new ThrottleLimiter({ limits: { operations: 0 } }), RangeError);
    assert.throws(() => new ThrottleLimiter({ windowMs: 0 }), RangeError);
  });
});
