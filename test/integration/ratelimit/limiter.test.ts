/**
 * The rate limiter against a real Azurite through the official SDK: limits, refusals and their
 * Retry-After, two instances sharing one table, a concurrent burst, awkward keys, window rollover
 * with an injected clock, and Table storage going away.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { TableClient } from '@azure/data-tables';
import { startAzurite, type Azurite } from '../../../local/azurite/index.js';
import { ProblemError } from '../../../shared/errors/index.js';
import { problemResponse } from '../../../shared/http/problem.js';
import { RateLimiter, type RateLimit, type RateLimitCheck } from '../../../shared/ratelimit/index.js';
import { rowKeyPrefix } from '../../../shared/ratelimit/keys.js';
import { shardCaps } from '../../../shared/ratelimit/window.js';

const MINUTE = 60_000;
/** A window boundary of a 1-minute window (and of a 15-minute one). */
const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

let azurite: Azurite;

/** A fresh table per test keeps tests apart; `fresh` names it. */
function tableClient(name: string, connectionString = azurite.connectionString): TableClient {
  return TableClient.fromConnectionString(connectionString, name, { allowInsecureConnection: true });
}

function freshName(): string {
  return `rl${randomUUID().replaceAll('-', '')}`;
}

/** A clock the test moves. */
function clock(start: number) {
  let now = start;
  return {
    now: () => new Date(now),
    set: (ms: number) => {
      now = ms;
    },
  };
}

const limit = (count: number, windowMs = MINUTE): RateLimit => ({ count, windowMs });
const user = (key: string, count: number, windowMs = MINUTE): RateLimitCheck => ({
  scope: 'user',
  tenantId: 'contoso',
  key,
  limit: limit(count, windowMs),
});

/** The RateLimited problem `work` throws (fails the test if it throws anything else or nothing). */
async function refusal(work: Promise<unknown>): Promise<ProblemError> {
  try {
    await work;
  } catch (error) {
    assert.ok(error instanceof ProblemError, `expected a ProblemError, got ${String(error)}`);
    assert.equal(error.code, 'RateLimited', error.detail);
    return error;
  }
  assert.fail('expected the attempt to be refused');
}

/** Counts attempts until the first refusal (at most `max`). */
async function admittedUntilRefused(limiter: RateLimiter, checks: RateLimitCheck[], max = 50) {
  for (let n = 0; n < max; n++) {
    try {
      await limiter.consume(checks);
    } catch (error) {
      assert.ok(error instanceof ProblemError && error.code === 'RateLimited', String(error));
      return n;
    }
  }
  return max;
}

async function rowsOf(table: TableClient, partitionKey: string) {
  const rows: Array<{ rowKey: string; count: number; previousCount: number; windowEnd: Date }> = [];
  for await (const row of table.listEntities<{ count: number; previousCount: number; windowEnd: Date }>({
    queryOptions: { filter: `PartitionKey eq '${partitionKey}'` },
  })) {
    rows.push({ ...row, rowKey: row.rowKey ?? '' });
  }
  return rows;
}

before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite?.stop();
});

describe('limits', () => {
  test('the limit is reached, then 429 with a Retry-After and a detail that says which limit', async () => {
    const table = tableClient(freshName());
    const time = clock(T0 + 1_000);
    const limiter = new RateLimiter({ table, now: time.now });
    const checks = [user('upn:alice@contoso.test', 3, 15 * MINUTE)];
    for (let i = 0; i < 3; i++) await limiter.consume(checks);

    const refused = await refusal(limiter.consume(checks));
    assert.equal(refused.status, 429);
    // 3 in this window, none before: the next window, a third of the way in (3·(1 − f) + 1 ≤ 3).
    assert.equal(refused.extras.retryAfterSeconds, 15 * 60 - 1 + 5 * 60);
    assert.match(refused.detail, /password operations for this user/);
    assert.match(refused.detail, /at most 3 per 15 minutes/);
    assert.match(refused.detail, /Try again in 19 minutes 59 seconds/);
    const response = problemResponse(refused);
    assert.equal(response.status, 429);
    assert.equal((response.headers as Record<string, string>)['retry-after'], String(19 * 60 + 59));

    // Refused attempts are not counted: the row still says 3.
    await refusal(limiter.consume(checks));
    const rows = await rowsOf(table, 'contoso');
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.count, 3);
    assert.equal(rows[0]?.rowKey.startsWith(rowKeyPrefix('user', 'upn:alice@contoso.test')), true);
    assert.deepEqual(rows[0]?.windowEnd, new Date(T0 + 15 * MINUTE));
  });

  test('the checks of one attempt count together or not at all; the binding limit is named', async () => {
    const table = tableClient(freshName());
    const time = clock(T0 + 1_000);
    const limiter = new RateLimiter({ table, now: time.now });
    const bob = 'upn:bob@contoso.test';
    const checks: RateLimitCheck[] = [
      user(bob, 10),
      { scope: 'change', tenantId: 'contoso', key: bob, limit: limit(2) },
      { scope: 'tenant', tenantId: 'contoso', key: 'contoso', limit: limit(100) },
    ];
    assert.equal(await admittedUntilRefused(limiter, checks), 2);
    const refused = await refusal(limiter.consume(checks));
    assert.match(refused.detail, /password change attempts for this user: at most 2 per 1 minute/);

    // The refused change counted nowhere: bob's user counter and the tenant still say 2.
    assert.equal(await admittedUntilRefused(limiter, [user(bob, 10)]), 8);
    const tenantRows = (await rowsOf(table, 'contoso')).filter((r) => r.rowKey.startsWith('limit-tenant-'));
    assert.equal(
      tenantRows.reduce((sum, r) => sum + r.count, 0),
      2,
    );
  });

  test('a tenant at its limit is refused for every user, naming the tenant limit', async () => {
    const limiter = new RateLimiter({ table: tableClient(freshName()), now: clock(T0 + 1_000).now });
    const attempt = (n: number): RateLimitCheck[] => [
      user(`upn:user${n}@fabrikam.test`, 10),
      { scope: 'tenant', tenantId: 'contoso', key: 'contoso', limit: limit(4) },
    ];
    for (let n = 0; n < 4; n++) await limiter.consume(attempt(n));
    const refused = await refusal(limiter.consume(attempt(4)));
    assert.match(refused.detail, /password operations in this tenant: at most 4 per 1 minute/);
  });

  test('two instances sharing the table enforce one limit together', async () => {
    const name = freshName();
    const time = clock(T0 + 5_000);
    const hostA = new RateLimiter({ table: tableClient(name), now: time.now });
    const hostB = new RateLimiter({ table: tableClient(name), now: time.now });
    const checks = [user('sid:S-1-5-21-1-2-3-1104', 4)];
    for (const host of [hostA, hostB, hostA, hostB]) await host.consume(checks);
    await refusal(hostA.consume(checks));
    await refusal(hostB.consume(checks));
    // And a third instance started later sees the same state.
    await refusal(new RateLimiter({ table: tableClient(name), now: time.now }).consume(checks));
  });
  test('an instance remembers its refusals until their Retry-After and reads nothing meanwhile', async () => {
    const name = freshName();
    const time = clock(T0 + 1_000);
    const table = tableClient(name);
    const hostA = new RateLimiter({ table, now: time.now });
    const checks = [user('upn:heidi@contoso.test', 2)];
    assert.equal(await admittedUntilRefused(hostA, checks), 2);
    // Take the counter away behind the limiter's back: only a table read would notice.
    for (const row of await rowsOf(table, 'contoso')) await table.deleteEntity('contoso', row.rowKey);

    time.set(T0 + 31_000);
    const remembered = await refusal(hostA.consume(checks));
    assert.equal(remembered.extras.retryAfterSeconds, 59 + 30 - 30);
    assert.match(remembered.detail, /at most 2 per 1 minute/);
    // Another instance reads the (now empty) table.
    await new RateLimiter({ table: tableClient(name), now: time.now }).consume(checks);
    // Past the Retry-After, host A reads again and finds one attempt counted.
    time.set(T0 + 90_000);
    assert.equal(await admittedUntilRefused(hostA, checks), 1);
  });
});

describe('bursts', () => {
  test('50 concurrent attempts on two instances against a tenant limit of 20 admit exactly 20', async () => {
    const name = freshName();
    const time = clock(T0 + 30_000);
    const hosts = [
      new RateLimiter({ table: tableClient(name), now: time.now }),
      new RateLimiter({ table: tableClient(name), now: time.now }),
    ];
    const tenantLimit = limit(20);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        hosts[i % 2]!.consume([
          user(`upn:user${i}@contoso.test`, 10),
          { scope: 'tenant', tenantId: 'contoso', key: 'contoso', limit: tenantLimit },
        ]),
      ),
    );
    const admitted = outcomes.filter((o) => o.status === 'fulfilled').length;
    for (const o of outcomes) {
      if (o.status === 'rejected') {
        assert.ok(o.reason instanceof ProblemError, String(o.reason));
        assert.equal(o.reason.code, 'RateLimited', o.reason.detail);
        assert.ok((o.reason.extras.retryAfterSeconds ?? 0) > 0);
      }
    }
    // The bound: never more than the limit in a window, whatever the concurrency.
    assert.ok(admitted <= 20, `admitted ${admitted}`);
    // And the burst does not melt: the retries after conflicts fill the limit.
    assert.equal(admitted, 20);

    const rows = await rowsOf(tableClient(name), 'contoso');
    const tenantPrefix = rowKeyPrefix('tenant', 'contoso');
    const shards = rows.filter((r) => r.rowKey.startsWith(tenantPrefix));
    const caps = shardCaps(20, 16);
    assert.equal(
      shards.reduce((sum, r) => sum + r.count, 0),
      20,
    );
    for (const shard of shards) {
      const index = Number(shard.rowKey.slice(tenantPrefix.length));
      assert.ok(shard.count <= (caps[index] ?? 0), `${shard.rowKey}: ${shard.count}`);
    }
    // Exactly the admitted users were counted, each once (the transaction counts all checks or none).
    const userRows = rows.filter((r) => r.rowKey.startsWith('limit-user-'));
    assert.equal(userRows.length, 20);
    assert.ok(userRows.every((r) => r.count === 1));
    // Once full, the next attempt is refused.
    await refusal(
      hosts[0]!.consume([{ scope: 'tenant', tenantId: 'contoso', key: 'contoso', limit: tenantLimit }]),
    );
  });

  test('30 concurrent attempts on one user against a limit of 10 admit exactly 10', async () => {
    const name = freshName();
    const time = clock(T0 + 30_000);
    const limiter = new RateLimiter({ table: tableClient(name), now: time.now });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 30 }, () => limiter.consume([user('upn:carol@contoso.test', 10)])),
    );
    const admitted = outcomes.filter((o) => o.status === 'fulfilled').length;
    assert.ok(admitted <= 10, `admitted ${admitted}`);
    assert.equal(admitted, 10);
    const rows = await rowsOf(tableClient(name), 'contoso');
    assert.deepEqual(
      rows.map((r) => r.count),
      [10],
    );
  });
});

describe('keys', () => {
  test('keys with / # ? \\, control characters and Unicode are counted, each on its own', async () => {
    const table = tableClient(freshName());
    const limiter = new RateLimiter({ table, now: clock(T0 + 1_000).now });
    const keys = [
      'upn:a/b#c?d\\e@contoso.test',
      'upn:tab\there@contoso.test',
      'upn:名前@例え.jp',
      'upn:zoë@contoso.test',
      'sid:S-1-5-21-0-0-0-500',
    ];
    for (const key of keys) assert.equal(await admittedUntilRefused(limiter, [user(key, 2)]), 2, key);
    assert.equal((await rowsOf(table, 'contoso')).length, keys.length);
  });

  test('a UPN counts case-insensitively', async () => {
    const limiter = new RateLimiter({ table: tableClient(freshName()), now: clock(T0 + 1_000).now });
    await limiter.consume([user('upn:Alice@Contoso.test', 3)]);
    await limiter.consume([user('upn:alice@contoso.TEST', 3)]);
    await limiter.consume([user('UPN:ALICE@CONTOSO.TEST', 3)]);
    await refusal(limiter.consume([user('upn:alice@contoso.test', 3)]));
  });

  test("tenants are counted apart and each tenant's rows are in its own partition", async () => {
    const table = tableClient(freshName());
    const limiter = new RateLimiter({ table, now: clock(T0 + 1_000).now });
    const check = (tenantId: string): RateLimitCheck => ({ ...user('upn:a@x.test', 1), tenantId });
    await limiter.consume([check('contoso')]);
    await limiter.consume([check('fabrikam')]);
    await refusal(limiter.consume([check('contoso')]));
    assert.equal((await rowsOf(table, 'contoso')).length, 1);
    assert.equal((await rowsOf(table, 'fabrikam')).length, 1);
  });
});

describe('windows', () => {
  test('rollover: the previous window weighs in, then is forgotten', async () => {
    const name = freshName();
    const time = clock(T0 + 1_000);
    // A fresh instance per step, so that each step reads the table (no remembered refusal).
    const host = () => new RateLimiter({ table: tableClient(name), now: time.now });
    const checks = [user('upn:dave@contoso.test', 2)];
    assert.equal(await admittedUntilRefused(host(), checks), 2);
    // 2 in this window: back half-way into the next (2·(1 − f) + 1 ≤ 2).
    const refused = await refusal(host().consume(checks));
    assert.equal(refused.extras.retryAfterSeconds, 59 + 30);

    // Just into the next window the previous one still weighs almost fully.
    time.set(T0 + MINUTE + 1_000);
    assert.equal((await refusal(host().consume(checks))).extras.retryAfterSeconds, 29);
    // Half-way: one more fits (2·0.5 + 0 + 1 ≤ 2), then no more (2·0.5 + 1 + 1 > 2).
    time.set(T0 + MINUTE + 30_000);
    assert.equal(await admittedUntilRefused(host(), checks), 1);
    // Two windows on, nothing of the first is left: 1·(1 − 0) + 1 ≤ 2 admits one, and a third
    // window on, two again.
    time.set(T0 + 2 * MINUTE);
    assert.equal(await admittedUntilRefused(host(), checks), 1);
    time.set(T0 + 4 * MINUTE);
    assert.equal(await admittedUntilRefused(host(), checks), 2);
  });

  test('a row written by a host whose clock runs ahead is not moved back', async () => {
    const name = freshName();
    const ahead = new RateLimiter({ table: tableClient(name), now: clock(T0 + MINUTE + 100).now });
    const behind = new RateLimiter({ table: tableClient(name), now: clock(T0 + MINUTE - 100).now });
    const checks = [user('upn:erin@contoso.test', 2)];
    await ahead.consume(checks);
    await behind.consume(checks);
    await refusal(ahead.consume(checks));
    await refusal(behind.consume(checks));
  });
});

describe('faults', () => {
  test('the table is created on first use', async () => {
    const name = freshName();
    const limiter = new RateLimiter({ table: tableClient(name) });
    await limiter.consume([user('upn:frank@contoso.test', 5)]);
    const rows = await rowsOf(tableClient(name), 'contoso');
    assert.equal(rows.length, 1);
  });

  test('Table storage stopped: 503 ServiceUnavailable with Retry-After, and no attempt admitted', async () => {
    const own = await startAzurite();
    try {
      const table = TableClient.fromConnectionString(own.connectionString, freshName(), {
        allowInsecureConnection: true,
        retryOptions: { maxRetries: 0 },
      });
      const limiter = new RateLimiter({ table });
      await limiter.consume([user('upn:grace@contoso.test', 5)]);
      await own.stop();
      const errors: string[] = [];
      try {
        await limiter.consume([user('upn:grace@contoso.test', 5)], {
          warn: () => undefined,
          error: (...args: unknown[]) => errors.push(args.join(' ')),
        });
        assert.fail('expected a ServiceUnavailable');
      } catch (error) {
        assert.ok(error instanceof ProblemError, String(error));
        assert.equal(error.code, 'ServiceUnavailable');
        assert.equal(error.status, 503);
        assert.equal(error.extras.retryAfterSeconds, 5);
        assert.match(error.detail, /^Table storage failed/);
      }
      assert.equal(errors.length, 1);

      // A limiter whose table was never reached fails the same way (the lazy createTable).
      const fresh = new RateLimiter({ table });
      await assert.rejects(
        fresh.consume([user('upn:grace@contoso.test', 5)]),
        (error: unknown) => error instanceof ProblemError && error.code === 'ServiceUnavailable',
      );
    } finally {
      await own.stop();
    }
  });
});
