/**
 * The messages available for delivery, in sequence-number order. New messages append; an abandoned
 * message or one whose lock expired goes back to its place, so it is delivered before later ones.
 */
import type { BrokeredMessage } from './message.js';

export class ReadyIndex {
  private items: BrokeredMessage[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  add(message: BrokeredMessage): void {
    const last = this.items[this.items.length - 1];
    if (this.size === 0 || !last || last.sequenceNumber < message.sequenceNumber) {
      this.items.push(message);
      return;
    }
    let low = this.head;
    let high = this.items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.items[middle]!.sequenceNumber < message.sequenceNumber) low = middle + 1;
      else high = middle;
    }
    this.items.splice(low, 0, message);
  }

  peek(): BrokeredMessage | undefined {
    return this.items[this.head];
  }

  shift(): BrokeredMessage | undefined {
    if (this.head >= this.items.length) return undefined;
    const message = this.items[this.head];
    this.items[this.head] = undefined as unknown as BrokeredMessage; // release the reference
    this.head++;
    // Compact now and then so that the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return message;
  }

  /** Remove every message for which `predicate` holds; returns them. */
  removeWhere(predicate: (message: BrokeredMessage) => boolean): BrokeredMessage[] {
    const removed: BrokeredMessage[] = [];
    const kept: BrokeredMessage[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const message = this.items[i]!;
      (predicate(message) ? removed : kept).push(message);
    }
    this.items = kept;
    this.head = 0;
    return removed;
  }

  values(): BrokeredMessage[] {
    return this.items.slice(this.head);
  }
}
