/**
 * The rate limiter of the password routes (docs/architecture.md), with its state in Table storage so that
 * it holds across every instance of the Functions app.
 *
 * One attempt is, in the common case, two table calls whatever the number of checks: one query
 * (`admit`) reads every counter the checks touch (they are all in the tenant's partition), one
 * entity-group transaction (`commit`, with the caller's own rows of that partition) writes them
 * (optimistic concurrency: each row is replaced only if its ETag is still the one read, or created if
 * it did not exist). A refused attempt costs the query only. When another
 * request wrote one of the rows in between (412, or 409 on a create) the transaction changes nothing
 * and the attempt is assessed again from a fresh read, after a short random pause. An instance
 * remembers the refusals it answered until their Retry-After (refusals.ts), so a flood on a counter at
 * its limit costs no table call at all on that instance.
 *
 * Refused attempts do not count. Guessing is bounded all the same, since a refused attempt never
 * reaches the agent, so AD sees at most the limit; and counting them would let anyone who floods a
 * user's key keep that user locked out of self-service for as long as the flood lasts (the per-user
 * key is the target's, not the attacker's), and a flood would extend its own ban. The password routes
 * count an attempt when its operation is recorded (`commit` with the operation's rows: one transaction),
 * so one turned away after the assessment (no agent online) does not count either.
 *
 * Hot rows. A user's counter is one row: a person makes a handful of attempts and contention there is
 * rare. A tenant's counter takes every attempt of the tenant, so a burst of hundreds of concurrent
 * requests would queue up on one row's ETag. It is therefore split into K shards (K = min(tenantShards,
 * limit), default 16); shard i may hold at most cap_i attempts of a window with Σ cap_i = limit, and an
 * attempt goes to a random shard that still has room (the estimate against the limit sums all shards,
 * read by the same query). About K writers succeed per round instead of one: against Azurite, 300
 * concurrent attempts under a limit of 600 took 1.8 round trips each with 16 shards, while 4 shards
 * left more than half of them to give up. Once the tenant is at its limit, refusals need no write. A
 * request that still meets concurrent writers after `maxAttempts` reads gets 429 with Retry-After 1:
 * it is part of a burst. Per-instance rows were the alternative: no contention in the table, but the
 * count of instances is unknown and unbounded, and so would be the overshoot of the limit.
 *
 * Guarantees, across any number of instances and any concurrency:
 * - per user and per change counter (one row): every admitted attempt saw the exact row it replaced, so
 *   the sliding estimate (window.ts) never exceeds the limit: at most `limit` attempts in any fixed
 *   window, and the long-run rate is at most `limit` per window;
 * - per tenant (sharded): each shard's ETag keeps it at its cap, so at most `limit` attempts are
 *   admitted in any fixed window, exactly (never limit + 1). The sliding smoothing across the boundary
 *   reads the other shards as of the query, so concurrent requests may see them slightly stale; that
 *   only shifts when, within a window, the limit is reached, never the limit itself;
 * - for every counter: at most 2 · limit in any span of one window length (two adjacent windows);
 * - the checks of one consume() count together or not at all (one transaction). Errors only ever
 *   count too much: if the SDK retries a transaction whose answer was lost, the retry meets a changed
 *   ETag and the attempt is counted again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { tableCreator } from '../azure/index.js';
import { ProblemError } from '../errors/index.js';
import { callDependency } from '../azure/index.js';
import {
  partitionKeyOf,
  rowKeyOf,
  rowKeyPrefix,
  rowKeyUpperBound,
  shardOf,
  type RateLimitScope,
} from './keys.js';
import { describeDuration, describeLimit, MAX_COUNT, type RateLimit } from '../config/index.js';
import { CONFLICT, counterEntity, readCounters, writeCounters, type CounterWrite } from './store.js';
import { RecentRefusals } from './refusals.js';
import { assess, countsAt, type ShardCounts } from './window.js';
import type { Logger } from '../domain/index.js';

/** One limit an attempt counts against. */
export interface RateLimitCheck {
  scope: RateLimitScope;
  tenantId: string;
  /**
   * What is counted: the target user (`sid:S-1-5-…`, `upn:alice@contoso.test`; case-insensitive) for
   * `user` and `change`, the tenant id for `tenant`. Any characters; it is hashed into the RowKey.
   */
  key: string;
  limit: RateLimit;
}

export interface RateLimiterOptions {
  table: TableClient;
  now?: () => Date;
  /** Shards of a per-tenant counter (1 to 99; default 16). User counters are never sharded. */
  tenantShards?: number;
  /** Attempts of a consume() that keeps meeting concurrent writers before it gives up (default 10). */
  maxAttempts?: number;
}

export const DEFAULT_TENANT_SHARDS = 16;
const DEFAULT_MAX_ATTEMPTS = 10;
/** A filter holds at most 15 comparisons: 1 for the partition and 2 per check. */
const MAX_CHECKS = 7;
/** Seconds to wait when a burst kept this attempt from being counted at all. */
const CONTENTION_RETRY_AFTER_SECONDS = 1;

const WHAT_IS_LIMITED: Record<RateLimitScope, string> = {
  user: 'password operations for this user',
  change: 'password change attempts for this user',
  tenant: 'password operations in this tenant',
};

/** One limit as the limiter counts it (part of a LimitAdmission). */
export interface Counter {
  check: RateLimitCheck;
  prefix: string;
  shards: number;
  /** The counter under this limit, for the memory of refusals. */
  id: string;
}

/** An attempt assessed and not refused: what counting it writes (opaque to callers). */
export interface LimitAdmission {
  readonly partitionKey: string;
  readonly counters: readonly Counter[];
  readonly writes: readonly CounterWrite[];
}

interface Refusal {
  check: RateLimitCheck;
  retryAfterMs: number;
}

function validate(checks: readonly RateLimitCheck[]): void {
  if (checks.length > MAX_CHECKS) throw new RangeError(`At most ${MAX_CHECKS} rate limit checks at once`);
  const tenants = new Set(checks.map((c) => c.tenantId));
  if (tenants.size > 1) throw new RangeError('The rate limit checks of one attempt must share a tenant');
  for (const { key, limit } of checks) {
    if (key.length === 0) throw new RangeError('A rate limit key must not be empty');
    if (!(Number.isInteger(limit.count) && limit.count >= 1 && limit.count <= MAX_COUNT)) {
      throw new RangeError('A rate limit count must be an integer from 1 to 1000000');
    }
    if (!(Number.isInteger(limit.windowMs) && limit.windowMs >= 1_000)) {
      throw new RangeError('A rate limit window must be at least 1 second');
    }
  }
}

export class RateLimiter {
  private readonly table: TableClient;
  private readonly now: () => Date;
  private readonly tenantShards: number;
  private readonly maxAttempts: number;
  private readonly refusals = new RecentRefusals();
  private readonly ensureTable: () => Promise<void>;

  constructor(options: RateLimiterOptions) {
    this.table = options.table;
    this.now = options.now ?? (() => new Date());
    this.tenantShards = Math.min(99, Math.max(1, Math.floor(options.tenantShards ?? DEFAULT_TENANT_SHARDS)));
    this.maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    // A table fault on creation is a 503 like any other table fault.
    this.ensureTable = tableCreator(this.table, () =>
      callDependency('Table storage', () => this.table.createTable()),
    );
  }

  /**
   * Counts one attempt against every check, or none if any of them is at its limit: then throws
   * 429 RateLimited with Retry-After (the longest wait of the refusing checks). All checks must be of
   * one tenant. A table fault throws 503 ServiceUnavailable.
   */
  async consume(checks: readonly RateLimitCheck[], log?: Pick<Logger, 'warn' | 'error'>): Promise<void> {
    await this.commit(await this.admit(checks, log), [], log);
  }

  /**
   * Assesses one attempt against every check (one query), without counting it: throws 429 when one is
   * at its limit, else answers what `commit` writes to count it.
   */
  async admit(
    checks: readonly RateLimitCheck[],
    log?: Pick<Logger, 'warn' | 'error'>,
  ): Promise<LimitAdmission> {
    validate(checks);
    const first = checks[0];
    if (!first) return { partitionKey: '', counters: [], writes: [] };
    const partitionKey = partitionKeyOf(first.tenantId);
    const counters: Counter[] = checks.map((check) => {
      const prefix = rowKeyPrefix(check.scope, check.key);
      const { count, windowMs } = check.limit;
      return {
        check,
        prefix,
        shards: check.scope === 'tenant' ? Math.min(this.tenantShards, count) : 1,
        id: `${partitionKey}|${prefix}|${count}/${windowMs}`,
      };
    });
    if (new Set(counters.map((c) => c.prefix)).size < counters.length) {
      throw new RangeError('The same rate limit counter is checked twice');
    }
    const remembered = this.remembered(counters);
    if (remembered) throw rateLimited(remembered);
    await this.ensureTable();
    return { partitionKey, counters, writes: await this.assess(partitionKey, counters, log) };
  }

  /**
   * Counts the admitted attempt, writing `alsoWrite` (rows of the same partition, such as the
   * operation the attempt creates) in the same entity-group transaction: both happen, or neither. When
   * another request wrote a counter since it was read, the attempt is assessed again (it may now be
   * refused) and the transaction retried, after a short random pause.
   */
  async commit(
    admission: LimitAdmission,
    alsoWrite: readonly TransactionAction[],
    log?: Pick<Logger, 'warn' | 'error'>,
  ): Promise<void> {
    const { partitionKey, counters } = admission;
    let writes = admission.writes;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (writes.length === 0 && alsoWrite.length === 0) return;
      const written = await callDependency(
        'Table storage',
        () => writeCounters(this.table, writes, alsoWrite),
        log,
      );
      if (written !== CONFLICT) return;
      // Random pause, growing with the attempts, so that the writers of a burst spread out.
      await sleep(Math.random() * Math.min(200, 10 * 2 ** attempt));
      writes = await this.assess(partitionKey, counters, log);
    }
    log?.warn(`Rate limiter: gave up after ${this.maxAttempts} attempts met concurrent writers`);
    throw new ProblemError(
      'RateLimited',
      `Too many simultaneous password operations for this user or tenant. Try again in ${describeDuration(
        CONTENTION_RETRY_AFTER_SECONDS * 1000,
      )}.`,
      { retryAfterSeconds: CONTENTION_RETRY_AFTER_SECONDS },
    );
  }

  /** Reads the counters and decides: the writes that count the attempt, or a 429. */
  private async assess(
    partitionKey: string,
    counters: readonly Counter[],
    log?: Pick<Logger, 'warn' | 'error'>,
  ): Promise<CounterWrite[]> {
    const stored = await callDependency(
      'Table storage',
      () =>
        readCounters(
          this.table,
          partitionKey,
          counters.map((c) => [c.prefix, rowKeyUpperBound(c.prefix)] as const),
        ),
      log,
    );
    const nowMs = this.now().getTime();
    const writes: CounterWrite[] = [];
    let refusal: Refusal | undefined;
    for (const { check, prefix, shards, id } of counters) {
      const rows = new Map(
        stored.flatMap((row) => {
          const shard = shardOf(prefix, row.rowKey);
          return shard === undefined || shard >= shards ? [] : [[shard, row] as const];
        }),
      );
      const counts: ShardCounts[] = Array.from({ length: shards }, (_, shard) =>
        countsAt(rows.get(shard)?.state, check.limit.windowMs, nowMs),
      );
      const verdict = assess(check.limit, counts, nowMs);
      if (verdict.retryAfterMs > 0) {
        this.refusals.remember(id, nowMs + verdict.retryAfterMs, nowMs);
        if (!refusal || verdict.retryAfterMs > refusal.retryAfterMs) {
          refusal = { check, retryAfterMs: verdict.retryAfterMs };
        }
        continue;
      }
      const shard = verdict.openShards[Math.floor(Math.random() * verdict.openShards.length)] ?? 0;
      const chosen = counts[shard] ?? countsAt(undefined, check.limit.windowMs, nowMs);
      writes.push({
        entity: counterEntity(
          partitionKey,
          rowKeyOf(prefix, shard),
          check.scope,
          check.limit.windowMs,
          chosen.windowStart,
          chosen.current + 1,
          chosen.previous,
        ),
        etag: rows.get(shard)?.etag,
      });
    }
    if (refusal) throw rateLimited(refusal);
    return writes;
  }

  /** The longest remembered refusal among `counters`, if any is still refused. */
  private remembered(counters: readonly Counter[]): Refusal | undefined {
    const nowMs = this.now().getTime();
    let longest: Refusal | undefined;
    for (const { check, id } of counters) {
      const retryAfterMs = this.refusals.remaining(id, nowMs);
      if (retryAfterMs > (longest?.retryAfterMs ?? 0)) longest = { check, retryAfterMs };
    }
    return longest;
  }
}

function rateLimited({ check, retryAfterMs }: Refusal): ProblemError {
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new ProblemError(
    'RateLimited',
    `Too many ${WHAT_IS_LIMITED[check.scope]}: at most ${describeLimit(check.limit)}. ` +
      `Try again in ${describeDuration(retryAfterSeconds * 1000)}.`,
    { retryAfterSeconds },
  );
}
