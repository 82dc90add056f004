/**
 * Refusals this instance has answered, remembered until their Retry-After: a flood on one tenant or
 * user is then refused from memory, without reading the table again. This never admits anything the
 * table would refuse; and it refuses nothing the table would admit, because a counter only frees up as
 * time passes (refused attempts do not count, and an admitted one only adds), which is exactly what the
 * Retry-After was computed from. A few concurrent requests may admit earlier on a stale read; the
 * memory only delays this instance to the computed time.
 */
export class RecentRefusals {
  private readonly until = new Map<string, number>();

  constructor(private readonly capacity = 10_000) {}

  /** Milliseconds `counter` stays refused as of `nowMs`; 0 when it is not known to be refused. */
  remaining(counter: string, nowMs: number): number {
    const until = this.until.get(counter);
    if (until === undefined) return 0;
    if (until > nowMs) return until - nowMs;
    this.until.delete(counter);
    return 0;
  }

  remember(counter: string, untilMs: number, nowMs: number): void {
    if (this.until.size >= this.capacity) {
      for (const [key, until] of this.until) if (until <= nowMs) this.until.delete(key);
      // Still full: forget the oldest entry (a Map iterates in insertion order).
      const oldest = this.until.keys().next();
      if (this.until.size >= this.capacity && !oldest.done) this.until.delete(oldest.value);
    }
    this.until.delete(counter);
    this.until.set(counter, untilMs);
  }
}
