/** A message as the broker holds it: the client's AMQP message plus the broker's own state. */
import type { Message } from 'rhea';

export type MessageState = 'active' | 'deferred' | 'scheduled';

export interface MessageLock {
  /** The lock token as the SDK sends it back in management requests (uuid, canonical bytes), hex. */
  token: string;
  lockedUntil: number;
  /** Who holds the lock: a receiver link, or undefined for a message received through $management. */
  holder: object | undefined;
}

export interface BrokeredMessage {
  sequenceNumber: number;
  /** The message as the client sent it (broker annotations are added on the way out). */
  message: Message;
  /** Encoded size in bytes, as sent. */
  size: number;
  enqueuedAt: number;
  /** When the time-to-live runs out (ms since the epoch); Infinity for never. */
  expiresAt: number;
  sessionId: string | undefined;
  /** Deliveries so far (a delivery in progress counts once it has been handed over). */
  deliveryCount: number;
  state: MessageState;
  scheduledAt: number | undefined;
  lock: MessageLock | undefined;
  deadLetterSource: string | undefined;
}
