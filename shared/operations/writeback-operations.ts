/**
 * The writeback pipeline (docs/architecture.md): a password operation from an authorized caller to a
 * recorded final state.
 *
 * submit: idempotency key (a repeat returns the first operation, sends nothing) → tenant enabled (409)
 * → rate limits (429) → an agent online (503) → the tenant's current `-enc` public key (cached per
 * version) → seal → record the operation as pending → send on the tenant's queue with one reused
 * sender → wait up to WRITEBACK_SYNC_WAIT for the outcome.
 *
 * The operation row is written before the message is sent, so a result never arrives for an unknown
 * operation; if the send fails, the operation ends failed at once (nothing reached the agent). Every
 * final state is written through `finish`, once (an ETag-conditional update), and whoever writes it
 * also writes the audit row, tells this instance's waiters and emits the outcome telemetry.
 */
import { RETRY_AFTER_SECONDS, withinBudget } from '../domain/index.js';
import { randomUUID } from 'node:crypto';
import { isServiceBusError } from '@azure/service-bus';
import type { KeyClient } from '@azure/keyvault-keys';
import { callDependency, keyClientFromSettings, tableClientFromSettings } from '../azure/index.js';
import { actorOf, ADMIN_ROLE, type Caller } from '../auth/index.js';
import {
  loadSettings,
  settings as loadedSettings,
  type AppSettings,
  type Environment,
} from '../config/index.js';
import { ForbiddenError, InvalidRequestError, ProblemError } from '../errors/index.js';
import { heartbeatMonitor, type HeartbeatMonitor } from '../heartbeats/index.js';
import { AuditLog, type AuditAction } from '../tenants/index.js';
import { TenantRegistry } from '../tenants/index.js';
import { writebackTenants } from '../tenants/index.js';
import type { WritebackTenants } from '../tenants/index.js';
import { sealRequest, type ResultReply, type SealedRequest, type WritebackRequest } from '../wire/index.js';
import { RateLimiter, type LimitAdmission } from '../ratelimit/index.js';
import { telemetry, type Telemetry } from '../telemetry/index.js';
import { attemptLimiter, type AttemptLimiter } from './attempt-limits.js';
import { EncryptionKeys } from './encryption-keys.js';
import { RequestSenders, SendFailure } from './request-senders.js';
import {
  OPERATIONS_TABLE,
  OperationStore,
  type CompletionWrite,
  type OperationCompletion,
  type OperationRecord,
  type Requester,
} from './store.js';
import { generateTemporaryPassword } from './temporary-password.js';
import type { OperationKind, ResetFlags, UserIdentifier, Logger } from '../domain/index.js';
import { OperationWaiter } from './waiter.js';

/** How long idempotency keys are remembered: 24 h. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60_000;
/**
 * After a request's expiry, how long a pending operation is given before it is ended as expired:
 * an agent that took the request just before its expiry still applies and answers it. The smaller
 * of this and the message TTL.
 */
const EXPIRY_GRACE_MS = 60_000;
/** After WRITEBACK_SYNC_WAIT, the time a password route has to record what it knows and answer. */
export const ANSWER_MARGIN_MS = 2_000;
/** The expiry timer's run, within its one-minute schedule. */
const EXPIRY_RUN_BUDGET_MS = 50_000;

/** What a password route asks for, after parsing and authentication. */
export interface PasswordOperationRequest {
  tenantId: string;
  caller: Caller;
  /** `self`: a me/ route (the caller is the user); `admin`: a users/{upn} route. */
  route: 'self' | 'admin';
  user: UserIdentifier;
  operation:
    | { kind: 'reset'; newPassword?: string; flags?: ResetFlags }
    | { kind: 'change'; currentPassword: string; newPassword: string }
    | { kind: 'unlock' };
  idempotencyKey?: string;
  /** W3C trace context of the HTTP request, carried into the message. */
  traceparent?: string;
}

export interface Submission {
  /** The operation as it stands after the synchronous wait (pending if the agent has not answered yet). */
  record: OperationRecord;
  /** Only for an admin reset without newPassword, and only in the response of the request that made it. */
  temporaryPassword?: string;
}

/** What the pipeline reports to telemetry (shared/telemetry implements it). */
export type OperationTelemetry = Pick<Telemetry, 'trackEvent' | 'trackMetric'>;

export interface WritebackOperationsOptions {
  tenants: Pick<WritebackTenants, 'requireEnabled' | 'forget'>;
  registry: Pick<TenantRegistry, 'listTenantIds'>;
  heartbeats: Pick<HeartbeatMonitor, 'requireOnline'>;
  store: OperationStore;
  keys: EncryptionKeys;
  senders: RequestSenders;
  audit: AuditLog;
  limiter?: AttemptLimiter;
  telemetry?: OperationTelemetry;
  waiter?: OperationWaiter;
  messageTtlMs: number;
  syncWaitMs: number;
  now?: () => Date;
}

const AUDIT_ACTION: Record<OperationKind, AuditAction> = {
  reset: 'PasswordReset',
  change: 'PasswordChange',
  unlock: 'AccountUnlock',
};

function targetOf(user: UserIdentifier): string {
  return `${user.kind}:${user.value}`;
}

/** What a repeated Idempotency-Key must match: the route, the user and the kind; never a password. */
function fingerprintOf(request: PasswordOperationRequest): string {
  return `${request.route}|${request.operation.kind}|${targetOf(request.user)}`;
}

/** What admit() found: the enabled tenant, its encryption key, and the directory's minimum length. */
interface Admission {
  tenant: Awaited<ReturnType<WritebackOperationsOptions['tenants']['requireEnabled']>>;
  key: Awaited<ReturnType<EncryptionKeys['get']>>;
  minLength: number;
  /** The rate limits' verdict, counted when the operation is recorded. */
  limits?: LimitAdmission;
}

/** The request the agent gets; an admin reset without a password gets a generated one (returned once). */
function payloadOf(
  request: PasswordOperationRequest,
  minLength: number,
): { payload: WritebackRequest; temporaryPassword?: string } {
  const { operation, user } = request;
  if (operation.kind === 'reset') {
    const temporaryPassword =
      operation.newPassword === undefined ? generateTemporaryPassword(minLength) : undefined;
    return {
      payload: {
        operation: 'reset',
        user,
        newPassword: operation.newPassword ?? (temporaryPassword as string),
        ...(operation.flags ? { flags: operation.flags } : {}),
      },
      ...(temporaryPassword !== undefined ? { temporaryPassword } : {}),
    };
  }
  if (operation.kind === 'change') {
    return {
      payload: {
        operation: 'change',
        user,
        currentPassword: operation.currentPassword,
        newPassword: operation.newPassword,
      },
    };
  }
  return { payload: { operation: 'unlock', user } };
}

export class WritebackOperations {
  readonly waiter: OperationWaiter;
  private readonly now: () => Date;
  private readonly expiryGraceMs: number;

  constructor(private readonly options: WritebackOperationsOptions) {
    this.now = options.now ?? (() => new Date());
    this.waiter = options.waiter ?? new OperationWaiter(options.store);
    this.expiryGraceMs = Math.min(EXPIRY_GRACE_MS, options.messageTtlMs);
  }

  static fromSettings(
    env: Environment = process.env,
    extras: { limiter?: AttemptLimiter; telemetry?: OperationTelemetry; heartbeats?: HeartbeatMonitor } = {},
  ): WritebackOperations {
    const appSettings: AppSettings = env === process.env ? loadedSettings() : loadSettings(env);
    const keyClient: KeyClient = keyClientFromSettings(env);
    // The rate limits' counters share the operations' table and partitions (one transaction each).
    const operationsTable = tableClientFromSettings(OPERATIONS_TABLE, 'AzureWebJobsStorage', env);
    const limiter =
      extras.limiter ?? attemptLimiter(new RateLimiter({ table: operationsTable }), appSettings.rateLimits);
    return new WritebackOperations({
      tenants: writebackTenants(),
      registry: TenantRegistry.fromSettings(env),
      heartbeats: extras.heartbeats ?? heartbeatMonitor(),
      store: new OperationStore(operationsTable),
      keys: new EncryptionKeys(keyClient),
      senders: RequestSenders.fromSettings(env),
      audit: AuditLog.fromSettings(env),
      limiter,
      telemetry: extras.telemetry ?? telemetry(),
      messageTtlMs: appSettings.messageTtlMs,
      syncWaitMs: appSettings.syncWaitMs,
    });
  }

  /**
   * This instance's public-key cache and Service Bus senders, for whatever else sends sealed messages
   * to the tenants' queues (the key rollover's control messages): one of each per instance.
   */
  get transport(): { keys: EncryptionKeys; senders: RequestSenders } {
    return { keys: this.options.keys, senders: this.options.senders };
  }

  /**
   * Runs a password operation up to its outcome or the synchronous wait. Every dependency call ends by
   * the route's deadline, WRITEBACK_SYNC_WAIT + ANSWER_MARGIN_MS from now: the wait for the agent ends
   * at WRITEBACK_SYNC_WAIT, and the margin is for recording what is known then.
   */
  submit(request: PasswordOperationRequest, log?: Logger): Promise<Submission> {
    return withinBudget(this.options.syncWaitMs + ANSWER_MARGIN_MS, () => this.run(request, log));
  }

  private async run(request: PasswordOperationRequest, log?: Logger): Promise<Submission> {
    const { tenantId, idempotencyKey } = request;
    const started = Date.now();
    const operationId = randomUUID();
    const createdAt = this.now();
    // The key first: a repeat of an accepted request gets its outcome even once writeback has been
    // disabled since (the password may well have been changed; a 409 would say it was not).
    if (idempotencyKey !== undefined) {
      const earlier = await callDependency(
        'Table storage',
        () =>
          this.options.store.claimIdempotencyKey(
            tenantId,
            request.caller.objectId,
            idempotencyKey,
            { operationId, fingerprint: fingerprintOf(request), createdAt },
            new Date(createdAt.getTime() - IDEMPOTENCY_WINDOW_MS),
          ),
        log,
      );
      if (earlier) return this.replay(request, earlier, log);
    }
    const release = async () => {
      if (idempotencyKey === undefined) return;
      await this.options.store
        .releaseIdempotencyKey(tenantId, request.caller.objectId, idempotencyKey)
        .catch((error: unknown) => log?.warn(`Idempotency key not released: ${String(error)}`));
    };
    let admitted: Admission;
    try {
      admitted = await this.admit(request, log);
    } catch (error) {
      await release();
      throw error;
    }
    const { tenant, key } = admitted;

    const { payload, temporaryPassword } = payloadOf(request, admitted.minLength);
    const expiresAt = new Date(createdAt.getTime() + this.options.messageTtlMs);
    const sealed = sealRequest({ header: { tenantId, operationId, expiresAt }, payload }, key);

    const { operation } = request;
    const record: OperationRecord = {
      tenantId,
      operationId,
      kind: operation.kind,
      user: request.user,
      requester: this.requesterOf(request),
      ...(operation.kind === 'reset' && operation.flags?.forceChangeAtNextLogon
        ? { forceChangeAtNextLogon: true }
        : {}),
      ...(operation.kind === 'reset' && operation.flags?.unlock ? { unlock: true } : {}),
      ...(temporaryPassword !== undefined ? { generatedPassword: true } : {}),
      state: 'pending',
      createdAt,
      expiresAt,
      keyVersion: key.version,
      ...(request.traceparent ? { traceparent: request.traceparent } : {}),
    };
    const watch = this.waiter.watch(tenantId, operationId, record);
    try {
      // Counting the attempt and recording the operation are one transaction: an attempt counts
      // exactly when its operation exists.
      const { limiter } = this.options;
      const { limits } = admitted;
      if (limiter && limits) {
        await this.refusing(request, () => limiter.commit(limits, this.options.store.creation(record), log));
      } else {
        await callDependency('Table storage', () => this.options.store.create(record), log);
      }
    } catch (error) {
      watch.close();
      await release();
      throw error;
    }
    try {
      await this.send(tenant.requestQueue, sealed, request, log);
    } catch (error) {
      const cause = (error as Error).cause ?? error;
      if (!(cause instanceof SendFailure && cause.delivery === 'notSent')) {
        // The message may be on the queue (the send timed out, or the connection broke before the
        // broker's acknowledgement): the operation stays pending and ends by the agent's answer or by
        // expiry, as always. The caller gets 202 and follows the operation, never "not sent".
        log?.warn(`Operation ${operationId}: the send's outcome is unknown; it stays pending.`);
      } else {
        watch.close();
        // The queue is gone: writeback was disabled since this instance last read the tenant's row.
        if (isServiceBusError(cause.cause) && cause.cause.code === 'MessagingEntityNotFound') {
          this.options.tenants.forget(tenantId);
        }
        await this.failUnsent(tenantId, operationId, log);
        // Nothing was sent: a retry with the same Idempotency-Key must send anew, not replay this failure.
        await release();
        const code = (cause.cause as { code?: string } | undefined)?.code;
        throw new ProblemError(
          'ServiceUnavailable',
          `Service Bus failed${code ? ` (${code})` : ''}: the request was not sent and nothing was changed. Retry.`,
          { operationId, retryAfterSeconds: RETRY_AFTER_SECONDS },
          { cause },
        );
      }
    }

    const latest = (await watch.result(this.options.syncWaitMs - (Date.now() - started))) ?? record;
    const final = await this.expireIfOverdue(latest, log);
    this.options.telemetry?.trackMetric('writeback.operation.syncWaitMs', Date.now() - started, {
      tenantId,
      operationKind: operation.kind,
      status: final.state,
    });
    return { record: final, ...(temporaryPassword !== undefined ? { temporaryPassword } : {}) };
  }

  /**
   * Whether the operation may go ahead: writeback enabled, within the rate limits, an agent online;
   * then the tenant's encryption key. Refusals are audited; faults are 503s.
   */
  private async admit(request: PasswordOperationRequest, log?: Logger): Promise<Admission> {
    const { tenantId } = request;
    const tenant = await this.refusing(request, () => this.options.tenants.requireEnabled(tenantId, log));
    const enabledAt = tenant.enabledAt;
    let minLength = 0;
    let limits: LimitAdmission | undefined;
    await this.refusing(request, async () => {
      limits = await this.options.limiter?.admit(tenantId, request.user, request.operation.kind, log);
      const status = await this.options.heartbeats.requireOnline(
        tenantId,
        enabledAt ? { enabledAt } : {},
        log,
      );
      minLength = status.policy?.minLength ?? 0;
    });
    if (!tenant.encryptionKeyId) {
      throw new ProblemError(
        'ServiceUnavailable',
        `Tenant ${tenantId} has no encryption key recorded; enable writeback again.`,
        { retryAfterSeconds: RETRY_AFTER_SECONDS },
      );
    }
    const keyId = tenant.encryptionKeyId;
    // A disabled or missing key version is as much a fault as an unreachable vault: 503, logged.
    const key = await callDependency('Key Vault', () => this.options.keys.get(keyId), log);
    return { tenant, key, minLength, ...(limits ? { limits } : {}) };
  }

  /** Sends a sealed request to the tenant's queue. */
  private async send(
    queue: string,
    sealed: SealedRequest,
    request: PasswordOperationRequest,
    log?: Logger,
  ): Promise<void> {
    await callDependency(
      'Service Bus',
      () =>
        this.options.senders.send(queue, {
          body: sealed.body,
          messageId: sealed.messageId,
          // Correlation with the reply and with telemetry; the agent copies it into its result.
          correlationId: sealed.messageId,
          applicationProperties: {
            ...sealed.applicationProperties,
            ...(request.traceparent ? { traceparent: request.traceparent } : {}),
          },
          timeToLive: this.options.messageTtlMs,
        }),
      log,
      'send request',
    );
  }

  /** Ends an operation whose request could not be sent as failed (ServiceUnavailable). */
  private async failUnsent(tenantId: string, operationId: string, log?: Logger): Promise<void> {
    await this.finish(
      tenantId,
      operationId,
      {
        state: 'failed',
        code: 'ServiceUnavailable',
        detail: 'the request could not be sent to the agent',
        completedAt: this.now(),
      },
      log,
    ).catch((finishError: unknown) =>
      log?.error(`Operation ${operationId} could not be ended: ${String(finishError)}`),
    );
  }

  /** `GET …/operations/{id}`: the operation if the caller asked for it or is an admin, waiting up to `waitMs`. */
  get(
    tenantId: string,
    operationId: string,
    caller: Caller,
    waitMs: number,
    log?: Logger,
  ): Promise<OperationRecord> {
    // A long poll answers by its own wait plus the margin, whatever stalls.
    return withinBudget(waitMs + ANSWER_MARGIN_MS, () =>
      this.read(tenantId, operationId, caller, waitMs, log),
    );
  }

  private async read(
    tenantId: string,
    operationId: string,
    caller: Caller,
    waitMs: number,
    log?: Logger,
  ): Promise<OperationRecord> {
    const started = Date.now();
    const found = await callDependency(
      'Table storage',
      () => this.options.store.get(tenantId, operationId),
      log,
    );
    if (!found) {
      throw new ProblemError('NotFound', `Tenant ${tenantId} has no operation ${operationId}.`);
    }
    if (found.requester.objectId !== caller.objectId && !caller.roles.includes(ADMIN_ROLE)) {
      throw new ForbiddenError('Only the requester of an operation, or an admin, may read it.');
    }
    let record = await this.expireIfOverdue(found, log);
    if (record.state === 'pending' && waitMs > 0) {
      // No longer than until the operation is due to expire: then it ends as expired at once.
      const untilOverdue = record.expiresAt.getTime() + this.expiryGraceMs - this.now().getTime() + 1;
      const watch = this.waiter.watch(tenantId, operationId, record);
      record = await this.expireIfOverdue(
        (await watch.result(Math.min(waitMs - (Date.now() - started), Math.max(0, untilOverdue)))) ?? record,
        log,
      );
    }
    return record;
  }

  /**
   * Records an agent's verified result on its operation (the replies function). The operation is
   * looked up in the partition of the tenant that signed the result, so a result can never end
   * another tenant's operation.
   */
  async recordResult(result: ResultReply, log?: Logger): Promise<CompletionWrite> {
    const completion: OperationCompletion =
      result.outcome === 'succeeded'
        ? { state: 'succeeded', completedAt: result.finishedAt }
        : result.outcome === 'WritebackExpired'
          ? {
              state: 'expired',
              ...(result.detail ? { detail: result.detail } : {}),
              completedAt: result.finishedAt,
            }
          : {
              state: 'failed',
              code: result.outcome,
              ...(result.reason ? { reason: result.reason } : {}),
              ...(result.detail ? { detail: result.detail } : {}),
              completedAt: result.finishedAt,
            };
    return this.finish(result.tenantId, result.operationId, completion, log);
  }

  /**
   * Ends every pending operation past its expiry and grace (the expiry timer, every minute). Returns
   * how many. Bounded by EXPIRY_RUN_BUDGET_MS so a stalled table ends a run before the next one starts.
   */
  expireOverdue(log?: Logger): Promise<number> {
    return withinBudget(EXPIRY_RUN_BUDGET_MS, () => this.expireOverdueWithinBudget(log));
  }

  private async expireOverdueWithinBudget(log?: Logger): Promise<number> {
    const cutoff = new Date(this.now().getTime() - this.expiryGraceMs);
    let expired = 0;
    for (const tenantId of await this.options.registry.listTenantIds()) {
      for (const operationId of await this.options.store.pendingExpiredBefore(tenantId, cutoff)) {
        const write = await this.finish(tenantId, operationId, this.expiry(), log);
        if (write.outcome === 'recorded') expired++;
      }
    }
    return expired;
  }

  /** Writes a final state once; the writer tells this instance's waiters and reports it. */
  async finish(
    tenantId: string,
    operationId: string,
    completion: OperationCompletion,
    log?: Logger,
  ): Promise<CompletionWrite> {
    const write = await callDependency(
      'Table storage',
      () => this.options.store.complete(tenantId, operationId, completion),
      log,
      'complete operation',
    );
    if (write.outcome !== 'recorded') return write;
    const { record } = write;
    this.waiter.notify(record);
    const durationMs = (record.completedAt ?? this.now()).getTime() - record.createdAt.getTime();
    this.options.telemetry?.trackEvent(
      'writeback.operation.completed',
      {
        tenantId,
        operationId,
        operationKind: record.kind,
        status: record.state,
        code: record.code,
        reason: record.reason,
        route: record.requester.route,
      },
      { durationMs },
    );
    this.options.telemetry?.trackMetric('writeback.operation.durationMs', durationMs, {
      tenantId,
      operationKind: record.kind,
      status: record.state,
    });
    return write;
  }

  private expiry(): OperationCompletion {
    return {
      state: 'expired',
      detail: 'the agent did not take the request before it expired',
      completedAt: this.now(),
    };
  }

  /** A pending operation past its expiry and grace is ended as expired (whoever notices first). */
  private async expireIfOverdue(record: OperationRecord, log?: Logger): Promise<OperationRecord> {
    if (record.state !== 'pending') return record;
    if (this.now().getTime() <= record.expiresAt.getTime() + this.expiryGraceMs) return record;
    const write = await callDependency(
      'Table storage',
      () => this.finish(record.tenantId, record.operationId, this.expiry(), log),
      log,
    );
    return write.outcome === 'unknown' ? record : write.record;
  }

  /** Answers a repeated Idempotency-Key with the first request's operation. */
  private async replay(
    request: PasswordOperationRequest,
    earlier: { operationId: string; fingerprint: string; createdAt: Date },
    log?: Logger,
  ): Promise<Submission> {
    if (earlier.fingerprint !== fingerprintOf(request)) {
      throw new InvalidRequestError(
        'The Idempotency-Key was already used, within the last 24 hours, for a different request; use a new key.',
      );
    }
    const found = await callDependency(
      'Table storage',
      () => this.options.store.get(request.tenantId, earlier.operationId),
      log,
    );
    if (!found) {
      // The first request holds the key but has not recorded its operation yet (or was refused a moment ago).
      throw new ProblemError(
        'ServiceUnavailable',
        'A request with this Idempotency-Key is still being accepted; retry in a moment.',
        { retryAfterSeconds: 1 },
      );
    }
    const watch = this.waiter.watch(request.tenantId, found.operationId, found);
    const record = await this.expireIfOverdue((await watch.result(this.options.syncWaitMs)) ?? found, log);
    return { record };
  }

  private requesterOf(request: PasswordOperationRequest): Requester {
    return { ...actorOf(request.caller), route: request.route };
  }

  /** Runs a check that may turn the request away; a refusal is audited (no operation exists yet). */
  private async refusing<T>(request: PasswordOperationRequest, check: () => Promise<T>): Promise<T> {
    try {
      return await check();
    } catch (error) {
      if (
        error instanceof ProblemError &&
        ['WritebackDisabled', 'WritebackOffline', 'RateLimited'].includes(error.code)
      ) {
        await this.options.audit
          .record({
            tenantId: request.tenantId,
            action: AUDIT_ACTION[request.operation.kind],
            actor: actorOf(request.caller),
            target: targetOf(request.user),
            outcome: 'refused',
            at: this.now(),
            code: error.code,
            route: request.route,
          })
          .catch(() => undefined);
        this.options.telemetry?.trackEvent('writeback.operation.refused', {
          tenantId: request.tenantId,
          operationKind: request.operation.kind,
          code: error.code,
          route: request.route,
        });
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.options.senders.close();
  }
}

let instance: WritebackOperations | undefined;

/** The process-wide pipeline: one key cache, one Service Bus connection and one waiter per instance. */
export function writebackOperations(): WritebackOperations {
  instance ??= WritebackOperations.fromSettings();
  return instance;
}
