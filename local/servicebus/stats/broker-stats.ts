/**
 * What the broker did, counted by who asked and by queue, for the benchmarks (`GET /.emulator/stats` on
 * the management API). "Who" is the shared access rule that authorized the operation: the key name the
 * connection's token named (the app uses the namespace's RootManageSharedAccessKey, an agent its queues'
 * rules), so that the cloud's calls and an agent's can be told apart on the wire.
 *
 * Counters are plain names (`sends`, `deliveryBytes`, `settle:complete`, `management:com.microsoft:renew-lock`,
 * …), only ever incremented: a caller takes two snapshots and subtracts.
 */

export interface BrokerStatsSnapshot {
  startedAt: string;
  /** Key name (or `unauthorized`) → counter → value. */
  byIdentity: Record<string, Record<string, number>>;
  /** Queue name (lower case) → counter → value. */
  byQueue: Record<string, Record<string, number>>;
}

/** The identity of an operation no valid token covered (it was refused). */
export const UNAUTHORIZED = 'unauthorized';

export class BrokerStats {
  private readonly startedAt = new Date().toISOString();
  private readonly byIdentity = new Map<string, Map<string, number>>();
  private readonly byQueue = new Map<string, Map<string, number>>();

  /** Adds `amount` to `counter` of `identity` and of `queue` (either may be left out). */
  count(identity: string | undefined, queue: string | undefined, counter: string, amount = 1): void {
    if (identity !== undefined) add(this.byIdentity, identity, counter, amount);
    if (queue !== undefined) add(this.byQueue, queue.toLowerCase(), counter, amount);
  }

  snapshot(): BrokerStatsSnapshot {
    return { startedAt: this.startedAt, byIdentity: plain(this.byIdentity), byQueue: plain(this.byQueue) };
  }
}

function add(map: Map<string, Map<string, number>>, key: string, counter: string, amount: number): void {
  let counters = map.get(key);
  if (!counters) map.set(key, (counters = new Map()));
  counters.set(counter, (counters.get(counter) ?? 0) + amount);
}

function plain(map: Map<string, Map<string, number>>): Record<string, Record<string, number>> {
  return Object.fromEntries([...map].map(([key, counters]) => [key, Object.fromEntries(counters)]));
}
