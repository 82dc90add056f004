/**
 * One queue of messages (a queue's main queue or its dead-letter sub-queue): ordering, delivery to
 * consumers, peek-lock and its expiry, settlement, deferral, scheduling, time-to-live and sessions.
 * Owns no AMQP: consumers are whatever implements `Consumer` (consumer.ts). The bookkeeping of locks,
 * expiry, scheduled messages and sessions is in message-locks.ts, expiry-clock.ts, scheduled-messages.ts
 * and session-table.ts; this class decides what happens to a message.
 */
import type { Message } from 'rhea';
import type { Consumer, QueueOwner, ReceiveMode, Settlement } from './consumer.js';
import { BrokerError, Condition, entityNotFound } from './errors.js';
import { ExpiryClock } from './expiry-clock.js';
import type { BrokeredMessage } from './message.js';
import { MessageLocks } from './message-locks.js';
import type { MessageStore } from './message-store.js';
import { ReadyIndex } from './ready-index.js';
import { ScheduledMessages } from './scheduled-messages.js';
import { isSessionLocked, SessionTable, type SessionEntry, type SessionWaiter } from './session-table.js';

export type { Consumer, QueueOwner, ReceiveMode, Settlement } from './consumer.js';

export class MessageQueue {
  private nextSequenceNumber = 1;
  private readonly ready = new ReadyIndex();
  private readonly sessions = new SessionTable();
  private readonly sessionWaiters: SessionWaiter[] = [];
  private readonly locks = new MessageLocks({
    expired: (message) => this.lockExpired(message),
    swept: () => this.dispatch(),
  });
  private readonly scheduled = new ScheduledMessages();
  private readonly expiry = new ExpiryClock((now) => this.sweepExpired(now));
  private readonly consumers = new Set<Consumer>();
  /** The session each session consumer holds. */
  private readonly consumerSession = new Map<Consumer, SessionEntry>();
  private dispatching = false;
  private redispatch = false;

  constructor(
    /** The entity path, e.g. `q` or `q/$DeadLetterQueue`. */
    readonly path: string,
    private readonly store: MessageStore,
    private readonly owner: QueueOwner,
    readonly sessionful: boolean,
  ) {}

  // ---- counts -------------------------------------------------------------------------------

  get messageCount(): number {
    return this.store.count;
  }

  get scheduledCount(): number {
    return this.scheduled.size;
  }

  get sizeInBytes(): number {
    return this.store.sizeInBytes;
  }

  // ---- enqueue ------------------------------------------------------------------------------

  /**
   * Take a message in. `ttlMs` is its effective time-to-live (Infinity for none). A message with
   * `scheduledAt` in the future waits, counted as scheduled, until then.
   */
  enqueue(
    message: Message,
    options: { size: number; ttlMs: number; scheduledAt?: number; deadLetterSource?: string },
  ): BrokeredMessage {
    const now = Date.now();
    const sessionId =
      message.group_id === undefined || message.group_id === null ? undefined : String(message.group_id);
    const brokered: BrokeredMessage = {
      sequenceNumber: this.nextSequenceNumber++,
      message,
      size: options.size,
      enqueuedAt: now,
      expiresAt: Number.isFinite(options.ttlMs) ? now + options.ttlMs : Infinity,
      sessionId: this.sessionful ? sessionId : undefined,
      deliveryCount: 0,
      state: 'active',
      scheduledAt: undefined,
      lock: undefined,
      deadLetterSource: options.deadLetterSource,
    };
    this.store.add(brokered);
    if (brokered.sessionId !== undefined) this.sessions.entry(brokered.sessionId).messageCount++;
    if (options.scheduledAt !== undefined && options.scheduledAt > now) {
      brokered.state = 'scheduled';
      brokered.scheduledAt = options.scheduledAt;
      brokered.expiresAt = Infinity; // the time-to-live starts when the message is enqueued
      this.scheduled.add(brokered.sequenceNumber, options.scheduledAt - now, () =>
        this.activateScheduled(brokered.sequenceNumber, options.ttlMs),
      );
      return brokered;
    }
    this.noteExpiry(brokered);
    this.makeReady(brokered);
    this.dispatch();
    return brokered;
  }

  private activateScheduled(sequenceNumber: number, ttlMs: number): void {
    const message = this.store.get(sequenceNumber);
    if (!message || message.state !== 'scheduled') return;
    const now = Date.now();
    message.state = 'active';
    message.enqueuedAt = now;
    message.expiresAt = Number.isFinite(ttlMs) ? now + ttlMs : Infinity;
    this.noteExpiry(message);
    this.makeReady(message);
    this.dispatch();
  }

  /** Cancel scheduled messages; unknown or already enqueued numbers are ignored, as Service Bus does. */
  cancelScheduled(sequenceNumbers: readonly number[]): void {
    for (const sequenceNumber of sequenceNumbers) {
      if (!this.scheduled.cancel(sequenceNumber)) continue;
      const message = this.store.get(sequenceNumber);
      if (message) this.remove(message);
    }
  }

  // ---- consumers and delivery ---------------------------------------------------------------

  addConsumer(consumer: Consumer): void {
    this.consumers.add(consumer);
    this.dispatch();
  }

  /** A consumer left: its session is released; its message locks run until they expire. */
  removeConsumer(consumer: Consumer): void {
    this.consumers.delete(consumer);
    const entry = this.consumerSession.get(consumer);
    if (entry) this.releaseSession(entry);
    const waiter = this.sessionWaiters.findIndex((w) => w.consumer === consumer);
    if (waiter >= 0) {
      const [removed] = this.sessionWaiters.splice(waiter, 1);
      if (removed) clearTimeout(removed.timer);
    }
  }

  /** Deliver what can be delivered. Re-entrant calls (a delivery adding credit) fold into one loop. */
  dispatch(): void {
    if (this.dispatching) {
      this.redispatch = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.redispatch = false;
        this.dispatchOnce();
      } while (this.redispatch);
    } finally {
      this.dispatching = false;
    }
  }

  private dispatchOnce(): void {
    if (this.consumers.size === 0) return;
    if (this.sessionful) {
      for (const [consumer, entry] of this.consumerSession) {
        while (consumer.availableCredit() > 0) {
          const message = this.takeReady(entry.ready);
          if (!message) break;
          this.deliverTo(consumer, message, entry);
        }
      }
      return;
    }
    let progress = true;
    while (progress && this.ready.size > 0) {
      progress = false;
      for (const consumer of this.consumers) {
        if (consumer.availableCredit() <= 0) continue;
        const message = this.takeReady(this.ready);
        if (!message) return;
        this.deliverTo(consumer, message, undefined);
        progress = true;
      }
    }
  }

  private takeReady(ready: ReadyIndex): BrokeredMessage | undefined {
    const now = Date.now();
    for (;;) {
      const message = ready.shift();
      if (!message) return undefined;
      if (message.expiresAt <= now) {
        this.expire(message);
        continue;
      }
      return message;
    }
  }

  private deliverTo(consumer: Consumer, message: BrokeredMessage, session: SessionEntry | undefined): void {
    if (consumer.receiveMode === 'peekLock') this.lock(message, consumer, session);
    try {
      consumer.deliver(message);
    } catch (error) {
      // A consumer that cannot take messages leaves; the message stays, undelivered.
      console.error('[servicebus] delivery failed, dropping the consumer:', error);
      this.unlock(message);
      this.makeReady(message);
      this.removeConsumer(consumer);
      return;
    }
    message.deliveryCount++;
    if (consumer.receiveMode === 'receiveAndDelete') this.remove(message);
  }

  private lock(
    message: BrokeredMessage,
    holder: Consumer | undefined,
    session: SessionEntry | undefined,
  ): void {
    const lockedUntil = session ? session.lockedUntil : Date.now() + this.owner.lockDurationMs();
    this.locks.lock(message, holder, lockedUntil, !session);
  }

  private unlock(message: BrokeredMessage): void {
    this.locks.unlock(message);
  }

  /** A lock ran out: the message is available again, or dead-lettered after too many deliveries. */
  private lockExpired(message: BrokeredMessage): void {
    this.unlock(message);
    this.returnOrDeadLetter(message);
  }

  private returnOrDeadLetter(message: BrokeredMessage): void {
    const max = this.owner.maxDeliveryCount();
    if (max > 0 && message.deliveryCount >= max) {
      this.remove(message);
      this.owner.deadLetter(
        message,
        'MaxDeliveryCountExceeded',
        `Message could not be consumed after ${max} delivery attempts.`,
      );
      return;
    }
    if (message.state === 'active') this.makeReady(message);
  }

  private makeReady(message: BrokeredMessage): void {
    if (message.sessionId !== undefined) {
      const entry = this.sessions.entry(message.sessionId);
      entry.ready.add(message);
      entry.updatedAt = Date.now();
      this.serveSessionWaiters();
    } else {
      this.ready.add(message);
    }
  }

  private remove(message: BrokeredMessage): void {
    this.unlock(message);
    if (!this.store.delete(message.sequenceNumber)) return;
    this.expiry.forget(message.expiresAt);
    if (message.sessionId !== undefined) {
      const entry = this.sessions.get(message.sessionId);
      if (entry) {
        entry.messageCount--;
        this.sessions.forgetIfIdle(entry);
      }
    }
  }

  // ---- time-to-live -------------------------------------------------------------------------

  private noteExpiry(message: BrokeredMessage): void {
    this.expiry.note(message.expiresAt);
  }

  /** Expired messages that are not locked leave the queue (to the dead-letter queue if so configured). */
  private sweepExpired(now: number): void {
    const isExpired = (m: BrokeredMessage) => m.expiresAt <= now;
    for (const message of this.ready.removeWhere(isExpired)) this.expire(message);
    for (const entry of [...this.sessions.values()]) {
      for (const message of entry.ready.removeWhere(isExpired)) this.expire(message);
    }
    this.expiry.restart();
    for (const message of [...this.store.values()]) {
      if (message.state === 'deferred' && !message.lock && isExpired(message)) this.expire(message);
      else if (message.state !== 'scheduled') this.expiry.consider(message.expiresAt);
    }
  }

  private expire(message: BrokeredMessage): void {
    this.remove(message);
    if (this.owner.deadLetteringOnExpiration()) {
      this.owner.deadLetter(message, 'TTLExpiredException', 'The message expired and was dead lettered.');
    }
  }

  // ---- settlement ---------------------------------------------------------------------------

  /** The locked message of `token`, or MessageLockLost / SessionLockLost. */
  private lockedMessage(token: string, holder: Consumer | undefined): BrokeredMessage {
    const message = this.locks.get(token);
    if (message?.sessionId !== undefined && holder) {
      const entry = this.sessions.get(message.sessionId);
      if (!entry || entry.holder !== holder || entry.lockedUntil <= Date.now()) {
        throw new BrokerError(Condition.sessionLockLost, 'The session lock has expired or was released.');
      }
    }
    if (!message || !message.lock) {
      throw new BrokerError(
        Condition.messageLockLost,
        'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.',
      );
    }
    if (message.lock.lockedUntil <= Date.now() && message.sessionId === undefined) {
      this.lockExpired(message);
      this.dispatch();
      throw new BrokerError(Condition.messageLockLost, 'The lock on the message has expired.');
    }
    return message;
  }

  settle(token: string, holder: Consumer | undefined, settlement: Settlement): void {
    const message = this.lockedMessage(token, holder);
    switch (settlement.kind) {
      case 'complete':
        this.remove(message);
        break;
      case 'abandon':
        this.modifyProperties(message, settlement.propertiesToModify);
        this.unlock(message);
        this.returnOrDeadLetter(message);
        this.dispatch();
        break;
      case 'defer':
        this.modifyProperties(message, settlement.propertiesToModify);
        this.unlock(message);
        message.state = 'deferred';
        break;
      case 'deadLetter':
        this.modifyProperties(message, settlement.propertiesToModify);
        this.remove(message);
        this.owner.deadLetter(message, settlement.reason ?? '', settlement.description ?? '');
        break;
    }
  }

  private modifyProperties(message: BrokeredMessage, properties: Record<string, unknown> | undefined): void {
    if (!properties || Object.keys(properties).length === 0) return;
    message.message = {
      ...message.message,
      application_properties: { ...(message.message.application_properties ?? {}), ...properties },
    };
  }

  renewLock(token: string): number {
    const message = this.lockedMessage(token, undefined);
    if (message.sessionId !== undefined) return message.lock!.lockedUntil;
    this.locks.renew(message, Date.now() + this.owner.lockDurationMs());
    return message.lock!.lockedUntil;
  }

  // ---- peek and deferred messages -----------------------------------------------------------

  peek(fromSequenceNumber: number, count: number, sessionId?: string): BrokeredMessage[] {
    const now = Date.now();
    const found: BrokeredMessage[] = [];
    for (const message of this.store.values()) {
      if (found.length >= count) break;
      if (message.sequenceNumber < fromSequenceNumber) continue;
      if (sessionId !== undefined && message.sessionId !== sessionId) continue;
      if (message.expiresAt <= now && message.state !== 'scheduled') continue;
      found.push(message);
    }
    return found;
  }

  /** Deferred messages by sequence number, locked (peek-lock) or removed (receive-and-delete). */
  receiveDeferred(
    sequenceNumbers: readonly number[],
    mode: ReceiveMode,
    sessionId?: string,
  ): BrokeredMessage[] {
    const messages = sequenceNumbers.map((sequenceNumber) => {
      const message = this.store.get(sequenceNumber);
      if (!message || message.state !== 'deferred' || message.lock) {
        throw new BrokerError(
          Condition.messageNotFound,
          `Failed to retrieve the deferred message with sequence number ${sequenceNumber}.`,
        );
      }
      if (sessionId !== undefined && message.sessionId !== sessionId) {
        throw new BrokerError(
          Condition.messageNotFound,
          `No deferred message ${sequenceNumber} in session ${sessionId}.`,
        );
      }
      return message;
    });
    for (const message of messages) {
      message.deliveryCount++;
      if (mode === 'receiveAndDelete') this.remove(message);
      else this.lock(message, undefined, undefined);
    }
    return messages;
  }

  // ---- sessions -----------------------------------------------------------------------------

  private lockSession(entry: SessionEntry, consumer: Consumer): void {
    entry.holder = consumer;
    this.consumerSession.set(consumer, entry);
    this.consumers.add(consumer);
    this.extendSessionLock(entry);
  }

  private extendSessionLock(entry: SessionEntry): void {
    entry.lockedUntil = Date.now() + this.owner.lockDurationMs();
    for (const message of this.locks.values()) {
      if (message.sessionId === entry.id && message.lock) message.lock.lockedUntil = entry.lockedUntil;
    }
    if (entry.lockTimer) clearTimeout(entry.lockTimer);
    entry.lockTimer = setTimeout(() => this.sessionLockExpired(entry), entry.lockedUntil - Date.now() + 1);
    entry.lockTimer.unref();
  }

  private sessionLockExpired(entry: SessionEntry): void {
    const holder = entry.holder;
    if (!holder || entry.lockedUntil > Date.now()) return;
    this.releaseSession(entry);
    holder.sessionLockLost?.();
  }

  /** The session is free again; messages locked under it become available (or are dead-lettered). */
  private releaseSession(entry: SessionEntry): void {
    const holder = entry.holder;
    if (holder) {
      this.consumerSession.delete(holder);
      this.consumers.delete(holder);
    }
    entry.holder = undefined;
    entry.lockedUntil = 0;
    if (entry.lockTimer) clearTimeout(entry.lockTimer);
    entry.lockTimer = undefined;
    for (const message of [...this.locks.values()]) {
      if (message.sessionId === entry.id && message.lock?.holder === holder) {
        this.unlock(message);
        this.returnOrDeadLetter(message);
      }
    }
    this.sessions.forgetIfIdle(entry);
    this.serveSessionWaiters();
  }

  /** Lock session `sessionId` for `consumer`; SessionCannotBeLocked if someone holds it. */
  acceptSession(sessionId: string, consumer: Consumer): number {
    const entry = this.sessions.entry(sessionId);
    if (isSessionLocked(entry)) {
      throw new BrokerError(
        Condition.sessionCannotBeLocked,
        `The requested session '${sessionId}' cannot be accepted. It may be locked by another receiver.`,
      );
    }
    if (entry.holder) this.releaseSession(entry);
    this.lockSession(entry, consumer);
    return entry.lockedUntil;
  }

  /** Lock the next session that has messages, waiting up to `timeoutMs` for one. */
  acceptNextSession(
    consumer: Consumer,
    timeoutMs: number,
  ): Promise<{ sessionId: string; lockedUntil: number }> {
    const entry = this.sessions.nextFree();
    if (entry) {
      this.lockSession(entry, consumer);
      return Promise.resolve({ sessionId: entry.id, lockedUntil: entry.lockedUntil });
    }
    return new Promise((resolve, reject) => {
      const waiter: SessionWaiter = {
        consumer,
        resolve: (sessionId) =>
          resolve({ sessionId, lockedUntil: this.sessions.get(sessionId)!.lockedUntil }),
        reject,
        timer: setTimeout(() => {
          const index = this.sessionWaiters.indexOf(waiter);
          if (index >= 0) this.sessionWaiters.splice(index, 1);
          reject(new BrokerError(Condition.timeout, 'No session available to accept within the timeout.'));
        }, timeoutMs),
      };
      waiter.timer.unref();
      this.sessionWaiters.push(waiter);
    });
  }

  private serveSessionWaiters(): void {
    while (this.sessionWaiters.length > 0) {
      const entry = this.sessions.nextFree();
      if (!entry) return;
      const waiter = this.sessionWaiters.shift()!;
      clearTimeout(waiter.timer);
      if (entry.holder) this.releaseSession(entry);
      this.lockSession(entry, waiter.consumer);
      waiter.resolve(entry.id);
    }
  }

  /** The session held by `consumer`, or SessionLockLost. */
  private heldSession(sessionId: string, consumer: Consumer | undefined): SessionEntry {
    const entry = this.sessions.get(sessionId);
    if (!entry || !isSessionLocked(entry) || (consumer && entry.holder !== consumer)) {
      throw new BrokerError(
        Condition.sessionLockLost,
        `The session lock of '${sessionId}' has expired or was lost.`,
      );
    }
    return entry;
  }

  renewSessionLock(sessionId: string, consumer: Consumer | undefined): number {
    const entry = this.heldSession(sessionId, consumer);
    this.extendSessionLock(entry);
    return entry.lockedUntil;
  }

  setSessionState(sessionId: string, consumer: Consumer | undefined, state: Buffer | undefined): void {
    const entry = this.heldSession(sessionId, consumer);
    entry.state = state;
    entry.updatedAt = Date.now();
  }

  getSessionState(sessionId: string, consumer: Consumer | undefined): Buffer | undefined {
    return this.heldSession(sessionId, consumer).state;
  }

  /** Sessions with messages or state, optionally only those updated since `since`. */
  listSessions(since: number, skip: number, top: number): string[] {
    return this.sessions.list(since, skip, top);
  }

  /** The session `consumer` holds. */
  sessionOf(consumer: Consumer): string | undefined {
    return this.consumerSession.get(consumer)?.id;
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  close(): void {
    this.locks.close();
    this.expiry.close();
    this.scheduled.close();
    for (const entry of this.sessions.values()) clearTimeout(entry.lockTimer);
    for (const waiter of this.sessionWaiters) {
      clearTimeout(waiter.timer);
      waiter.reject(entityNotFound(this.path));
    }
    this.sessionWaiters.length = 0;
  }
}
