/** When a queue sweeps out messages whose time-to-live ran out: only while some can expire, and not before the first can. */

const EXPIRY_SWEEP_MS = 500;

export class ExpiryClock {
  private expiringCount = 0;
  /** No message expires before this (ms since the epoch): sweeps before then have nothing to do. */
  private earliestExpiry = Infinity;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  /** `sweep(now)` removes what expired and tells the clock, through restart() and note(), what is left. */
  constructor(private readonly sweep: (now: number) => void) {}

  /** A message that expires at `expiresAt` (Infinity: never) is in the queue. */
  note(expiresAt: number): void {
    if (!Number.isFinite(expiresAt)) return;
    this.expiringCount++;
    this.consider(expiresAt);
    if (!this.timer && !this.closed) {
      this.timer = setInterval(() => this.tick(), EXPIRY_SWEEP_MS);
      this.timer.unref();
    }
  }

  /** A message noted before left the queue. */
  forget(expiresAt: number): void {
    if (Number.isFinite(expiresAt)) this.expiringCount--;
  }

  /** During a sweep: forget the earliest expiry; consider() each message that is left. */
  restart(): void {
    this.earliestExpiry = Infinity;
  }

  consider(expiresAt: number): void {
    this.earliestExpiry = Math.min(this.earliestExpiry, expiresAt);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }

  private tick(): void {
    if (this.expiringCount <= 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    const now = Date.now();
    if (now < this.earliestExpiry) return;
    this.sweep(now);
  }
}
