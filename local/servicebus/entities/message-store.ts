/**
 * Where a queue keeps its messages, by sequence number: the seam for persistence. The queue's indexes
 * (ready order, locks, sessions, timers) live in the queue itself; a persistent store would also need
 * the queue to rebuild them from `values()` at start, which the in-memory emulator does not do yet.
 */
import type { BrokeredMessage } from './message.js';

export interface MessageStore {
  add(message: BrokeredMessage): void;
  get(sequenceNumber: number): BrokeredMessage | undefined;
  delete(sequenceNumber: number): boolean;
  /** Every message in sequence-number order. */
  values(): IterableIterator<BrokeredMessage>;
  readonly count: number;
  readonly sizeInBytes: number;
}

/** Messages in memory: a restart loses them. */
export class InMemoryMessageStore implements MessageStore {
  // A Map iterates in insertion order, which is sequence-number order because numbers only grow.
  private readonly messages = new Map<number, BrokeredMessage>();
  private bytes = 0;

  add(message: BrokeredMessage): void {
    this.messages.set(message.sequenceNumber, message);
    this.bytes += message.size;
  }

  get(sequenceNumber: number): BrokeredMessage | undefined {
    return this.messages.get(sequenceNumber);
  }

  delete(sequenceNumber: number): boolean {
    const message = this.messages.get(sequenceNumber);
    if (!message) return false;
    this.messages.delete(sequenceNumber);
    this.bytes -= message.size;
    return true;
  }

  values(): IterableIterator<BrokeredMessage> {
    return this.messages.values();
  }

  get count(): number {
    return this.messages.size;
  }

  get sizeInBytes(): number {
    return this.bytes;
  }
}

export type MessageStoreFactory = () => MessageStore;
