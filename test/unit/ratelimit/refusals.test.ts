import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentRefusals } from '../../../shared/ratelimit/refusals.js';

test('a refusal is remembered until its time, then forgotten', () => {
  const refusals = new RecentRefusals();
  refusals.remember('contoso|user-a', 1_000, 0);
  assert.equal(refusals.remaining('contoso|user-a', 0), 1_000);
  assert.equal(refusals.remaining('contoso|user-a', 999), 1);
  assert.equal(refusals.remaining('contoso|user-a', 1_000), 0);
  assert.equal(refusals.remaining('contoso|user-b', 0), 0);
  refusals.remember('contoso|user-a', 5_000, 2_000);
  assert.equal(refusals.remaining('contoso|user-a', 2_000), 3_000);
});

test('the memory is bounded: expired entries go first, then the oldest', () => {
  const refusals = new RecentRefusals(3);
  refusals.remember('a', 100, 0);
  refusals.remember('b', 10_000, 0);
  refusals.remember('c', 10_000, 0);
  refusals.remember('d', 10_000, 200); // 'a' has expired and makes room
  assert.deepEqual(
    ['b', 'c', 'd'].map((k) => refusals.remaining(k, 200) > 0),
    [true, true, true],
  );
  refusals.remember('e', 10_000, 300); // nothing expired: the oldest ('b') goes
  assert.equal(refusals.remaining('b', 300), 0);
  assert.deepEqual(
    ['c', 'd', 'e'].map((k) => refusals.remaining(k, 300) > 0),
    [true, true, true],
  );
});
