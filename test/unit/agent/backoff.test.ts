/** Capped exponential backoff with equal jitter. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../../../agent/backoff.js';

test('doubles from the first delay up to the cap, half of it fixed and half random', () => {
  const options = { initialMs: 500, maxMs: 30_000 };
  const low = (attempt: number) => backoffDelay(attempt, { ...options, random: () => 0 });
  const high = (attempt: number) => backoffDelay(attempt, { ...options, random: () => 0.999999 });
  assert.deepEqual([0, 1, 2, 3].map(low), [250, 500, 1_000, 2_000]);
  assert.deepEqual([0, 1, 2, 3].map(high), [500, 1_000, 2_000, 4_000]);
  assert.equal(low(10), 15_000);
  assert.equal(high(10), 30_000);
  assert.equal(high(1_000), 30_000, 'no overflow for long outages');
  for (let attempt = 0; attempt < 12; attempt++) {
    const delay = backoffDelay(attempt, options);
    assert.ok(delay >= low(attempt) && delay <= high(attempt));
  }
});
