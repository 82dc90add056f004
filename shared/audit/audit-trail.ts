/**
 * The tenant's recent audit trail (docs/state.md#the-audit-trail): accepted password operations (each
 * one's own row in `operations`) and the `audit` table's rows (admin actions, refused attempts), merged
 * newest first, for `GET /api/tenants/{t}/audit?top=N`.
 *
 * Neither table is ordered newest first: `audit` RowKeys are chronological (ascending) and operations'
 * RowKeys are random UUIDs. So both are read over a time window within the tenant's partition, and the
 * window widens (15 min, 2 h, 1 day, 7 days, 90 days) until it holds `top` entries. A busy tenant stops
 * at a short window, so few rows come back; a quiet tenant has a small partition, so the widening costs
 * little. Each step is one query per table; `select` names the columns, so no other column (a secret
 * added one day, a traceparent) can leave through this route.
 */
import { odata, RestError, type TableClient } from '@azure/data-tables';
import { callDependency, tableClientFromSettings } from '../azure/index.js';
import type { Environment } from '../config/index.js';
import type { Logger } from '../domain/index.js';
import { OPERATIONS_TABLE } from '../operations/index.js';
import { AUDIT_TABLE } from '../tenants/index.js';

/** The windows tried in turn, in minutes. The last bounds what the route can show. */
export const AUDIT_WINDOWS_MINUTES = [15, 120, 24 * 60, 7 * 24 * 60, 90 * 24 * 60] as const;

export interface AuditActor {
  objectId: string;
  upn?: string;
}

/** One entry of the trail. Never a password, key, connection string or trace id. */
export interface AuditEntry {
  /** When it was asked for (an operation) or happened (an audit row). */
  at: string;
  source: 'operation' | 'audit';
  action: string;
  outcome: string;
  actor: AuditActor;
  /** The user (`upn:…`, `sid:…`) or the tenant's writeback configuration. */
  target: string;
  route?: string;
  operationId?: string;
  completedAt?: string;
  code?: string;
  reason?: string;
  /** Reset flags: forceChangeAtNextLogon, unlock, generatedPassword. */
  flags?: string[];
  previousVersion?: string;
  newVersion?: string;
  note?: string;
}

export interface AuditTrailView {
  entries: AuditEntry[];
  /** The start of the window that was read: entries older than this are not looked at. */
  from: string;
}

const OPERATION_ACTIONS: Record<string, string> = {
  reset: 'PasswordReset',
  change: 'PasswordChange',
  unlock: 'AccountUnlock',
};

const OPERATION_COLUMNS = [
  'RowKey',
  'kind',
  'userKind',
  'user',
  'requesterObjectId',
  'requesterUpn',
  'requesterRoute',
  'forceChangeAtNextLogon',
  'unlock',
  'generatedPassword',
  'state',
  'code',
  'reason',
  'createdAt',
  'completedAt',
];

const AUDIT_COLUMNS = [
  'action',
  'actorObjectId',
  'actorUpn',
  'target',
  'outcome',
  'at',
  'operationId',
  'code',
  'reason',
  'route',
  'flags',
  'previousVersion',
  'newVersion',
  'note',
];

type Row = Record<string, unknown>;

const text = (row: Row, name: string): string | undefined =>
  typeof row[name] === 'string' && row[name] !== '' ? row[name] : undefined;

function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function fromOperation(row: Row): AuditEntry {
  const flags = ['forceChangeAtNextLogon', 'unlock', 'generatedPassword'].filter(
    (flag) => row[flag] === true,
  );
  return defined({
    at: text(row, 'createdAt') ?? '',
    source: 'operation' as const,
    action: OPERATION_ACTIONS[text(row, 'kind') ?? ''] ?? 'PasswordOperation',
    outcome: text(row, 'state') ?? 'pending',
    actor: defined({ objectId: text(row, 'requesterObjectId') ?? '', upn: text(row, 'requesterUpn') }),
    target: `${text(row, 'userKind') ?? 'upn'}:${text(row, 'user') ?? ''}`,
    route: text(row, 'requesterRoute'),
    operationId: text(row, 'rowKey') ?? text(row, 'RowKey'),
    completedAt: text(row, 'completedAt'),
    code: text(row, 'code'),
    reason: text(row, 'reason'),
    flags: flags.length > 0 ? flags : undefined,
  });
}

function fromAudit(row: Row): AuditEntry {
  return defined({
    at: text(row, 'at') ?? '',
    source: 'audit' as const,
    action: text(row, 'action') ?? '',
    outcome: text(row, 'outcome') ?? '',
    actor: defined({ objectId: text(row, 'actorObjectId') ?? '', upn: text(row, 'actorUpn') }),
    target: text(row, 'target') ?? '',
    route: text(row, 'route'),
    operationId: text(row, 'operationId'),
    code: text(row, 'code'),
    reason: text(row, 'reason'),
    flags: text(row, 'flags')?.split(','),
    previousVersion: text(row, 'previousVersion'),
    newVersion: text(row, 'newVersion'),
    note: text(row, 'note'),
  });
}

/** Newest first; ties broken by source and id so that the order is stable. */
function newestFirst(a: AuditEntry, b: AuditEntry): number {
  if (a.at !== b.at) return a.at < b.at ? 1 : -1;
  return `${a.source}${a.operationId ?? ''}` < `${b.source}${b.operationId ?? ''}` ? -1 : 1;
}

export interface AuditTrailOptions {
  operations: TableClient;
  audit: TableClient;
  now?: () => Date;
}

export class AuditTrail {
  constructor(private readonly options: AuditTrailOptions) {}

  static fromSettings(env: Environment = process.env): AuditTrail {
    return new AuditTrail({
      operations: tableClientFromSettings(OPERATIONS_TABLE, 'AzureWebJobsStorage', env),
      audit: tableClientFromSettings(AUDIT_TABLE, 'AzureWebJobsStorage', env),
    });
  }

  /** The `top` newest entries of the tenant within the widest window that was needed, newest first. */
  async recent(tenantId: string, top: number, log?: Pick<Logger, 'warn' | 'error'>): Promise<AuditTrailView> {
    const now = (this.options.now ?? (() => new Date()))();
    let entries: AuditEntry[] = [];
    let from = now;
    for (const minutes of AUDIT_WINDOWS_MINUTES) {
      from = new Date(now.getTime() - minutes * 60_000);
      const since = from.toISOString();
      const [operations, audit] = await Promise.all([
        callDependency('Table storage', () => this.operationsSince(tenantId, since), log, 'audit trail'),
        callDependency('Table storage', () => this.auditSince(tenantId, since), log, 'audit trail'),
      ]);
      entries = [...operations, ...audit];
      if (entries.length >= top) break;
    }
    return { entries: entries.sort(newestFirst).slice(0, top), from: from.toISOString() };
  }

  /**
   * Operation rows created since `since`. Operation ids are lower-case UUIDs, which sort below `g`;
   * the partition's other rows (`idempotency-…`, `limit-…`, `pending-…`) sort above it, so the key range
   * leaves them out and the service filters the operations by `createdAt`.
   */
  private operationsSince(tenantId: string, since: string): Promise<AuditEntry[]> {
    return this.read(
      this.options.operations,
      odata`PartitionKey eq ${tenantId} and RowKey lt ${'g'} and createdAt ge ${since}`,
      OPERATION_COLUMNS,
      fromOperation,
    );
  }

  /** `audit` RowKeys start with the ISO time, so this is a key range. */
  private auditSince(tenantId: string, since: string): Promise<AuditEntry[]> {
    return this.read(
      this.options.audit,
      odata`PartitionKey eq ${tenantId} and RowKey ge ${since}`,
      AUDIT_COLUMNS,
      fromAudit,
    );
  }

  private async read(
    table: TableClient,
    filter: string,
    select: string[],
    map: (row: Row) => AuditEntry,
  ): Promise<AuditEntry[]> {
    const entries: AuditEntry[] = [];
    try {
      for await (const row of table.listEntities<Row>({ queryOptions: { filter, select } })) {
        entries.push(map(row));
      }
    } catch (error) {
      // A table that was never created (no operation, no admin action yet) holds no entry.
      if (error instanceof RestError && error.statusCode === 404) return [];
      throw error;
    }
    return entries;
  }
}

let shared: AuditTrail | undefined;

/** The trail of this instance, built from the settings on first use. */
export function auditTrail(): AuditTrail {
  shared ??= AuditTrail.fromSettings();
  return shared;
}
