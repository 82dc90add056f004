/**
 * The window math, free of I/O.
 *
 * Windows are fixed and aligned on the epoch (window k covers [k·W, (k+1)·W)), so every instance agrees
 * on them without talking to the others. A counter row holds the count of its window and the count of
 * the window before, so the boundary is handled with the usual sliding-window approximation: the
 * estimate at fraction f of the current window is
 *
 *     previous · (1 − f) + current
 *
 * and an attempt is admitted while estimate + 1 ≤ limit. Right after a boundary the previous window's
 * attempts still weigh almost fully, so a key cannot spend its whole allowance at the end of one window
 * and again at the start of the next. It assumes the previous window's attempts were spread evenly; a
 * key at its limit gets its attempts back gradually, the first ones a fraction 1/limit into the window.
 *
 * A counter may be sharded (the per-tenant one, see limiter.ts): shard i may hold at most `caps[i]`
 * attempts of a window, the caps add up to the limit, and the estimate sums the shards.
 */
import type { RateLimit } from '../config/index.js';

/** What a counter row says, as stored. */
export interface CounterState {
  windowMs: number;
  /** Start of the row's window (ms since the epoch). */
  windowStart: number;
  count: number;
  previousCount: number;
}

/** One shard's counts, seen from the window the attempt falls in. */
export interface ShardCounts {
  /** Start of the window the next write of this shard must carry (ms since the epoch). */
  windowStart: number;
  current: number;
  previous: number;
}

export function windowStartOf(nowMs: number, windowMs: number): number {
  return Math.floor(nowMs / windowMs) * windowMs;
}

/**
 * A row's counts as of `nowMs`. A row of the previous window becomes the previous count; anything
 * older, or a row written under another window length (the setting changed), counts nothing. A row
 * of a later window (another instance's clock runs slightly ahead) is taken as it is: the counter never
 * moves back to an earlier window, which would forget attempts.
 */
export function countsAt(row: CounterState | undefined, windowMs: number, nowMs: number): ShardCounts {
  const start = windowStartOf(nowMs, windowMs);
  if (!row || row.windowMs !== windowMs) return { windowStart: start, current: 0, previous: 0 };
  if (row.windowStart >= start) {
    return { windowStart: row.windowStart, current: row.count, previous: row.previousCount };
  }
  if (row.windowStart === start - windowMs) return { windowStart: start, current: 0, previous: row.count };
  return { windowStart: start, current: 0, previous: 0 };
}

/**
 * How many of a window's attempts each of `shards` shards may hold: the limit split as evenly as
 * possible (the caps add up to the limit). Never more shards than attempts, so no cap is zero.
 */
export function shardCaps(limit: number, shards: number): number[] {
  const n = Math.max(1, Math.min(shards, limit));
  const base = Math.floor(limit / n);
  return Array.from({ length: n }, (_, i) => base + (i < limit % n ? 1 : 0));
}

export interface Assessment {
  /** Shards that can take one more attempt, if the attempt is admitted now. */
  openShards: number[];
  /** 0 when an attempt is admitted now; else how long until one would be, if nothing else is attempted. */
  retryAfterMs: number;
}

/**
 * Whether one more attempt fits `limit` now, given the counts of every shard (index = shard; a shard
 * without a row counts nothing), and if not, when it would.
 */
export function assess(limit: RateLimit, shards: readonly ShardCounts[], nowMs: number): Assessment {
  const W = limit.windowMs;
  const N = limit.count;
  const caps = shardCaps(N, shards.length);
  const start = windowStartOf(nowMs, W);
  const elapsed = (nowMs - start) / W;
  let previous = 0;
  let current = 0;
  const openShards: number[] = [];
  caps.forEach((cap, shard) => {
    const counts = shards[shard] ?? { windowStart: start, current: 0, previous: 0 };
    previous += counts.previous;
    current += counts.current;
    if (counts.current < cap) openShards.push(shard);
  });

  // Within this window the current counts stand still (nothing else attempted) and the previous
  // window's weight falls linearly: admitted once previous · (1 − f) ≤ N − 1 − current.
  const room = N - 1 - current;
  if (openShards.length > 0 && room >= 0) {
    const needed = previous === 0 ? 0 : 1 - room / previous;
    if (needed <= elapsed) return { openShards, retryAfterMs: 0 };
    return { openShards: [], retryAfterMs: Math.max(1, Math.ceil(start + needed * W - nowMs)) };
  }
  // Otherwise in the next window, where this window's count is the previous one and every shard is
  // empty again: admitted once current · (1 − f) ≤ N − 1.
  const needed = current === 0 ? 0 : Math.max(0, 1 - (N - 1) / current);
  return { openShards: [], retryAfterMs: Math.max(1, Math.ceil(start + W + needed * W - nowMs)) };
}
