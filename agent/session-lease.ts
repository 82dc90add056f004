/**
 * One holding of the tenant's request session by this agent: the session receiver that
 * `acceptSession` gave, the exactly-once record in the session's state (session-record.ts), the
 * renewal of the session lock, and the messages being handled. A lease ends when it is released (a
 * graceful stop, a new connection generation), or when the lock is lost: the broker said so
 * (SessionLockLost, the receive link detached) or renewals failed until the lock's local estimate
 * ran out. After that nothing can be settled or recorded through it, and the broker, which fences
 * the state by the lock, refuses what a lost lease still tries to write.
 *
 * The session lock lasts the queue's lockDuration from each renewal; the agent renews it itself
 * (not the SDK's auto-renewal, which stops after a fixed total and has no deadline) every third of
 * that duration, each renewal with a deadline.
 */
import { performance } from 'node:perf_hooks';
import {
  isServiceBusError,
  type ProcessErrorArgs,
  type ServiceBusReceivedMessage,
  type ServiceBusSessionReceiver,
} from '@azure/service-bus';
import type { BusConnection } from './bus-connection.js';
import { pause, withDeadline } from './deadline.js';
import { SessionRecord, type SessionRecordOptions } from './session-record.js';

/** How the record is signed for the session state, and checked when read (record-signing.ts). */
export interface RecordSeal {
  /** The state to write for the record's JSON bytes. */
  seal(record: Buffer): Promise<Buffer>;
  /** The record a state holds (nothing when it is not to be trusted); throws when it cannot be checked now. */
  open(state: unknown): Promise<unknown>;
}

export interface LeaseOptions {
  /** Deadline of each call to Service Bus. */
  deadlineMs: number;
  seal: RecordSeal;
  record?: SessionRecordOptions;
}

export type LeaseEnd = { reason: 'released' } | { reason: 'lost'; step: string; error?: unknown };

/** The lock was refused to a holder that no longer has it. */
export function isLockLost(error: unknown): boolean {
  return isServiceBusError(error) && error.code === 'SessionLockLost';
}

export class SessionLease {
  /** When the lock was taken, on this process's monotonic clock (ms). */
  readonly acquiredAt = performance.now();
  private readonly inFlight = new Set<Promise<void>>();
  private subscription: { close(): Promise<void> } | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private ending: LeaseEnd | undefined;
  private resolveEnded!: (end: LeaseEnd) => void;
  /** Resolves once, when the lease ends. */
  readonly ended = new Promise<LeaseEnd>((resolve) => (this.resolveEnded = resolve));
  /** The lock's duration as first seen (the queue's lockDuration), for the renewal schedule. */
  private readonly lockDurationMs: number;
  /** Until when the lock surely holds, on the monotonic clock: the last renewal's send time + duration. */
  private heldUntil: number;

  private constructor(
    readonly connection: BusConnection,
    readonly sessionId: string,
    private readonly receiver: ServiceBusSessionReceiver,
    readonly record: SessionRecord,
    readonly skippedEntries: number,
    private readonly options: LeaseOptions,
    acceptSentAt: number,
  ) {
    const lockedUntil = receiver.sessionLockedUntilUtc?.getTime() ?? Date.now() + 30_000;
    // The broker's clock against ours: bounded, so that a skewed clock cannot make renewals absurd.
    this.lockDurationMs = Math.min(Math.max(lockedUntil - Date.now(), 5_000), 5 * 60_000);
    this.heldUntil = acceptSentAt + this.lockDurationMs;
  }

  /**
   * Accepts `sessionId` on `connection` and reads its record. Throws the SDK's error
   * (SessionCannotBeLocked while another agent holds it); a failure to read the record lets the
   * session go again.
   */
  static async acquire(
    connection: BusConnection,
    sessionId: string,
    options: LeaseOptions,
  ): Promise<SessionLease> {
    const sentAt = performance.now();
    const receiver = await connection.acceptSession(sessionId, options.deadlineMs);
    let lease: SessionLease | undefined;
    try {
      const store = {
        read: async () =>
          options.seal.open(
            await withDeadline('reading the session state', options.deadlineMs, (abortSignal) =>
              receiver.getSessionState({ abortSignal }),
            ),
          ),
        write: async (record: Buffer) => {
          const state = await options.seal.seal(record);
          return withDeadline('writing the session state', options.deadlineMs, (abortSignal) =>
            receiver.setSessionState(state, { abortSignal }),
          ).catch((error: unknown) => {
            if (isLockLost(error)) lease?.end({ reason: 'lost', step: 'writing the record', error });
            throw error;
          });
        },
      };
      const { record, skipped } = await SessionRecord.load(store, options.record);
      lease = new SessionLease(connection, sessionId, receiver, record, skipped, options, sentAt);
      return lease;
    } catch (error) {
      void withDeadline('closing a session receiver', options.deadlineMs, () => receiver.close()).catch(
        () => undefined,
      );
      throw error;
    }
  }

  /** Whether the lock still holds, as far as this agent knows. */
  get held(): boolean {
    return this.ending === undefined && performance.now() < this.heldUntil;
  }

  /** Messages delivered by this lease and still being handled. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Starts receiving: `handle` gets each message; up to `concurrency` at once. */
  start(
    handle: (message: ServiceBusReceivedMessage, lease: SessionLease) => Promise<void>,
    concurrency: number,
    onError: (args: ProcessErrorArgs) => void,
  ): void {
    this.subscription = this.receiver.subscribe(
      {
        processMessage: async (message) => {
          const work = handle(message, this);
          this.inFlight.add(work);
          try {
            await work;
          } finally {
            this.inFlight.delete(work);
          }
        },
        processError: async (args) => {
          onError(args);
          // A session receiver does not reconnect: a receive error means the session is gone.
          if (args.errorSource === 'receive')
            this.end({ reason: 'lost', step: 'receiving', error: args.error });
        },
      },
      { autoCompleteMessages: false, maxConcurrentCalls: concurrency },
    );
    this.scheduleRenewal(this.lockDurationMs / 3);
  }

  private scheduleRenewal(inMs: number): void {
    if (this.ending) return;
    this.renewTimer = setTimeout(() => void this.renew(), Math.max(inMs, 200));
    this.renewTimer.unref();
  }

  private async renew(): Promise<void> {
    if (this.ending) return;
    const sentAt = performance.now();
    try {
      await withDeadline(
        'renewing the session lock',
        Math.min(this.options.deadlineMs, this.lockDurationMs / 3),
        (abortSignal) => this.receiver.renewSessionLock({ abortSignal }),
      );
      this.heldUntil = sentAt + this.lockDurationMs;
      this.scheduleRenewal(this.lockDurationMs / 3);
    } catch (error) {
      if (isLockLost(error) || this.receiver.isClosed || performance.now() >= this.heldUntil) {
        this.end({ reason: 'lost', step: 'renewing the session lock', error });
        return;
      }
      // Try again soon: the lock still holds for a while.
      this.scheduleRenewal(Math.min(1_000, this.lockDurationMs / 10));
    }
  }

  /** Completes (or abandons, dead-letters) a message of this lease, with a deadline. */
  complete(message: ServiceBusReceivedMessage): Promise<void> {
    return this.settle('completing a request', () => this.receiver.completeMessage(message));
  }

  abandon(message: ServiceBusReceivedMessage): Promise<void> {
    return this.settle('abandoning a request', () => this.receiver.abandonMessage(message));
  }

  deadLetter(message: ServiceBusReceivedMessage, reason: string, description: string): Promise<void> {
    return this.settle('dead-lettering a request', () =>
      this.receiver.deadLetterMessage(message, {
        deadLetterReason: reason,
        deadLetterErrorDescription: description,
      }),
    );
  }

  private async settle(step: string, settle: () => Promise<void>): Promise<void> {
    try {
      await withDeadline(step, this.options.deadlineMs, settle);
    } catch (error) {
      if (isLockLost(error)) this.end({ reason: 'lost', step, error });
      throw error;
    }
  }

  /**
   * Lets the session go: takes no more messages, waits up to `drainMs` for those in flight, then
   * closes the receiver, which frees the lock at once for whoever asks next. Resolves with whether
   * the messages in flight all finished. Idempotent.
   */
  async release(drainMs: number): Promise<boolean> {
    await this.stopReceiving();
    const drained = await Promise.race([
      (async () => {
        while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
        return true;
      })(),
      pause(drainMs).then(() => this.inFlight.size === 0),
    ]);
    this.end({ reason: 'released' });
    return drained;
  }

  private async stopReceiving(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = undefined;
    if (subscription) {
      await withDeadline('stopping the session receiver', this.options.deadlineMs, () =>
        subscription.close(),
      ).catch(() => undefined);
    }
  }

  /**
   * Ends the lease (once): no more renewals or settlements; `ended` resolves once the receiver is
   * closed (within the deadline), so that the lock is free before anyone asks for it again.
   */
  private end(end: LeaseEnd): void {
    if (this.ending) return;
    this.ending = end;
    clearTimeout(this.renewTimer);
    void this.stopReceiving()
      .then(() =>
        withDeadline('closing the session receiver', this.options.deadlineMs, () => this.receiver.close()),
      )
      .catch(() => undefined)
      .then(() => this.resolveEnded(end));
  }
}
