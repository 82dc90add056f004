/**
 * The vault's requests counted by caller, operation and status, for the benchmarks (`GET /.emulator/stats`).
 * The caller is the principal (the token's `oid`), as Key Vault's RBAC knows it; a request without a
 * valid token (the SDK's first, challenged call) is `anonymous`. The operation is the crypto operation (`unwrapKey`,
 * `sign`, …) or the route (`getKey`, `createKey`, …). Counters only grow: callers subtract snapshots.
 */

export interface RequestStatsSnapshot {
  startedAt: string;
  /** caller → operation → HTTP status → requests. */
  byCaller: Record<string, Record<string, Record<string, number>>>;
}

export const ANONYMOUS_CALLER = 'anonymous';

export class RequestStats {
  private readonly startedAt = new Date().toISOString();
  private readonly byCaller: RequestStatsSnapshot['byCaller'] = {};

  count(caller: string, operation: string, status: number): void {
    const operations = (this.byCaller[caller] ??= {});
    const statuses = (operations[operation] ??= {});
    statuses[status] = (statuses[status] ?? 0) + 1;
  }

  snapshot(): RequestStatsSnapshot {
    return { startedAt: this.startedAt, byCaller: structuredClone(this.byCaller) };
  }
}
