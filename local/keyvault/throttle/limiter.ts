/**
 * Key Vault's service limits, as a sliding window per vault: when a category's count within the window
 * reaches its limit, requests are answered 429 with Retry-After until the oldest one leaves the window.
 * Refused requests count too, as Key Vault documents.
 */

export type ThrottleCategory = 'operations' | 'hsmOperations' | 'creates' | 'hsmCreates';

export interface ThrottleOptions {
  /** Window length. Default 10 s (Key Vault's). */
  windowMs?: number;
  /** Limits per window; defaults are Key Vault's for RSA 2048-bit keys. */
  limits?: Partial<Record<ThrottleCategory, number>>;
}

export const DEFAULT_THROTTLE_LIMITS: Readonly<Record<ThrottleCategory, number>> = {
  operations: 4000,
  hsmOperations: 2000,
  creates: 20,
  hsmCreates: 10,
};

const DEFAULT_WINDOW_MS = 10_000;

export class ThrottleLimiter {
  private readonly windowMs: number;
  private readonly limits: Record<ThrottleCategory, number>;
  private readonly arrivals = new Map<ThrottleCategory, number[]>();
  private refusedCount = 0;

  constructor(options: ThrottleOptions = {}) {
    this.windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.limits = { ...DEFAULT_THROTTLE_LIMITS, ...options.limits };
    for (const [category, limit] of Object.entries(this.limits)) {
      if (!Number.isInteger(limit) || limit < 1)
        throw new RangeError(`throttle limit ${category} must be a positive integer`);
    }
    if (!(this.windowMs > 0)) throw new RangeError('throttle windowMs must be positive');
  }

  /** Counts a request; returns undefined if admitted, or the seconds to wait (Retry-After) if refused. */
  admit(category: ThrottleCategory, now = Date.now()): number | undefined {
    let times = this.arrivals.get(category);
    if (!times) this.arrivals.set(category, (times = []));
    const cutoff = now - this.windowMs;
    let expired = 0;
    while (expired < times.length && times[expired]! <= cutoff) expired++;
    if (expired > 0) times.splice(0, expired);
    const limit = this.limits[category];
    const admitted = times.length < limit;
    times.push(now);
    if (admitted) return undefined;
    this.refusedCount++;
    // A later request is admitted once all but `limit - 1` of these have left the window.
    const freesAt = times[times.length - limit]! + this.windowMs;
    return Math.max(1, Math.ceil((freesAt - now) / 1000));
  }

  /** How many requests were refused since start. */
  refused(): number {
    return this.refusedCount;
  }
}
