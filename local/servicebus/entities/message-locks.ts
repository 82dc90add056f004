/** Peek-lock bookkeeping of one queue: lock tokens, and the expiry of locks outside sessions. */
import { randomUUID } from 'node:crypto';
import type { Consumer } from './consumer.js';
import type { BrokeredMessage } from './message.js';

export interface LockExpiryHandler {
  /** A lock outside a session ran out (the message is still marked locked). */
  expired(message: BrokeredMessage): void;
  /** Called after each sweep of expired locks. */
  swept(): void;
}

export class MessageLocks {
  /** Every locked message by lock token. */
  private readonly byToken = new Map<string, BrokeredMessage>();
  /** Locked messages outside sessions, in lock-expiry order (a renewal moves one to the end). */
  private readonly expiring = new Map<string, BrokeredMessage>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly handler: LockExpiryHandler) {}

  /** Locks `message` until `lockedUntil`; a lock outside a session (`expires`) is swept when it runs out. */
  lock(message: BrokeredMessage, holder: Consumer | undefined, lockedUntil: number, expires: boolean): void {
    // randomUUID draws from a cached entropy pool: far cheaper per message than randomBytes.
    const token = randomUUID().replaceAll('-', '');
    message.lock = { token, lockedUntil, holder };
    this.byToken.set(token, message);
    if (expires) {
      this.expiring.set(token, message);
      this.scheduleSweep();
    }
  }

  unlock(message: BrokeredMessage): void {
    if (!message.lock) return;
    this.byToken.delete(message.lock.token);
    this.expiring.delete(message.lock.token);
    message.lock = undefined;
  }

  get(token: string): BrokeredMessage | undefined {
    return this.byToken.get(token);
  }

  values(): IterableIterator<BrokeredMessage> {
    return this.byToken.values();
  }

  /** A lock outside a session runs until `lockedUntil` now. */
  renew(message: BrokeredMessage, lockedUntil: number): void {
    const lock = message.lock!;
    lock.lockedUntil = lockedUntil;
    this.expiring.delete(lock.token);
    this.expiring.set(lock.token, message);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private scheduleSweep(): void {
    if (this.timer || this.closed) return;
    const first = this.expiring.values().next();
    if (first.done) return;
    const delay = Math.max(0, first.value.lock!.lockedUntil - Date.now()) + 1;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sweep();
    }, delay);
    this.timer.unref();
  }

  private sweep(): void {
    const now = Date.now();
    for (const message of this.expiring.values()) {
      if (message.lock!.lockedUntil > now) break;
      this.handler.expired(message);
    }
    this.scheduleSweep();
    this.handler.swept();
  }
}
