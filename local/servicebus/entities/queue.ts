/**
 * A queue entity: its description, its main queue and dead-letter sub-queue, and what happens to a
 * message on the way in (status, quota, duplicate detection, time-to-live, scheduling, auto-forwarding).
 */
import type { Message } from 'rhea';
import { BrokerError, Condition, entityNotFound } from './errors.js';
import type { BrokeredMessage } from './message.js';
import type { MessageStoreFactory } from './message-store.js';
import { MessageQueue, type QueueOwner } from './message-queue.js';
import type { QueueProperties } from './queue-properties.js';

export const DEAD_LETTER_SUFFIX = '$DeadLetterQueue';
export const TRANSFER_DEAD_LETTER_SUFFIX = '$Transfer/$DeadLetterQueue';
const SCHEDULED_ENQUEUE_TIME = 'x-opt-scheduled-enqueue-time';
/** Service Bus stops an auto-forwarding chain after 4 hops. */
const MAX_FORWARD_HOPS = 4;
/** The AMQP header's ttl is a uint (ms); longer times-to-live are left off the wire. */
const MAX_HEADER_TTL_MS = 0xffff_ffff;

/** How a queue reaches the other queues of its namespace (for auto-forwarding). */
export interface QueueDirectory {
  queue(name: string): QueueEntity | undefined;
}

export interface RuntimeCounts {
  activeMessageCount: number;
  deadLetterMessageCount: number;
  scheduledMessageCount: number;
  totalMessageCount: number;
  sizeInBytes: number;
}

export class QueueEntity {
  readonly main: MessageQueue;
  readonly deadLetter: MessageQueue;
  /**
   * Where Service Bus puts messages it failed to auto-forward. Here forwarding happens as the message
   * arrives and a failure is reported to the sender, so it stays empty; it exists so receivers can open it.
   */
  readonly transferDeadLetter: MessageQueue;
  readonly createdAt = new Date();
  updatedAt = new Date();
  accessedAt = new Date();
  /** message id → when it was first seen, in arrival order (for pruning). */
  private readonly seenMessageIds = new Map<string, number>();

  constructor(
    readonly name: string,
    public properties: QueueProperties,
    storeFactory: MessageStoreFactory,
    private readonly directory: QueueDirectory,
  ) {
    this.main = new MessageQueue(
      name,
      storeFactory(),
      {
        lockDurationMs: () => this.properties.lockDurationMs,
        maxDeliveryCount: () => this.properties.maxDeliveryCount,
        deadLetteringOnExpiration: () => this.properties.deadLetteringOnMessageExpiration,
        deadLetter: (message, reason, description) => this.moveToDeadLetter(message, reason, description),
      },
      properties.requiresSession,
    );
    // Dead-letter sub-queues: no delivery limit, no expiry, nowhere further to dead-letter to.
    const subQueueOwner: QueueOwner = {
      lockDurationMs: () => this.properties.lockDurationMs,
      maxDeliveryCount: () => 0,
      deadLetteringOnExpiration: () => false,
      deadLetter: () => undefined,
    };
    this.deadLetter = new MessageQueue(`${name}/${DEAD_LETTER_SUFFIX}`, storeFactory(), subQueueOwner, false);
    this.transferDeadLetter = new MessageQueue(
      `${name}/${TRANSFER_DEAD_LETTER_SUFFIX}`,
      storeFactory(),
      subQueueOwner,
      false,
    );
  }

  assertCanSend(): void {
    const status = this.properties.status;
    if (status === 'Disabled' || status === 'SendDisabled') {
      throw new BrokerError(
        Condition.entityDisabled,
        `Messaging entity '${this.name}' is currently disabled for sending.`,
      );
    }
  }

  assertCanReceive(): void {
    const status = this.properties.status;
    if (status === 'Disabled' || status === 'ReceiveDisabled') {
      throw new BrokerError(
        Condition.entityDisabled,
        `Messaging entity '${this.name}' is currently disabled for receiving.`,
      );
    }
  }

  /**
   * Take in a message sent to this queue. Returns the brokered message, or undefined when duplicate
   * detection dropped it (Service Bus accepts a duplicate and discards it).
   */
  accept(message: Message, size: number, hops = 0): BrokeredMessage | undefined {
    this.assertCanSend();
    this.accessedAt = new Date();
    if (this.properties.requiresSession && (message.group_id === undefined || message.group_id === null)) {
      throw new BrokerError(
        Condition.notAllowed,
        `The SessionId was not set on a message, and it cannot be sent to the entity '${this.name}'. Entities that have session support enabled can only receive messages that have the SessionId set to a valid value.`,
      );
    }
    if (this.isDuplicate(message)) return undefined;
    const forwardTo = this.properties.forwardTo;
    if (forwardTo && hops < MAX_FORWARD_HOPS) {
      const target = this.directory.queue(forwardTo);
      if (!target) throw entityNotFound(forwardTo);
      return target.accept(message, size, hops + 1);
    }
    const quota = this.properties.maxSizeInMegabytes * 1024 * 1024;
    if (this.main.sizeInBytes + this.deadLetter.sizeInBytes + size > quota) {
      throw new BrokerError(
        Condition.resourceLimitExceeded,
        `The maximum entity size has been reached or exceeded for Queue: '${this.name}'. Size of entity in bytes:${this.main.sizeInBytes + this.deadLetter.sizeInBytes}, Max entity size in bytes: ${quota}.`,
      );
    }
    const ttlMs = this.effectiveTtl(message);
    const scheduled = message.message_annotations?.[SCHEDULED_ENQUEUE_TIME] as unknown;
    const scheduledAt =
      scheduled instanceof Date ? scheduled.getTime() : typeof scheduled === 'number' ? scheduled : undefined;
    return this.main.enqueue(message, { size, ttlMs, scheduledAt });
  }

  /** The message's time-to-live lowered to the queue's default; the header says what applies. */
  private effectiveTtl(message: Message): number {
    const requested = typeof message.ttl === 'number' && message.ttl > 0 ? message.ttl : Infinity;
    const ttl = Math.min(requested, this.properties.defaultMessageTimeToLiveMs);
    if (ttl < requested && ttl <= MAX_HEADER_TTL_MS) {
      message.ttl = ttl;
      // The SDK reads the time-to-live as absolute expiry minus creation time when both are present.
      if (message.creation_time instanceof Date) {
        message.absolute_expiry_time = new Date(message.creation_time.getTime() + ttl);
      }
    }
    return ttl;
  }

  private isDuplicate(message: Message): boolean {
    if (!this.properties.requiresDuplicateDetection || message.message_id === undefined) return false;
    const id = Buffer.isBuffer(message.message_id)
      ? message.message_id.toString('hex')
      : String(message.message_id);
    const now = Date.now();
    const horizon = now - this.properties.duplicateDetectionHistoryTimeWindowMs;
    for (const [seenId, seenAt] of this.seenMessageIds) {
      if (seenAt > horizon) break;
      this.seenMessageIds.delete(seenId);
    }
    if (this.seenMessageIds.has(id)) return true;
    this.seenMessageIds.set(id, now);
    return false;
  }

  private moveToDeadLetter(message: BrokeredMessage, reason: string, description: string): void {
    const copy: Message = {
      ...message.message,
      application_properties: {
        ...(message.message.application_properties ?? {}),
        DeadLetterReason: reason,
        DeadLetterErrorDescription: description,
      },
    };
    const forwardTo = this.properties.forwardDeadLetteredMessagesTo;
    const target = forwardTo ? this.directory.queue(forwardTo) : undefined;
    if (target) {
      try {
        target.accept(copy, message.size, 1);
        return;
      } catch {
        // The forwarding target refused it: keep it in our own dead-letter queue instead.
      }
    }
    this.deadLetter.enqueue(copy, { size: message.size, ttlMs: Infinity, deadLetterSource: undefined });
  }

  /** The sub-queue at `path` relative to this queue: '' for the main queue, '$DeadLetterQueue'. */
  subQueue(subPath: string): MessageQueue | undefined {
    if (subPath === '') return this.main;
    if (subPath.toLowerCase() === DEAD_LETTER_SUFFIX.toLowerCase()) return this.deadLetter;
    if (subPath.toLowerCase() === TRANSFER_DEAD_LETTER_SUFFIX.toLowerCase()) return this.transferDeadLetter;
    return undefined;
  }

  runtimeCounts(): RuntimeCounts {
    const scheduled = this.main.scheduledCount;
    const active = this.main.messageCount - scheduled;
    const deadLetters = this.deadLetter.messageCount;
    return {
      activeMessageCount: active,
      deadLetterMessageCount: deadLetters,
      scheduledMessageCount: scheduled,
      totalMessageCount: active + deadLetters + scheduled,
      sizeInBytes: this.main.sizeInBytes + this.deadLetter.sizeInBytes,
    };
  }

  close(): void {
    this.main.close();
    this.deadLetter.close();
    this.transferDeadLetter.close();
  }
}
