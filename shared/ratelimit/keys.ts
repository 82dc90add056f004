/**
 * Table keys of the counters. PartitionKey = tenant id, so that every row of a tenant is in one
 * partition: one query reads all the counters one request touches and one entity-group transaction
 * writes them. RowKey = `{scope}-{hash}-{shard}` where hash is the first 128 bits (hex) of the SHA-256
 * of the normalised key. The key is hashed, not escaped: user identifiers may hold `/ \ # ?`, control
 * characters or any Unicode, which Table keys cannot, and a fixed-length hash can never collide with
 * the structure of the RowKey. The hash is for shape, not secrecy (a UPN is not a secret), so a plain
 * SHA-256 without a key is enough.
 */
import { createHash } from 'node:crypto';

export type RateLimitScope = 'user' | 'change' | 'tenant';

/** Characters a Table PartitionKey or RowKey may not contain (control characters are among them). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_TABLE_KEY = /[/\\#?\u0000-\u001f\u007f-\u009f]/;

/**
 * The PartitionKey of a tenant's counters. Tenant ids come validated from the route
 * (`^[A-Za-z0-9][A-Za-z0-9-]{0,62}$`); anything a Table key cannot hold is a programming error.
 */
export function partitionKeyOf(tenantId: string): string {
  if (tenantId.length === 0 || tenantId.length > 255 || UNSAFE_TABLE_KEY.test(tenantId)) {
    throw new RangeError('Rate limiting needs a validated tenant id');
  }
  return tenantId;
}

/**
 * The key as counted: user identifiers are compared the way the directory compares them. `upn:` and
 * `sid:` keys are case-insensitive (AD matches UPNs and SID strings without case), and a UPN is put in
 * Unicode NFC so that two spellings of the same name share one counter. Other keys count verbatim.
 */
export function normaliseKey(key: string): string {
  const kind = /^(upn|sid):/i.exec(key)?.[1]?.toLowerCase();
  if (kind === 'upn') return `upn:${key.slice(4).normalize('NFC').toLowerCase()}`;
  if (kind === 'sid') return `sid:${key.slice(4).toLowerCase()}`;
  return key;
}

/**
 * The RowKey prefix shared by all shards of one counter: `limit-{scope}-{hash}-`. `limit-` keeps the
 * counters apart from the rows they share a partition with (operation ids are hex UUIDs).
 */
export function rowKeyPrefix(scope: RateLimitScope, key: string): string {
  const hash = createHash('sha256').update(normaliseKey(key), 'utf8').digest('hex').slice(0, 32);
  return `limit-${scope}-${hash}-`;
}

/**
 * The exclusive upper bound of the RowKeys starting with `prefix` (it ends in `-`; `.` sorts right
 * after it), for a range query over the shards of one counter.
 */
export function rowKeyUpperBound(prefix: string): string {
  return `${prefix.slice(0, -1)}.`;
}

export function rowKeyOf(prefix: string, shard: number): string {
  return `${prefix}${String(shard).padStart(2, '0')}`;
}

/** The shard number of a RowKey that starts with `prefix`, or undefined for anything else. */
export function shardOf(prefix: string, rowKey: string): number | undefined {
  if (!rowKey.startsWith(prefix)) return undefined;
  const text = rowKey.slice(prefix.length);
  return /^\d{2}$/.test(text) ? Number(text) : undefined;
}
