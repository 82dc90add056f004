/** The sliding window of the Key Vault emulator's throttling, with explicit clock values. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ThrottleLimiter } from '../../../local/keyvault/throttle/limiter.js';

describe('Key Vault emulator: throttle window', () => {
  it('admits up to the limit per window, then asks to retry once the window frees a place', () => {
    const limiter = new ThrottleLimiter({ windowMs: 10_000, limits: { operations: 3 } });
    assert.equal(limiter.admit('operations', 0), undefined);
    assert.equal(limiter.admit('operations', 1000), undefined);
    assert.equal(limiter.admit('operations', 2000), undefined);
    assert.equal(
      limiter.admit('operations', 2500),
      9,
      'the refused request counts too: a place is free once the requests at 0 and 1000 ms have left, at 11 s',
    );
    assert.equal(limiter.refused(), 1);
    // Refused requests count as well (as Key Vault's do), so the wait reflects them.
    assert.equal(limiter.admit('operations', 10_000), 2);
    assert.equal(limiter.admit('operations', 13_000), undefined);
  });

  it('keeps categories apart and has Key Vault’s default limits', () => {
    const limiter = new ThrottleLimiter({ limits: { creates: 1 } });
    assert.equal(limiter.admit('creates', 0), undefined);
    assert.equal(limiter.admit('creates', 1), 10);
    for (let i = 0; i < 4000; i++) assert.equal(limiter.admit('operations', i), undefined);
    assert.equal(limiter.admit('operations', 5000), 6);
    for (let i = 0; i < 2000; i++) assert.equal(limiter.admit('hsmOperations', i), undefined);
    assert.ok(limiter.admit('hsmOperations', 2000));
  });

  it('refuses limits that are not positive integers', () => {
    assert.throws(() => new ThrottleLimiter({ limits: { operations: 0 } }), RangeError);
    assert.throws(() => new ThrottleLimiter({ windowMs: 0 }), RangeError);
  });
});
