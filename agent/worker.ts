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
 * - Transient faults (Key Vault or Service Bus unreachable, throttled, 5xx; the record's disk) leave
 *   the message to the broker: it is held for a backoff that grows with its delivery count and then
 *   abandoned, so it is redelivered rather than lost or spun through maxDeliveryCount at once.
 * - Exactly once: see OperationRecord. A request found "applying" without an outcome (the agent
 *   stopped mid-apply) is answered AgentFailure "outcome unknown" and not applied again: a second
 *   reset is harmless, but a second change would fail on history or count as a bad password.
 */
import { randomUUID } from 'node:crypto';
import type { ServiceBusReceivedMessage, ServiceBusReceiver, ServiceBusSender } from '@azure/service-bus';
import { isTransientKeyVaultError } from '../shared/azure/index.js';
import type { OperationResult } from '../shared/domain/index.js';
import {
  EnvelopeError,
  RequestExpiredError,
  openRequest,
  readRequestHeader,
  signResult,
  type KeyEncryptionAlgorithm,
  type CredentialsRequest,
  type OpenedWritebackRequest,
  type ReplySigner,
  type RequestHeader,
  type RequestKeyVault,
  traceparentOf,
} from '../shared/wire/index.js';
import type { DirectoryDriver } from './directory/index.js';
import { describeError, type AgentLogger } from './log.js';
import type { OperationRecord, RecordedOutcome } from './operation-record.js';

export interface WorkerOptions {
  tenantId: string;
  keyVault: RequestKeyVault;
  signer: ReplySigner;
  directory: DirectoryDriver;
  record: OperationRecord;
  replies: ServiceBusSender;
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

/** Notes whether the content key unwrapped: after that, an envelope error concerns an authentic header. */
class TrackingKeyVault implements RequestKeyVault {
  unwrapped = false;
  constructor(private readonly inner: RequestKeyVault) {}
  get vaultUrl(): string {
    return this.inner.vaultUrl;
  }
  async unwrapKey(keyId: string, algorithm: KeyEncryptionAlgorithm, wrappedKey: Buffer): Promise<Buffer> {
    const key = await this.inner.unwrapKey(keyId, algorithm, wrappedKey);
    this.unwrapped = true;
    return key;
  }
  decrypt(keyId: string, algorithm: KeyEncryptionAlgorithm, ciphertext: Buffer): Promise<Buffer> {
    return this.inner.decrypt(keyId, algorithm, ciphertext);
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export class RequestWorker {
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly now: () => Date;
  private readonly stopping = new AbortController();
  private handled = 0;
  private sender: ServiceBusSender;

  constructor(private readonly options: WorkerOptions) {
    this.now = options.now ?? (() => new Date());
    this.sender = options.replies;
  }

  /**
   * The sender replies go out on. A key rollover swaps it; a reply already being sent finishes on
   * the previous one, any later one (whichever receiver its request came from) uses the new one.
   */
  get replies(): ServiceBusSender {
    return this.sender;
  }

  set replies(sender: ServiceBusSender) {
    this.sender = sender;
  }

  /** Messages handled (settled one way or another) since start. */
  get handledCount(): number {
    return this.handled;
  }

  /** Cuts backoff waits short (the message is abandoned at once), for a graceful stop. */
  stop(): void {
    this.stopping.abort();
  }

  /** Handles one peek-locked message and settles it. Never throws. */
  async handle(message: ServiceBusReceivedMessage, receiver: ServiceBusReceiver): Promise<void> {
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
        await this.deadLetter(message, receiver, 'MalformedRequest', error);
        return;
      }
      if (header.tenantId !== tenantId) {
        log.warn('request refused', {
          event: 'refused',
          messageId,
          refusal: 'WrongTenant',
          detail: `the request names tenant ${header.tenantId}`,
        });
        await this.deadLetter(message, receiver, 'WrongTenant', `the request names another tenant`);
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
      const work = this.process(message, receiver, header);
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
    receiver: ServiceBusReceiver,
    header: RequestHeader,
  ): Promise<void> {
    const { log } = this.options;
    const operationId = header.operationId;
    try {
      const tracking = new TrackingKeyVault(this.options.keyVault);
      let payload: OpenedWritebackRequest | CredentialsRequest;
      try {
        payload = (await openRequest(message, tracking, this.now())).payload;
      } catch (error) {
        if (error instanceof RequestExpiredError) {
          const recorded = this.options.record.get(operationId);
          if (recorded?.state === 'done')
            return await this.resend(message, receiver, header, recorded.outcome);
          if (recorded?.state === 'applying') return await this.outcomeUnknown(message, receiver, header);
          log.info('request expired', { event: 'expired', operationId, expiresAt: header.expiresAt });
          return await this.finish(message, receiver, header, {
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
          await this.answer(
            header,
            { outcome: 'AgentFailure', detail: 'the agent could not read the request' },
            message,
          );
        }
        await this.deadLetter(message, receiver, authentic ? 'UnreadableRequest' : 'TamperedRequest', error);
        return;
      }

      if (payload.operation === 'credentials')
        return await this.rollCredentials(message, receiver, header, payload);

      const recorded = this.options.record.get(operationId);
      if (recorded?.state === 'done') return await this.resend(message, receiver, header, recorded.outcome);
      if (recorded?.state === 'applying') return await this.outcomeUnknown(message, receiver, header);

      try {
        await this.options.record.markApplying(operationId, header.expiresAt);
      } catch (error) {
        throw new TransientFault('writing the operation record', { cause: error });
      }
      const startedAt = Date.now();
      let result: OperationResult;
      try {
        result = await apply(this.options.directory, payload);
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
        durationMs: Date.now() - startedAt,
      });
      await this.finish(message, receiver, header, result, true);
    } catch (error) {
      await this.retryLater(message, receiver, operationId, error);
    }
  }

  /** A control message: handed to onCredentials, then completed. Applying the same keys twice is harmless. */
  private async rollCredentials(
    message: ServiceBusReceivedMessage,
    receiver: ServiceBusReceiver,
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
      await this.deadLetter(
        message,
        receiver,
        'UnreadableRequest',
        'the agent does not take new credentials',
      );
      return;
    }
    try {
      await onCredentials(credentials, header);
    } catch (error) {
      throw new TransientFault('taking the new credentials', { cause: error });
    }
    await receiver.completeMessage(message);
  }

  /** Records an outcome (unless `alreadyApplied` failed to record it), replies and completes. */
  private async finish(
    message: ServiceBusReceivedMessage,
    receiver: ServiceBusReceiver,
    header: RequestHeader,
    result: OperationResult,
    applied = false,
  ): Promise<void> {
    const outcome: RecordedOutcome = { result, finishedAt: this.now() };
    try {
      await this.options.record.recordOutcome(header.operationId, header.expiresAt, outcome);
    } catch (error) {
      if (!applied) throw new TransientFault('writing the operation record', { cause: error });
      // Applied already: answer anyway; a redelivery would find "applying" and say "outcome unknown".
      this.options.log.error('outcome not recorded', {
        event: 'recordError',
        operationId: header.operationId,
        error: describeError(error),
      });
    }
    await this.reply(header, outcome, message);
    await receiver.completeMessage(message);
  }

  /** Found "applying" without an outcome: the agent stopped mid-apply; never apply twice. */
  private outcomeUnknown(
    message: ServiceBusReceivedMessage,
    receiver: ServiceBusReceiver,
    header: RequestHeader,
  ): Promise<void> {
    this.options.log.warn('outcome unknown', { event: 'outcomeUnknown', operationId: header.operationId });
    return this.finish(message, receiver, header, {
      outcome: 'AgentFailure',
      detail: 'outcome unknown: the agent stopped while applying it',
    });
  }

  private async resend(
    message: ServiceBusReceivedMessage,
    receiver: ServiceBusReceiver,
    header: RequestHeader,
    outcome: RecordedOutcome,
  ): Promise<void> {
    this.options.log.info('recorded outcome re-sent', {
      event: 'redelivered',
      operationId: header.operationId,
      outcome: outcome.result.outcome,
    });
    await this.reply(header, outcome, message);
    await receiver.completeMessage(message);
  }

  /** Records and replies without settling (the caller dead-letters). */
  private async answer(
    header: RequestHeader,
    result: OperationResult,
    message?: ServiceBusReceivedMessage,
  ): Promise<void> {
    const outcome: RecordedOutcome = { result, finishedAt: this.now() };
    await this.options.record
      .recordOutcome(header.operationId, header.expiresAt, outcome)
      .catch(() => undefined);
    await this.reply(header, outcome, message);
  }

  private async reply(
    header: RequestHeader,
    outcome: RecordedOutcome,
    request?: ServiceBusReceivedMessage,
  ): Promise<void> {
    const { signer, log, tenantId } = this.options;
    // The cloud's trace context goes back with the result, so telemetry joins request and reply.
    const traceparent = traceparentOf(request?.applicationProperties?.traceparent);
    const trace = traceparent ? { traceparent } : {};
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
      jws = await signReply(signer, () => signResult(result, signer, this.now()));
    } catch (error) {
      throw new TransientFault('signing the reply', { cause: error });
    }
    try {
      await this.sender.sendMessages({
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
    receiver: ServiceBusReceiver,
    reason: RefusalReason,
    error: unknown,
  ): Promise<void> {
    const description =
      error instanceof EnvelopeError ? error.message : typeof error === 'string' ? error : 'refused';
    await receiver.deadLetterMessage(message, {
      deadLetterReason: reason,
      deadLetterErrorDescription: description,
    });
  }

  private async retryLater(
    message: ServiceBusReceivedMessage,
    receiver: ServiceBusReceiver,
    operationId: string,
    error: unknown,
  ): Promise<void> {
    const base = this.options.retryBackoffMs ?? 1000;
    const cap = this.options.maxRetryBackoffMs ?? 30_000;
    const delayMs = Math.min(cap, base * 2 ** Math.min(message.deliveryCount ?? 0, 16));
    this.options.log.warn('request left for redelivery', {
      event: 'abandoned',
      operationId,
      step: error instanceof TransientFault ? error.step : 'processing',
      error: describeError(error instanceof TransientFault ? error.cause : error),
      deliveryCount: message.deliveryCount ?? 0,
      retryInMs: delayMs,
    });
    await sleep(delayMs, this.stopping.signal);
    await receiver.abandonMessage(message);
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

function apply(directory: DirectoryDriver, payload: OpenedWritebackRequest): Promise<OperationResult> {
  switch (payload.operation) {
    case 'reset':
      return directory.resetPassword(payload.user, payload.newPassword, payload.flags);
    case 'change':
      return directory.changePassword(payload.user, payload.currentPassword, payload.newPassword);
    case 'unlock':
      return directory.unlock(payload.user);
  }
}
