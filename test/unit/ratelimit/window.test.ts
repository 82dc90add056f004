import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assess,
  countsAt,
  shardCaps,
  windowStartOf,
  type ShardCounts,
} from '../../../shared/ratelimit/window.js';

const W = 60_000;
const T0 = 1_700_000_040_000; // a window boundary: 1700000040000 = 28333334 · 60000
const limit = { count: 10, windowMs: W };

/** Equal to within a millisecond (the math rounds up to whole milliseconds). */
function near(actual: number, expected: number): void {
  assert.ok(Math.abs(actual - expected) <= 1, `${actual} is not ${expected}`);
}

function single(current: number, previous: number, windowStart = T0): ShardCounts[] {
  return [{ windowStart, current, previous }];
}

test('windows are aligned on the epoch', () => {
  assert.equal(T0 % W, 0);
  assert.equal(windowStartOf(T0, W), T0);
  assert.equal(windowStartOf(T0 + W - 1, W), T0);
  assert.equal(windowStartOf(T0 + W, W), T0 + W);
});

test('a row is read as of the window the attempt falls in', () => {
  const row = { windowMs: W, windowStart: T0, count: 7, previousCount: 3 };
  assert.deepEqual(countsAt(row, W, T0 + 10), { windowStart: T0, current: 7, previous: 3 });
  // Next window: this window's count becomes the previous one.
  assert.deepEqual(countsAt(row, W, T0 + W + 5), { windowStart: T0 + W, current: 0, previous: 7 });
  // Two windows on: nothing counts.
  assert.deepEqual(countsAt(row, W, T0 + 2 * W), { windowStart: T0 + 2 * W, current: 0, previous: 0 });
  // Another window length (the setting changed): nothing counts.
  assert.deepEqual(countsAt(row, 2 * W, T0 + 10), { windowStart: T0, current: 0, previous: 0 });
  // A row of a later window (a clock ahead) is kept as it is, never moved back.
  assert.deepEqual(countsAt(row, W, T0 - 5), { windowStart: T0, current: 7, previous: 3 });
  assert.deepEqual(countsAt(undefined, W, T0 + 10), { windowStart: T0, current: 0, previous: 0 });
});

test('shard caps split the limit evenly and add up to it', () => {
  assert.deepEqual(shardCaps(20, 16), [2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(
    shardCaps(600, 16).reduce((a, b) => a + b),
    600,
  );
  assert.deepEqual(shardCaps(5, 1), [5]);
  assert.deepEqual(shardCaps(3, 16), [1, 1, 1]);
});

test('admitted while the estimate stays within the limit', () => {
  assert.equal(assess(limit, single(0, 0), T0).retryAfterMs, 0);
  assert.equal(assess(limit, single(9, 0), T0 + 1).retryAfterMs, 0);
  const full = assess(limit, single(10, 0), T0 + 1);
  assert.deepEqual(full.openShards, []);
  // Full with nothing before: back 1/10 into the next window.
  assert.equal(full.retryAfterMs, W - 1 + W / 10);
});

test('the previous window weighs in linearly (sliding approximation)', () => {
  // 10 in the previous window, none now: at f, 10·(1 − f) + 1 ≤ 10 ⇔ f ≥ 0.1.
  assert.equal(assess(limit, single(0, 10), T0).retryAfterMs, W / 10);
  assert.equal(assess(limit, single(0, 10), T0 + W / 10).retryAfterMs, 0);
  // 4 now and 10 before: 10·(1 − f) ≤ 5 ⇔ f ≥ 0.5.
  assert.equal(assess(limit, single(4, 10), T0 + W / 4).retryAfterMs, W / 4);
  assert.equal(assess(limit, single(4, 10), T0 + W / 2).retryAfterMs, 0);
  // 6 before, half gone: 3 + 6 + 1 = 10 fits; with 7 now it waits until 6·(1 − f) ≤ 2, f = 2/3.
  assert.equal(assess(limit, single(6, 6), T0 + W / 2).retryAfterMs, 0);
  near(assess(limit, single(7, 6), T0 + W / 2).retryAfterMs, W * (2 / 3 - 1 / 2));
});

test('a limit of one per window is back once the previous window has fully passed', () => {
  const one = { count: 1, windowMs: W };
  assert.equal(assess(one, single(1, 0), T0 + 1_000).retryAfterMs, W - 1_000 + W);
  assert.equal(assess(one, single(0, 1), T0 + W - 1).retryAfterMs, 1);
});

test('sharded: the estimate sums the shards; an attempt needs a shard with room', () => {
  const tenant = { count: 5, windowMs: W };
  // caps 2, 2, 1
  const shards: ShardCounts[] = [
    { windowStart: T0, current: 2, previous: 0 },
    { windowStart: T0, current: 1, previous: 0 },
    { windowStart: T0, current: 1, previous: 0 },
  ];
  assert.deepEqual(assess(tenant, shards, T0 + 1), { openShards: [1], retryAfterMs: 0 });
  shards[1] = { windowStart: T0, current: 2, previous: 0 };
  const full = assess(tenant, shards, T0 + 1);
  assert.deepEqual(full.openShards, []);
  assert.ok(full.retryAfterMs > W - 1, String(full.retryAfterMs));
  // Previous counts of every shard weigh in: 6·(1 − 0.5) + 1 + 1 = 5 fits, 6·(1 − 0.25) does not.
  const before: ShardCounts[] = [
    { windowStart: T0, current: 1, previous: 2 },
    { windowStart: T0, current: 0, previous: 2 },
    { windowStart: T0, current: 0, previous: 2 },
  ];
  assert.equal(assess({ count: 6, windowMs: W }, before, T0 + W / 2).retryAfterMs, 0);
  assert.ok(assess({ count: 6, windowMs: W }, before, T0 + W / 4).retryAfterMs > 0);
});
