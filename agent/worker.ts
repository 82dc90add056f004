/**
 * What the agent does with one request message: read the header → refuse another tenant's →
 * open through Key Vault → apply once → reply signed → complete.
 *
 * Decisions:
 * - Malformed or tampered messages are dead-lettered with the envelope's reason, and logged with
 *   the messageId (as "messageId": it is not authenticated). They are answered with AgentFailure
 *   only when the operation id is authentic: once the content key unwrapped and the GCM tag over
 *   the header verified, i.e. a payload that fails to parse or a password block Key Vault will not
 *   decrypt. Before that, anyone with Send rights could pick the operation id, and an answer would
 *   let them fail another caller's operation.
 * - An expired request (its authenticated expiry has passed) is answered WritebackExpired and
 *   completed, unless an outcome is already recorded, which is re-sent instead.
 * - Transient faults (Key Vault or Service Bus unreachable, throttled, 5xx; the record cannot be
 *   written) leave the message to the broker: it is held for a backoff that grows with its delivery
 *   count and then abandoned, so it is redelivered rather than lost or spun through
 *   maxDeliveryCount at once.
 * - Exactly once, across the tenant's agents (session-record.ts): "applying" — with the user's
 *   password stamp — is recorded before the directory is touched, the outcome after, and a reply is
 *   sent only for a recorded outcome, so an agent that lost the session never answers for an
 *   operation the next one may still settle differently.
 * - A request found "applying" without an outcome was interrupted: its agent died, hung, or lost
 *   the session. Its write may still be under way for up to `applyWindowMs` after it began (the
 *   directory drivers begin no write that could end later), so the agent holding the session now
 *   waits until that window has passed since it took the session, then asks the directory: a
 *   password stamp that moved means the operation took effect (succeeded, not applied again);
 *   unmoved, it did not, and it is applied now. An unlock is applied again (it is idempotent).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ServiceBusMessage, ServiceBusReceivedMessage } from '@azure/service-bus';
import { isTransientKeyVaultError } from '../shared/azure/index.js';
import type { OperationResult, UserIdentifier } from '../shared/domain/index.js';
import {
  EnvelopeError,
  RequestExpiredError,
  openRequest,
  readRequestHeader,
  REQUEST_SESSION_ID,
  signResult,
  type KeyEncryptionAlgorithm,
  type CredentialsRequest,
  type OpenedWritebackRequest,
  type ReplySigner,
  type RequestHeader,
  type RequestKeyVault,
  traceparentOf,
} from '../shared/wire/index.js';
import { backoffDelay } from './backoff.js';
import { pause, withDeadline } from './deadline.js';
import type { DependencyHealth } from './dependency-health.js';
import type { DirectoryDriver, WriteOptions } from './directory/index.js';
import { describeError, type AgentLogger } from './log.js';
import type { RecordedOutcome } from './session-record.js';
import type { SessionLease } from './session-lease.js';

export interface WorkerOptions {
  tenantId: string;
  agentId: string;
  keyVault: RequestKeyVault;
  signer: ReplySigner;
  directory: DirectoryDriver;
  /** Sends a reply on the replies queue (the link's current generation; it has its own deadline). */
  send: (message: ServiceBusMessage) => Promise<void>;
  health: DependencyHealth;
  log: AgentLogger;
  now?: () => Date;
  /**
   * Takes new SAS keys from a key rollover's control message: stores them, reconnects and
   * acknowledges. A throw leaves the message to the broker (redelivered after a backoff).
   */
  onCredentials?: (credentials: CredentialsRequest, header: RequestHeader) => Promise<void>;
  /**
   * Awaited just before a reply is signed: a lookup of the signing key under way (a key rollover
   * was noticed) finishes first, so the reply names the current version. Must not reject.
   */
  signerReady?: () => Promise<void>;
  /** Backoff before abandoning after a transient fault: first delay and cap. Defaults 1 s and 30 s. */
  retryBackoffMs?: number;
  maxRetryBackoffMs?: number;
  /** Deadlines of each call to Key Vault and to the directory. */
  deadlines: { keyVaultMs: number; directoryMs: number };
  /** How long a write may take from the moment "applying" is recorded (see the module comment). */
  applyWindowMs: number;
}

/** The reason a dead-lettered request carries (DeadLetterReason). */
export type RefusalReason = 'MalformedRequest' | 'WrongTenant' | 'TamperedRequest' | 'UnreadableRequest';

/** A fault that should not consume the request: it is abandoned after a backoff. */
class TransientFault extends Error {
  constructor(
    readonly step: string,
    options: ErrorOptions,
  ) {
    super(`transient fault while ${step}`, options);
    this.name = 'TransientFault';
  }
}

/** The session was lost mid-request: the next holder settles it; nothing more is done here. */
class LeaseGone extends Error {
  constructor(readonly step: string) {
    super(`the request session was lost while ${step}`);
    this.name = 'LeaseGone';
  }
}

/**
 * Key Vault as the envelope sees it, with a deadline on each call, the outcome told to the
 * dependency health, and a note of whether the content key unwrapped: after that, an envelope error
 * concerns an authentic header.
 */
class TrackingKeyVault implements RequestKeyVault {
  unwrapped = false;
  constructor(
    private readonly inner: RequestKeyVault,
    private readonly deadlineMs: number,
    private readonly health: DependencyHealth,
  ) {}
  get vaultUrl(): string {
    return this.inner.vaultUrl;
  }
  async unwrapKey(keyId: string, algorithm: KeyEncryptionAlgorithm, wrappedKey: Buffer): Promise<Buffer> {
    const key = await this.call('unwrapping a content key', () =>
      this.inner.unwrapKey(keyId, algorithm, wrappedKey),
    );
    this.unwrapped = true;
    return key;
  }
  decrypt(keyId: string, algorithm: KeyEncryptionAlgorithm, ciphertext: Buffer): Promise<Buffer> {
    return this.call('decrypting a password', () => this.inner.decrypt(keyId, algorithm, ciphertext));
  }
  private async call<T>(step: string, call: () => Promise<T>): Promise<T> {
    try {
      const result = await withDeadline(step, this.deadlineMs, call);
      this.health.ok('keyVault');
      return result;
    } catch (error) {
      if (isTransientKeyVaultError(error)) this.health.failed('keyVault', step, error);
      throw error;
    }
  }
}

/** Who an operation acts on, as a key (a UPN compares case-insensitively, as AD does). */
function userKey(user: UserIdentifier): string {
  return user.kind === 'upn' ? `upn:${user.value.toLowerCase()}` : `sid:${user.value.toUpperCase()}`;
}

export class RequestWorker {
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly byUser = new Map<string, Promise<void>>();
  private readonly now: () => Date;
  private readonly stopping = new AbortController();
  private handled = 0;

  constructor(private readonly options: WorkerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** Messages handled (settled one way or another) since start. */
  get handledCount(): number {
    return this.handled;
  }

  /** Cuts backoff and takeover waits short (the message is left to the broker), for a graceful stop. */
  stop(): void {
    this.stopping.abort();
  }

  /** Handles one peek-locked message of `lease` and settles it. Never throws. */
  async handle(message: ServiceBusReceivedMessage, lease: SessionLease): Promise<void> {
    const { log, tenantId } = this.options;
    const messageId = typeof message.messageId === 'string' ? message.messageId : undefined;
    try {
      let header: RequestHeader;
      try {
        header = readRequestHeader(message);
      } catch (error) {
        log.warn('request refused', {
          event: 'refused',
          messageId,
          refusal: 'MalformedRequest',
          detail: error instanceof EnvelopeError ? error.message : describeError(error),
        });
        await this.deadLetter(message, lease, 'MalformedRequest', error);
        return;
      }
      if (header.tenantId !== tenantId) {
        log.warn('request refused', {
          event: 'refused',
          messageId,
          refusal: 'WrongTenant',
          detail: `the request names tenant ${header.tenantId}`,
        });
        await this.deadLetter(message, lease, 'WrongTenant', `the request names another tenant`);
        return;
      }
      const operationId = header.operationId;
      log.info('request received', {
        event: 'received',
        operationId,
        deliveryCount: message.deliveryCount ?? 0,
        keyVersion: header.keyVersion,
      });
      // The same operation twice at once (a duplicate message): the second waits for the first's outcome.
      const running = this.inFlight.get(operationId);
      if (running) await running.catch(() => undefined);
      const work = this.process(message, lease, header);
      this.inFlight.set(operationId, work);
      try {
        await work;
      } finally {
        if (this.inFlight.get(operationId) === work) this.inFlight.delete(operationId);
      }
    } catch (error) {
      // process() settles everything it can; this is a fault in settling itself (lock lost, link closed).
      log.warn('message not settled', { event: 'unsettled', messageId, error: describeError(error) });
    } finally {
      this.handled++;
    }
  }

  private async process(
    message: ServiceBusReceivedMessage,
    lease: SessionLease,
    header: RequestHeader,
  ): Promise<void> {
    const { log } = this.options;
    const operationId = header.operationId;
    try {
      const tracking = new TrackingKeyVault(
        this.options.keyVault,
        this.options.deadlines.keyVaultMs,
        this.options.health,
      );
      let payload: OpenedWritebackRequest | CredentialsRequest;
      try {
        payload = (await openRequest(message, tracking, this.now())).payload;
      } catch (error) {
        if (error instanceof RequestExpiredError) {
          const recorded = lease.record.get(operationId);
          if (recorded?.state === 'done') return await this.resend(message, lease, header, recorded.outcome);
          if (recorded?.state === 'applying') return await this.outcomeUnknown(message, lease, header);
          log.info('request expired', { event: 'expired', operationId, expiresAt: header.expiresAt });
          return await this.finish(message, lease, header, {
            outcome: 'WritebackExpired',
            detail: 'the request expired before the agent took it',
          });
        }
        if (!(error instanceof EnvelopeError)) throw error;
        if (
          (error.reason === 'unwrapFailed' || error.reason === 'decryptFailed') &&
          isTransientKeyVaultError(error.cause)
        ) {
          throw new TransientFault('opening the request through Key Vault', { cause: error.cause });
        }
        const authentic =
          tracking.unwrapped && (error.reason === 'malformed' || error.reason === 'decryptFailed');
        log.warn('request refused', {
          event: 'refused',
          ...(authentic ? { operationId } : { messageId: operationId }),
          refusal: authentic ? 'UnreadableRequest' : 'TamperedRequest',
          detail: error.message,
          ...(error.cause ? { cause: describeError(error.cause) } : {}),
        });
        if (authentic) {
          await this.recordAndReply(lease, header, {
            outcome: 'AgentFailure',
            detail: 'the agent could not read the request',
          });
        }
        await this.deadLetter(message, lease, authentic ? 'UnreadableRequest' : 'TamperedRequest', error);
        return;
      }

      if (payload.operation === 'credentials')
        return await this.rollCredentials(message, lease, header, payload);
      if (lease.sessionId !== REQUEST_SESSION_ID) {
        // Only the request session's state records requests for exactly-once: none is applied elsewhere.
        log.warn('request refused', {
          event: 'refused',
          operationId,
          refusal: 'UnreadableRequest',
          detail: 'a password request outside the request session',
        });
        await this.deadLetter(
          message,
          lease,
          'UnreadableRequest',
          'a password request outside the request session',
        );
        return;
      }

      // One operation per user at a time: an interrupted operation is judged by the user's password
      // stamp, which another operation on the same user must not move meanwhile.
      await this.oneAtATime(userKey(payload.user), () => this.applyOnce(message, lease, header, payload));
    } catch (error) {
      if (error instanceof LeaseGone) {
        log.warn('request left to the agent that holds the session next', {
          event: 'leftToNextHolder',
          operationId,
          step: error.step,
        });
        return;
      }
      await this.retryLater(message, lease, operationId, error);
    }
  }

  /** Applies a request once (see the module comment), records its outcome, replies and completes. */
  private async applyOnce(
    message: ServiceBusReceivedMessage,
    lease: SessionLease,
    header: RequestHeader,
    payload: OpenedWritebackRequest,
  ): Promise<void> {
    const { log } = this.options;
    const operationId = header.operationId;
    const recorded = lease.record.get(operationId);
    if (recorded?.state === 'done') return await this.resend(message, lease, header, recorded.outcome);
    let stamp: string | undefined;
    if (recorded?.state === 'applying') {
      // Interrupted (module comment): wait out the previous holder's window, then ask the directory.
      const windowEnds = lease.acquiredAt + this.options.applyWindowMs;
      await pause(windowEnds - performance.now(), this.stopping.signal);
      if (this.stopping.signal.aborted) throw new TransientFault('stopping', {});
      stamp = await this.stampOf(payload);
      if (recorded.stamp !== undefined && stamp !== recorded.stamp) {
        log.info('interrupted operation had taken effect', {
          event: 'takenOver',
          operationId,
          appliedBy: recorded.by,
          applied: true,
        });
        return await this.finish(message, lease, header, {
          outcome: 'succeeded',
          detail: 'applied by an agent that stopped before it answered',
        });
      }
      log.info('interrupted operation had not taken effect; applying it', {
        event: 'takenOver',
        operationId,
        appliedBy: recorded.by,
        applied: false,
      });
    } else {
      try {
        stamp = await this.stampOf(payload);
      } catch (error) {
        if (!(error instanceof TransientFault)) throw error;
        // A directory that cannot be read cannot be written either: say so now, nothing was applied.
        log.warn('request not applied: the directory cannot be read', {
          event: 'notApplied',
          operationId,
          error: describeError(error.cause),
        });
        return await this.finish(message, lease, header, {
          outcome: 'AgentFailure',
          detail: 'not applied: the directory cannot be read',
        });
      }
    }

    const startedAt = this.now();
    const deadline = Date.now() + this.options.applyWindowMs;
    try {
      await lease.record.markApplying(operationId, {
        expiresAt: header.expiresAt,
        startedAt,
        by: this.options.agentId,
        ...(stamp !== undefined ? { stamp } : {}),
      });
    } catch (error) {
      throw new TransientFault('writing the operation record', { cause: error });
    }
    if (!lease.held) throw new LeaseGone('recording "applying"');
    const began = performance.now();
    let result: OperationResult;
    try {
      result = await apply(this.options.directory, payload, { deadline });
    } catch (error) {
      // Drivers resolve every directory outcome; a throw is a bug or a closed driver.
      log.error('directory driver failed', {
        event: 'driverError',
        operationId,
        error: describeError(error),
      });
      result = { outcome: 'AgentFailure', detail: 'outcome unknown: the directory driver failed' };
    }
    log.info('request applied', {
      event: 'applied',
      operationId,
      operation: payload.operation,
      outcome: result.outcome,
      ...(result.reason ? { reason: result.reason } : {}),
      ...(result.detail ? { detail: result.detail } : {}),
      durationMs: Math.round(performance.now() - began),
    });
    await this.finish(message, lease, header, result, true);
  }

  /** Runs `work` after the previous work for `key` has finished. */
  private async oneAtATime(key: string, work: () => Promise<void>): Promise<void> {
    const previous = this.byUser.get(key);
    const mine = (previous ?? Promise.resolve()).catch(() => undefined).then(work);
    this.byUser.set(key, mine);
    try {
      await mine;
    } finally {
      if (this.byUser.get(key) === mine) this.byUser.delete(key);
    }
  }

  /** The user's password stamp now (undefined for an unlock, which is applied again if interrupted). */
  private async stampOf(payload: OpenedWritebackRequest): Promise<string | undefined> {
    if (payload.operation === 'unlock') return undefined;
    return this.directoryCall('reading the password stamp', () =>
      this.options.directory.passwordStamp(payload.user),
    );
  }

  private async directoryCall<T>(step: string, call: () => Promise<T>): Promise<T> {
    try {
      const result = await withDeadline(step, this.options.deadlines.directoryMs, call);
      this.options.health.ok('directory');
      return result;
    } catch (error) {
      this.options.health.failed('directory', step, error);
      throw new TransientFault(step, { cause: error });
    }
  }

  /** A control message: handed to onCredentials, then completed. Applying the same keys twice is harmless. */
  private async rollCredentials(
    message: ServiceBusReceivedMessage,
    lease: SessionLease,
    header: RequestHeader,
    credentials: CredentialsRequest,
  ): Promise<void> {
    const { log, onCredentials } = this.options;
    if (!onCredentials) {
      log.warn('request refused', {
        event: 'refused',
        operationId: header.operationId,
        refusal: 'UnreadableRequest',
        detail: 'this agent does not take new credentials',
      });
      await this.deadLetter(message, lease, 'UnreadableRequest', 'the agent does not take new credentials');
      return;
    }
    try {
      await onCredentials(credentials, header);
    } catch (error) {
      throw new TransientFault('taking the new credentials', { cause: error });
    }
    await lease.complete(message);
  }

  /**
   * Records an outcome, replies and completes. An outcome of an operation that was applied is
   * recorded come what may while the session holds (tried again until it is written): a reply may
   * only go out for a recorded outcome.
   */
  private async finish(
    message: ServiceBusReceivedMessage,
    lease: SessionLease,
    header: RequestHeader,
    result: OperationResult,
    applied = false,
  ): Promise<void> {
    const outcome: RecordedOutcome = { result, finishedAt: this.now() };
    if (applied) await this.recordPersistently(lease, header, outcome);
    else {
      try {
        await lease.record.recordOutcome(header.operationId, header.expiresAt, outcome);
      } catch (error) {
        if (!lease.held) throw new LeaseGone('recording the outcome');
        throw new TransientFault('writing the operation record', { cause: error });
      }
    }
    await this.reply(header, outcome, message);
    await lease.complete(message);
  }

  private async recordPersistently(
    lease: SessionLease,
    header: RequestHeader,
    outcome: RecordedOutcome,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await lease.record.recordOutcome(header.operationId, header.expiresAt, outcome);
        return;
      } catch (error) {
        this.options.log.warn('outcome not recorded yet', {
          event: 'recordError',
          operationId: header.operationId,
          attempt: attempt + 1,
          error: describeError(error),
        });
        if (!lease.held || this.stopping.signal.aborted) throw new LeaseGone('recording the outcome');
        await pause(backoffDelay(attempt, { initialMs: 200, maxMs: 5_000 }), this.stopping.signal);
      }
    }
  }

  /** Found "applying" for an expired request: it cannot be opened to check, nor applied any more. */
  private outcomeUnknown(
    message: ServiceBusReceivedMessage,
    lease: SessionLease,
    header: RequestHeader,
  ): Promise<void> {
    this.options.log.warn('outcome unknown', { event: 'outcomeUnknown', operationId: header.operationId });
    return this.finish(message, lease, header, {
      outcome: 'AgentFailure',
      detail: 'outcome unknown: an agent stopped while applying it, and it has expired since',
    });
  }

  private async resend(
    message: ServiceBusReceivedMessage,
    lease: SessionLease,
    header: RequestHeader,
    outcome: RecordedOutcome,
  ): Promise<void> {
    this.options.log.info('recorded outcome re-sent', {
      event: 'redelivered',
      operationId: header.operationId,
      outcome: outcome.result.outcome,
    });
    await this.reply(header, outcome, message);
    await lease.complete(message);
  }

  /** Records and replies without settling (the caller dead-letters); best effort. */
  private async recordAndReply(
    lease: SessionLease,
    header: RequestHeader,
    result: OperationResult,
  ): Promise<void> {
    const outcome: RecordedOutcome = { result, finishedAt: this.now() };
    try {
      await lease.record.recordOutcome(header.operationId, header.expiresAt, outcome);
    } catch {
      return; // not recorded, not answered: the cloud ends the operation when it expires
    }
    await this.reply(header, outcome);
  }

  private async reply(
    header: RequestHeader,
    outcome: RecordedOutcome,
    request?: ServiceBusReceivedMessage,
  ): Promise<void> {
    const { signer, log, tenantId, health } = this.options;
    // The cloud's trace context goes back with the result, so telemetry joins request and reply.
    const traceparent = traceparentOf(request?.applicationProperties?.traceparent);
    const trace: Record<string, string> = traceparent ? { traceparent } : {};
    const result = {
      tenantId,
      operationId: header.operationId,
      outcome: outcome.result.outcome,
      ...(outcome.result.reason !== undefined ? { reason: outcome.result.reason } : {}),
      ...(outcome.result.detail !== undefined ? { detail: outcome.result.detail } : {}),
      finishedAt: outcome.finishedAt,
    };
    let jws: string;
    try {
      await this.options.signerReady?.();
      jws = await withDeadline('signing a reply', this.options.deadlines.keyVaultMs, () =>
        signReply(signer, () => signResult(result, signer, this.now())),
      );
      health.ok('keyVault');
    } catch (error) {
      health.failed('keyVault', 'signing a reply', error);
      throw new TransientFault('signing the reply', { cause: error });
    }
    try {
      await this.options.send({
        body: jws,
        messageId: randomUUID(),
        correlationId: header.operationId,
        contentType: 'application/jose',
        applicationProperties: { replyType: 'result', tenantId, ...trace },
      });
    } catch (error) {
      throw new TransientFault('sending the reply', { cause: error });
    }
    log.info('reply sent', {
      event: 'replied',
      operationId: header.operationId,
      outcome: result.outcome,
      kid: signer.kid,
    });
  }

  private async deadLetter(
    message: ServiceBusReceivedMessage,
    lease: SessionLease,
    reason: RefusalReason,
    error: unknown,
  ): Promise<void> {
    const description =
      error instanceof EnvelopeError ? error.message : typeof error === 'string' ? error : 'refused';
    await lease.deadLetter(message, reason, description);
  }

  private async retryLater(
    message: ServiceBusReceivedMessage,
    lease: SessionLease,
    operationId: string,
    error: unknown,
  ): Promise<void> {
    const delayMs = backoffDelay(message.deliveryCount ?? 0, {
      initialMs: this.options.retryBackoffMs ?? 1000,
      maxMs: this.options.maxRetryBackoffMs ?? 30_000,
    });
    this.options.log.warn('request left for redelivery', {
      event: 'abandoned',
      operationId,
      step: error instanceof TransientFault ? error.step : 'processing',
      error: describeError(error instanceof TransientFault ? error.cause : error),
      deliveryCount: message.deliveryCount ?? 0,
      retryInMs: delayMs,
    });
    await pause(delayMs, this.stopping.signal);
    if (lease.held) await lease.abandon(message);
  }
}

/**
 * Signs a reply; when Key Vault refused the signing version (the signer then looked up the
 * latest), signs once more so that the JWS header names the version that signs.
 */
export async function signReply(signer: ReplySigner, sign: () => Promise<string>): Promise<string> {
  const kid = signer.kid;
  try {
    return await sign();
  } catch (error) {
    if (signer.kid === kid) throw error;
    return sign();
  }
}

function apply(
  directory: DirectoryDriver,
  payload: OpenedWritebackRequest,
  options: WriteOptions,
): Promise<OperationResult> {
  const user: UserIdentifier = payload.user;
  switch (payload.operation) {
    case 'reset':
      return directory.resetPassword(user, payload.newPassword, payload.flags, options);
    case 'change':
      return directory.changePassword(user, payload.currentPassword, payload.newPassword, options);
    case 'unlock':
      return directory.unlock(user, options);
  }
}
