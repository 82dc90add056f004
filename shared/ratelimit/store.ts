/**
 * The counter rows of the rate limits. They live in the table and partition of what they limit (the
 * tenant's partition of `operations`), so that counting an attempt and recording the operation it
 * creates are one entity-group transaction. One row per counter (per shard of a sharded counter), updated in place as
 * windows pass: a row holds its window's count and the previous window's, so windows do not pile up
 * as rows. Columns: scope, windowMs, windowStart, windowEnd, count, previousCount, expiresAt.
 *
 * Rows are small (about 200 bytes). A counter that is no longer used keeps its row; once `expiresAt`
 * (the end of the window after the row's window) has passed the row counts nothing and a later cleanup
 * may delete it (`expiresAt lt <now>`); nothing here depends on that happening.
 */
import { odata, RestError, type TableClient, type TransactionAction } from '@azure/data-tables';
import type { RateLimitScope } from './keys.js';
import type { CounterState } from './window.js';

export interface CounterEntity {
  partitionKey: string;
  rowKey: string;
  scope: RateLimitScope;
  windowMs: number;
  windowStart: Date;
  windowEnd: Date;
  count: number;
  previousCount: number;
  expiresAt: Date;
}

export interface StoredCounter {
  rowKey: string;
  etag: string;
  state: CounterState;
}

/** A counter row to write: created when it did not exist, else replaced if unchanged since read. */
export interface CounterWrite {
  entity: CounterEntity;
  /** The ETag read; absent: the row did not exist. */
  etag: string | undefined;
}

/** Another request changed (or created) one of the rows since it was read: read again and retry. */
export const CONFLICT = Symbol('conflict');

function statusOf(error: unknown): number | undefined {
  return error instanceof RestError ? error.statusCode : undefined;
}

export function counterEntity(
  partitionKey: string,
  rowKey: string,
  scope: RateLimitScope,
  windowMs: number,
  windowStart: number,
  count: number,
  previousCount: number,
): CounterEntity {
  return {
    partitionKey,
    rowKey,
    scope,
    windowMs,
    windowStart: new Date(windowStart),
    windowEnd: new Date(windowStart + windowMs),
    count,
    previousCount,
    expiresAt: new Date(windowStart + 2 * windowMs),
  };
}

/**
 * Every row of `partitionKey` whose RowKey lies in one of `ranges` ([from, to)): one query, one
 * partition. (A filter may hold at most 15 comparisons: 1 + 2 per range.)
 */
export async function readCounters(
  table: TableClient,
  partitionKey: string,
  ranges: ReadonlyArray<readonly [string, string]>,
): Promise<StoredCounter[]> {
  const rowKeys = ranges.map(([from, to]) => odata`(RowKey ge ${from} and RowKey lt ${to})`).join(' or ');
  const filter = `${odata`PartitionKey eq ${partitionKey}`} and (${rowKeys})`;
  const counters: StoredCounter[] = [];
  for await (const row of table.listEntities<CounterEntity>({ queryOptions: { filter } })) {
    counters.push({
      rowKey: row.rowKey,
      etag: row.etag,
      state: {
        windowMs: Number(row.windowMs),
        windowStart: new Date(row.windowStart).getTime(),
        count: Number(row.count),
        previousCount: Number(row.previousCount),
      },
    });
  }
  return counters;
}

/**
 * Writes `writes` and `alsoWrite` (all in one partition) in one entity-group transaction: every row
 * is written, or none is. Answers CONFLICT when a counter changed since it was read (412) or was
 * created meanwhile (409); the caller's own rows are new rows that cannot conflict.
 */
export async function writeCounters(
  table: TableClient,
  writes: readonly CounterWrite[],
  alsoWrite: readonly TransactionAction[] = [],
): Promise<void | typeof CONFLICT> {
  const actions = writes.map(({ entity, etag }): TransactionAction =>
    etag === undefined ? ['create', { ...entity }] : ['update', { ...entity }, 'Replace', { etag }],
  );
  actions.push(...alsoWrite);
  try {
    await table.submitTransaction(actions);
  } catch (error) {
    const status = statusOf(error);
    if (status === 412 || status === 409) return CONFLICT;
    throw error;
  }
}
