/**
 * Paces Key Vault key creations (a rotation is a creation): Key Vault allows 10 per 10 s per vault
 * for HSM keys and 20 for software keys, and answers 429 beyond. The timer keeps under a share of
 * that in a sliding window, and waits as long as a 429's Retry-After says before the next one.
 * Per instance: two instances rolling at once each keep under the share, which is why the share
 * is 80%, not 100% — and a 429 that still comes is waited out and retried, not an error.
 */

export interface CreationPacerOptions {
  /** Creations allowed per window. */
  limit: number;
  windowMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Key Vault's creation limits per 10 s (Azure Key Vault service limits). */
export const KEY_VAULT_CREATIONS_PER_10S = { hsm: 10, software: 20 } as const;
const SHARE = 0.8;

export function keyVaultCreationPacer(protection: 'hsm' | 'software'): CreationPacer {
  return new CreationPacer({
    limit: Math.max(1, Math.floor(KEY_VAULT_CREATIONS_PER_10S[protection] * SHARE)),
    windowMs: 10_000,
  });
}

export class CreationPacer {
  private readonly starts: number[] = [];
  private notBefore = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: CreationPacerOptions) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Resolves when one more creation may start; callers are served in order. */
  take(): Promise<void> {
    const turn = this.queue.then(() => this.wait());
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Key Vault said 429: nothing starts before Retry-After has passed. */
  throttled(retryAfterMs: number): void {
    this.notBefore = Math.max(this.notBefore, this.now() + retryAfterMs);
  }

  private async wait(): Promise<void> {
    for (;;) {
      const now = this.now();
      while (this.starts.length && this.starts[0]! <= now - this.options.windowMs) this.starts.shift();
      const until = Math.max(
        this.notBefore,
        this.starts.length >= this.options.limit ? this.starts[0]! + this.options.windowMs : 0,
      );
      if (until <= now) break;
      await this.sleep(until - now);
    }
    this.starts.push(this.now());
  }
}
