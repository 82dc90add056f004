/** Messages sent with a scheduled enqueue time: one timer each until they become active. */
export class ScheduledMessages {
  private readonly timers = new Map<number, NodeJS.Timeout>();

  get size(): number {
    return this.timers.size;
  }

  /** Calls `activate` after `delayMs`, unless cancelled before. */
  add(sequenceNumber: number, delayMs: number, activate: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(sequenceNumber);
      activate();
    }, delayMs);
    timer.unref();
    this.timers.set(sequenceNumber, timer);
  }

  /** False when `sequenceNumber` is not (or no longer) waiting. */
  cancel(sequenceNumber: number): boolean {
    const timer = this.timers.get(sequenceNumber);
    if (!timer) return false;
    clearTimeout(timer);
    this.timers.delete(sequenceNumber);
    return true;
  }

  close(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
  }
}
