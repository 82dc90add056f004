/**
 * One queue of messages (a queue's main queue or its dead-letter sub-queue): ordering, delivery to
 * consumers, peek-lock and its expiry, settlement, deferral, scheduling, time-to-live and sessions.
 * Owns no AMQP: consumers are whatever implements `Consumer`.
 */
import { randomUUID } from 'node:crypto';
import type { Message } from 'rhea';
import { BrokerError, Condition, entityNotFound } from './errors.js';
import type { BrokeredMessage } from './message.js';
import type { MessageStore } from './message-store.js';
import { ReadyIndex } from './ready-index.js';

export type ReceiveMode = 'peekLock' | 'receiveAndDelete';

export interface Consumer {
  readonly receiveMode: ReceiveMode;
  /** How many messages the consumer can take now. */
  availableCredit(): number;
  /** Hand a message over. In peek-lock mode it is locked to this consumer first. */
  deliver(message: BrokeredMessage): void;
  /** Told when the session this consumer holds lost its lock. */
  sessionLockLost?(): void;
}

export type Settlement =
  | { kind: 'complete' }
  | { kind: 'abandon'; propertiesToModify?: Record<string, unknown> }
  | { kind: 'defer'; propertiesToModify?: Record<string, unknown> }
  | {
      kind: 'deadLetter';
      reason?: string;
      description?: string;
      propertiesToModify?: Record<string, unknown>;
    };

/** What a queue needs from its owner: its settings and where dead letters and expired messages go. */
export interface QueueOwner {
  lockDurationMs(): number;
  /** 0 = unlimited (the dead-letter sub-queue). */
  maxDeliveryCount(): number;
  deadLetteringOnExpiration(): boolean;
  deadLetter(message: BrokeredMessage, reason: string, description: string): void;
}

interface SessionEntry {
  id: string;
  ready: ReadyIndex;
  state: Buffer | undefined;
  holder: Consumer | undefined;
  lockedUntil: number;
  lockTimer: NodeJS.Timeout | undefined;
  /** Messages of the session that are in the store (any state). */
  messageCount: number;
  updatedAt: number;
}

interface SessionWaiter {
  consumer: Consumer;
  resolve: (sessionId: string) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

const EXPIRY_SWEEP_MS = 500;

export class MessageQueue {
  private nextSequenceNumber = 1;
  private readonly ready = new ReadyIndex();
  private readonly sessions = new Map<string, SessionEntry>();
  private readonly sessionWaiters: SessionWaiter[] = [];
  /** Every locked message by lock token. */
  private readonly locks = new Map<string, BrokeredMessage>();
  /** Locked messages outside sessions, in lock-expiry order (a renewal moves one to the end). */
  private readonly lockExpiry = new Map<string, BrokeredMessage>();
  private lockTimer: NodeJS.Timeout | undefined;
  private readonly scheduled = new Map<number, NodeJS.Timeout>();
  private expiringCount = 0;
  /** No message expires before this (ms since the epoch): sweeps before then have nothing to do. */
  private earliestExpiry = Infinity;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly consumers = new Set<Consumer>();
  /** The session each session consumer holds. */
  private readonly consumerSession = new Map<Consumer, SessionEntry>();
  private dispatching = false;
  private redispatch = false;
  private closed = false;

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
    if (brokered.sessionId !== undefined) this.sessionEntry(brokered.sessionId).messageCount++;
    if (options.scheduledAt !== undefined && options.scheduledAt > now) {
      brokered.state = 'scheduled';
      brokered.scheduledAt = options.scheduledAt;
      brokered.expiresAt = Infinity; // the time-to-live starts when the message is enqueued
      const timer = setTimeout(
        () => this.activateScheduled(brokered.sequenceNumber, options.ttlMs),
        options.scheduledAt - now,
      );
      timer.unref();
      this.scheduled.set(brokered.sequenceNumber, timer);
      return brokered;
    }
    this.noteExpiry(brokered);
    this.makeReady(brokered);
    this.dispatch();
    return brokered;
  }

  private activateScheduled(sequenceNumber: number, ttlMs: number): void {
    this.scheduled.delete(sequenceNumber);
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
      const timer = this.scheduled.get(sequenceNumber);
      if (!timer) continue;
      clearTimeout(timer);
      this.scheduled.delete(sequenceNumber);
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
    // randomUUID draws from a cached entropy pool: far cheaper per message than randomBytes.
    const token = randomUUID().replaceAll('-', '');
    const lockedUntil = session ? session.lockedUntil : Date.now() + this.owner.lockDurationMs();
    message.lock = { token, lockedUntil, holder };
    this.locks.set(token, message);
    if (!session) {
      this.lockExpiry.set(token, message);
      this.scheduleLockSweep();
    }
  }

  private unlock(message: BrokeredMessage): void {
    if (!message.lock) return;
    this.locks.delete(message.lock.token);
    this.lockExpiry.delete(message.lock.token);
    message.lock = undefined;
  }

  private scheduleLockSweep(): void {
    if (this.lockTimer || this.closed) return;
    const first = this.lockExpiry.values().next();
    if (first.done) return;
    const delay = Math.max(0, first.value.lock!.lockedUntil - Date.now()) + 1;
    this.lockTimer = setTimeout(() => {
      this.lockTimer = undefined;
      this.sweepLocks();
    }, delay);
    this.lockTimer.unref();
  }

  private sweepLocks(): void {
    const now = Date.now();
    for (const message of this.lockExpiry.values()) {
      if (message.lock!.lockedUntil > now) break;
      this.lockExpired(message);
    }
    this.scheduleLockSweep();
    this.dispatch();
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
      const entry = this.sessionEntry(message.sessionId);
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
    if (Number.isFinite(message.expiresAt)) this.expiringCount--;
    if (message.sessionId !== undefined) {
      const entry = this.sessions.get(message.sessionId);
      if (entry) {
        entry.messageCount--;
        this.forgetSessionIfIdle(entry);
      }
    }
  }

  // ---- time-to-live -------------------------------------------------------------------------

  private noteExpiry(message: BrokeredMessage): void {
    if (!Number.isFinite(message.expiresAt)) return;
    this.expiringCount++;
    this.earliestExpiry = Math.min(this.earliestExpiry, message.expiresAt);
    if (!this.expiryTimer && !this.closed) {
      this.expiryTimer = setInterval(() => this.sweepExpired(), EXPIRY_SWEEP_MS);
      this.expiryTimer.unref();
    }
  }

  /** Expired messages that are not locked leave the queue (to the dead-letter queue if so configured). */
  private sweepExpired(): void {
    if (this.expiringCount <= 0) {
      clearInterval(this.expiryTimer);
      this.expiryTimer = undefined;
      return;
    }
    const now = Date.now();
    if (now < this.earliestExpiry) return;
    const isExpired = (m: BrokeredMessage) => m.expiresAt <= now;
    for (const message of this.ready.removeWhere(isExpired)) this.expire(message);
    for (const entry of [...this.sessions.values()]) {
      for (const message of entry.ready.removeWhere(isExpired)) this.expire(message);
    }
    this.earliestExpiry = Infinity;
    for (const message of [...this.store.values()]) {
      if (message.state === 'deferred' && !message.lock && isExpired(message)) this.expire(message);
      else if (message.state !== 'scheduled')
        this.earliestExpiry = Math.min(this.earliestExpiry, message.expiresAt);
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
    message.lock!.lockedUntil = Date.now() + this.owner.lockDurationMs();
    this.lockExpiry.delete(token);
    this.lockExpiry.set(token, message);
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

  private sessionEntry(id: string): SessionEntry {
    let entry = this.sessions.get(id);
    if (!entry) {
      entry = {
        id,
        ready: new ReadyIndex(),
        state: undefined,
        holder: undefined,
        lockedUntil: 0,
        lockTimer: undefined,
        messageCount: 0,
        updatedAt: Date.now(),
      };
      this.sessions.set(id, entry);
    }
    return entry;
  }

  private forgetSessionIfIdle(entry: SessionEntry): void {
    if (entry.messageCount <= 0 && !entry.holder && entry.state === undefined) this.sessions.delete(entry.id);
  }

  private isLocked(entry: SessionEntry): boolean {
    return entry.holder !== undefined && entry.lockedUntil > Date.now();
  }

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
    this.forgetSessionIfIdle(entry);
    this.serveSessionWaiters();
  }

  /** Lock session `sessionId` for `consumer`; SessionCannotBeLocked if someone holds it. */
  acceptSession(sessionId: string, consumer: Consumer): number {
    const entry = this.sessionEntry(sessionId);
    if (this.isLocked(entry)) {
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
    const entry = this.nextFreeSession();
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

  private nextFreeSession(): SessionEntry | undefined {
    for (const entry of this.sessions.values()) {
      if (entry.ready.size > 0 && !this.isLocked(entry)) return entry;
    }
    return undefined;
  }

  private serveSessionWaiters(): void {
    while (this.sessionWaiters.length > 0) {
      const entry = this.nextFreeSession();
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
    if (!entry || !this.isLocked(entry) || (consumer && entry.holder !== consumer)) {
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
    return [...this.sessions.values()]
      .filter((entry) => (entry.messageCount > 0 || entry.state !== undefined) && entry.updatedAt >= since)
      .map((entry) => entry.id)
      .slice(skip, skip + top);
  }

  /** The session `consumer` holds. */
  sessionOf(consumer: Consumer): string | undefined {
    return this.consumerSession.get(consumer)?.id;
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  close(): void {
    this.closed = true;
    clearTimeout(this.lockTimer);
    clearInterval(this.expiryTimer);
    for (const timer of this.scheduled.values()) clearTimeout(timer);
    for (const entry of this.sessions.values()) clearTimeout(entry.lockTimer);
    for (const waiter of this.sessionWaiters) {
      clearTimeout(waiter.timer);
      waiter.reject(entityNotFound(this.path));
    }
    this.sessionWaiters.length = 0;
  }
}
