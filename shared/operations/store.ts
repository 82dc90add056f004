/**
 * The `operations` table (docs/state.md): one row per accepted password operation, PartitionKey =
 * tenant id, RowKey = operation id. The state machine is pending → succeeded | failed | expired, and
 * a final state is written exactly once: every transition is an ETag-conditional update of a row that
 * is still pending, so a duplicate or late result, or an expiry racing a result, changes nothing.
 *
 * The row is written before the request is sent, so a result can never arrive for an operation that
 * does not exist yet. It holds who asked, for whom, what, and the outcome; never a password.
 *
 * Two more kinds of row share the tenant's partition (operation ids are lower-case UUIDs, so the
 * prefixes never collide with them):
 * - `pending-{expiresAt}-{operationId}`: an index of the tenant's pending operations by expiry, written
 *   and deleted in the same entity-group transaction as the operation's state, so the expiry sweep
 *   reads a short key range instead of scanning every operation ever made;
 * - `idempotency-{sha256}`: an idempotency key, pointing at the operation it named first.
 */
import { createHash } from 'node:crypto';
import { odata, RestError, type TableClient, type TransactionAction } from '@azure/data-tables';
import { tableClientFromSettings } from '../azure/index.js';
import { tableCreator } from '../azure/index.js';
import type {
  OperationKind,
  OperationOutcome,
  OperationState,
  PolicyReason,
  UserIdentifier,
} from '../domain/index.js';
import type { Environment } from '../config/index.js';

export const OPERATIONS_TABLE = 'operations';

export type { OperationState } from '../domain/index.js';

/**
 * How a failed operation failed: the agent's outcome, or `ServiceUnavailable` when the cloud could
 * not send the request at all.
 */
export type FailureCode = Exclude<OperationOutcome, 'succeeded'> | 'ServiceUnavailable';

/** Who asked: the token's object id and upn; `admin` for the users/{upn} routes. */
export interface Requester {
  objectId: string;
  upn?: string;
  route: 'self' | 'admin';
}

export interface OperationRecord {
  tenantId: string;
  operationId: string;
  kind: OperationKind;
  user: UserIdentifier;
  requester: Requester;
  /** Reset flags, for the audit trail. */
  forceChangeAtNextLogon?: boolean;
  unlock?: boolean;
  /** A generated temporary password was used (admin reset without newPassword); never the password. */
  generatedPassword?: boolean;
  state: OperationState;
  /** For failed and expired operations: the problem code. */
  code?: FailureCode;
  reason?: PolicyReason;
  /** Short and non-secret (the agent's or ours). */
  detail?: string;
  createdAt: Date;
  /** The request's authenticated expiry: after it, the agent refuses the request. */
  expiresAt: Date;
  completedAt?: Date;
  /** The version of `writeback-{t}-enc` that sealed the request. */
  keyVersion: string;
  /** Trace context of the HTTP request, so the result can be correlated in telemetry. */
  traceparent?: string;
}

/** A final state to record. */
export type OperationCompletion =
  | { state: 'succeeded'; completedAt: Date }
  | { state: 'failed'; code: FailureCode; reason?: PolicyReason; detail?: string; completedAt: Date }
  | { state: 'expired'; detail?: string; completedAt: Date };

/**
 * `recorded`: this call wrote the final state; `final`: the operation had already ended (the row is
 * unchanged and returned as it is); `unknown`: no such operation in this tenant.
 */
export type CompletionWrite =
  | { outcome: 'recorded'; record: OperationRecord }
  | { outcome: 'final'; record: OperationRecord }
  | { outcome: 'unknown' };

type OperationEntity = {
  partitionKey: string;
  rowKey: string;
  kind: OperationKind;
  userKind: UserIdentifier['kind'];
  user: string;
  requesterObjectId: string;
  requesterUpn?: string;
  requesterRoute: Requester['route'];
  forceChangeAtNextLogon?: boolean;
  unlock?: boolean;
  generatedPassword?: boolean;
  state: OperationState;
  code?: string;
  reason?: string;
  detail?: string;
  createdAt: string;
  expiresAt: string;
  completedAt?: string;
  keyVersion: string;
  traceparent?: string;
};

type IdempotencyEntity = {
  partitionKey: string;
  rowKey: string;
  operationId: string;
  requesterObjectId: string;
  /** What the first request asked for (route, user, kind: no password), to refuse reuse for another request. */
  fingerprint: string;
  createdAt: string;
};

const IDEMPOTENCY_PREFIX = 'idempotency-';
const PENDING_PREFIX = 'pending-';

function pendingRowKey(record: Pick<OperationRecord, 'expiresAt' | 'operationId'>): string {
  return `${PENDING_PREFIX}${record.expiresAt.toISOString()}-${record.operationId}`;
}
const MAX_ATTEMPTS = 5;

function statusOf(error: unknown): number | undefined {
  return error instanceof RestError ? error.statusCode : undefined;
}

function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function toEntity(record: OperationRecord): OperationEntity {
  return defined({
    partitionKey: record.tenantId,
    rowKey: record.operationId,
    kind: record.kind,
    userKind: record.user.kind,
    user: record.user.value,
    requesterObjectId: record.requester.objectId,
    requesterUpn: record.requester.upn,
    requesterRoute: record.requester.route,
    forceChangeAtNextLogon: record.forceChangeAtNextLogon,
    unlock: record.unlock,
    generatedPassword: record.generatedPassword,
    state: record.state,
    code: record.code,
    reason: record.reason,
    detail: record.detail,
    createdAt: record.createdAt.toISOString(),
    expiresAt: record.expiresAt.toISOString(),
    completedAt: record.completedAt?.toISOString(),
    keyVersion: record.keyVersion,
    traceparent: record.traceparent,
  });
}

function fromEntity(entity: OperationEntity): OperationRecord {
  return defined({
    tenantId: entity.partitionKey,
    operationId: entity.rowKey,
    kind: entity.kind,
    user: { kind: entity.userKind, value: entity.user },
    requester: defined({
      objectId: entity.requesterObjectId,
      upn: entity.requesterUpn,
      route: entity.requesterRoute,
    }),
    forceChangeAtNextLogon: entity.forceChangeAtNextLogon,
    unlock: entity.unlock,
    generatedPassword: entity.generatedPassword,
    state: entity.state,
    code: entity.code as FailureCode | undefined,
    reason: entity.reason as PolicyReason | undefined,
    detail: entity.detail,
    createdAt: new Date(entity.createdAt),
    expiresAt: new Date(entity.expiresAt),
    completedAt: entity.completedAt ? new Date(entity.completedAt) : undefined,
    keyVersion: entity.keyVersion,
    traceparent: entity.traceparent,
  });
}

/** The row key of an idempotency key: hashed, since a client's key may hold characters Table keys refuse. */
function idempotencyRowKey(requesterObjectId: string, key: string): string {
  const digest = createHash('sha256').update(`${requesterObjectId}\n${key}`).digest('hex');
  return `${IDEMPOTENCY_PREFIX}${digest}`;
}

/** What an earlier request with the same idempotency key claimed. */
export interface IdempotencyClaim {
  operationId: string;
  fingerprint: string;
  createdAt: Date;
}

export class OperationStore {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ensureTable = tableCreator(table);
  }

  static fromSettings(env: Environment = process.env): OperationStore {
    return new OperationStore(tableClientFromSettings(OPERATIONS_TABLE, 'AzureWebJobsStorage', env));
  }

  /** The table, for whoever writes rows of the same partition in one transaction with an operation. */
  get client(): TableClient {
    return this.table;
  }

  /** Records a new pending operation. */
  async create(record: OperationRecord): Promise<void> {
    await this.ensureTable();
    await this.table.submitTransaction(this.creation(record));
  }

  /** The rows that record a new pending operation: its row and its expiry index row. */
  creation(record: OperationRecord): TransactionAction[] {
    return [
      ['create', toEntity(record)],
      [
        'create',
        { partitionKey: record.tenantId, rowKey: pendingRowKey(record), operationId: record.operationId },
      ],
    ];
  }

  async get(tenantId: string, operationId: string): Promise<OperationRecord | undefined> {
    return (await this.read(tenantId, operationId))?.record;
  }

  private async read(
    tenantId: string,
    operationId: string,
  ): Promise<{ record: OperationRecord; etag: string } | undefined> {
    await this.ensureTable();
    try {
      const entity = await this.table.getEntity<OperationEntity>(tenantId, operationId);
      return { record: fromEntity(entity), etag: entity.etag };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /**
   * Moves a pending operation to its final state, once: a row that has already ended is left as it
   * is, whoever ended it (a duplicate result, an expiry that came first).
   */
  async complete(
    tenantId: string,
    operationId: string,
    completion: OperationCompletion,
  ): Promise<CompletionWrite> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.read(tenantId, operationId);
      if (!current) return { outcome: 'unknown' };
      if (current.record.state !== 'pending') return { outcome: 'final', record: current.record };
      const { completedAt, ...rest } = completion;
      const record: OperationRecord = defined({
        ...current.record,
        ...rest,
        completedAt,
        code:
          completion.state === 'failed'
            ? completion.code
            : completion.state === 'expired'
              ? 'WritebackExpired'
              : undefined,
      });
      try {
        await this.table.submitTransaction([
          ['update', toEntity(record), 'Replace', { etag: current.etag }],
          ['delete', { partitionKey: tenantId, rowKey: pendingRowKey(record) }],
        ]);
        return { outcome: 'recorded', record };
      } catch (error) {
        // 412: someone else wrote the row in between; read it again and decide anew.
        if (statusOf(error) !== 412 || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  /** Ids of a tenant's pending operations whose expiry is before `before` (for the expiry sweep). */
  async pendingExpiredBefore(tenantId: string, before: Date): Promise<string[]> {
    await this.ensureTable();
    const entities = this.table.listEntities<{ operationId: string }>({
      queryOptions: {
        filter: odata`PartitionKey eq ${tenantId} and RowKey ge ${PENDING_PREFIX} and RowKey lt ${`${PENDING_PREFIX}${before.toISOString()}`}`,
        select: ['operationId'],
      },
    });
    const ids: string[] = [];
    for await (const entity of entities) ids.push(entity.operationId);
    return ids;
  }

  /**
   * Claims an idempotency key for an operation. Returns undefined when the claim is new (or the old
   * one was older than `notBefore`, and is replaced), else what the earlier request claimed.
   */
  async claimIdempotencyKey(
    tenantId: string,
    requesterObjectId: string,
    key: string,
    claim: IdempotencyClaim,
    notBefore: Date,
  ): Promise<IdempotencyClaim | undefined> {
    await this.ensureTable();
    const entity: IdempotencyEntity = {
      partitionKey: tenantId,
      rowKey: idempotencyRowKey(requesterObjectId, key),
      operationId: claim.operationId,
      requesterObjectId,
      fingerprint: claim.fingerprint,
      createdAt: claim.createdAt.toISOString(),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.table.createEntity(entity);
        return undefined;
      } catch (error) {
        if (statusOf(error) !== 409 || attempt >= MAX_ATTEMPTS) throw error;
      }
      let existing;
      try {
        existing = await this.table.getEntity<IdempotencyEntity>(entity.partitionKey, entity.rowKey);
      } catch (error) {
        if (statusOf(error) === 404) continue; // deleted in between: claim again
        throw error;
      }
      const createdAt = new Date(existing.createdAt);
      if (createdAt >= notBefore) {
        return { operationId: existing.operationId, fingerprint: existing.fingerprint, createdAt };
      }
      // An expired claim: replace it, unless another request replaced it first.
      try {
        await this.table.updateEntity(entity, 'Replace', { etag: existing.etag });
        return undefined;
      } catch (error) {
        if (statusOf(error) !== 412 || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  /** Forgets a claim whose operation was never accepted (refused before anything was sent). */
  async releaseIdempotencyKey(tenantId: string, requesterObjectId: string, key: string): Promise<void> {
    try {
      await this.table.deleteEntity(tenantId, idempotencyRowKey(requesterObjectId, key));
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
  }
}
