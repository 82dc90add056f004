/** What a queue of messages delivers to, how a delivery is settled, and what the queue asks of its owner. */
import type { BrokeredMessage } from './message.js';

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
