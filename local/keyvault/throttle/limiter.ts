/**
 * Key Vault's service limits, as a sliding window per vault. Key Vault weighs its thresholds and
 * enforces their sum: within one window a vault takes either 4,000 operations on RSA 2048 software
 * keys, or 2,000 on HSM keys, or any mix whose shares add up to one whole (124 RSA 4096 HSM operations
 * and 8 RSA 2048 HSM ones, in its own example). Key creation has its own budget on the same terms: 20
 * software keys, or 10 HSM keys, or a mix; a rotation is a creation. A request that would overdraw a
 * budget is answered 429, and refused requests do not count (Key Vault's throttling guidance).
 */

export type ThrottleCategory = 'operations' | 'hsmOperations' | 'creates' | 'hsmCreates';

export interface ThrottleOptions {
  /** Window length. Default 10 s (Key Vault's). */
  windowMs?: number;
  /**
   * Limits per window for RSA 2048-bit and EC keys; larger RSA keys cost more (3072-bit 4 times,
   * 4096-bit 8 times), as in Key Vault's table. Defaults are Key Vault's.
   */
  limits?: Partial<Record<ThrottleCategory, number>>;
  /**
   * Send `Retry-After` (whole seconds) with a 429. Key Vault's vaults do not: their 429 carries no
   * Retry-After, and its guidance is exponential back-off (1, 2, 4, 8, 16 s). Default false; on, it
   * lets a test exercise a client's Retry-After path (the Azure SDK then retries by itself).
   */
  retryAfter?: boolean;
}

export const DEFAULT_THROTTLE_LIMITS: Readonly<Record<ThrottleCategory, number>> = {
  operations: 4000,
  hsmOperations: 2000,
  creates: 20,
  hsmCreates: 10,
};

const DEFAULT_WINDOW_MS = 10_000;
/** Shares are fractions of one budget; this absorbs the rounding of their sum. */
const EPSILON = 1e-9;

type Budget = 'creates' | 'operations';

function budgetOf(category: ThrottleCategory): Budget {
  return category === 'creates' || category === 'hsmCreates' ? 'creates' : 'operations';
}

interface Spent {
  at: number;
  share: number;
}

export class ThrottleLimiter {
  private readonly windowMs: number;
  private readonly limits: Record<ThrottleCategory, number>;
  readonly sendsRetryAfter: boolean;
  private readonly spent: Record<Budget, Spent[]> = { creates: [], operations: [] };
  private readonly total: Record<Budget, number> = { creates: 0, operations: 0 };
  private refusedCount = 0;

  constructor(options: ThrottleOptions = {}) {
    this.windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.limits = { ...DEFAULT_THROTTLE_LIMITS, ...options.limits };
    this.sendsRetryAfter = options.retryAfter ?? false;
    for (const [category, limit] of Object.entries(this.limits)) {
      if (!Number.isInteger(limit) || limit < 1)
        throw new RangeError(`throttle limit ${category} must be a positive integer`);
    }
    if (!(this.windowMs > 0)) throw new RangeError('throttle windowMs must be positive');
  }

  /**
   * Counts a request of `category` whose cost is `weight` times the category's unit (4 or 8 for large
   * RSA keys). Returns undefined if admitted, or the whole seconds until it would be (at least 1).
   */
  admit(category: ThrottleCategory, now = Date.now(), weight = 1): number | undefined {
    const budget = budgetOf(category);
    const entries = this.spent[budget];
    const cutoff = now - this.windowMs;
    let expired = 0;
    while (expired < entries.length && entries[expired]!.at <= cutoff) {
      this.total[budget] -= entries[expired]!.share;
      expired++;
    }
    if (expired > 0) entries.splice(0, expired);
    if (entries.length === 0) this.total[budget] = 0;
    const share = weight / this.limits[category];
    if (this.total[budget] + share <= 1 + EPSILON) {
      entries.push({ at: now, share });
      this.total[budget] += share;
      return undefined;
    }
    this.refusedCount++;
    // The request fits once enough of the oldest spending has left the window.
    let remaining = this.total[budget];
    let freesAt = now + this.windowMs;
    for (const entry of entries) {
      remaining -= entry.share;
      if (remaining + share <= 1 + EPSILON) {
        freesAt = entry.at + this.windowMs;
        break;
      }
    }
    return Math.max(1, Math.ceil((freesAt - now) / 1000));
  }

  /** How many requests were refused since start. */
  refused(): number {
    return this.refusedCount;
  }
}
