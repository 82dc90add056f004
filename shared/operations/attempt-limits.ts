/**
 * The rate limits of the password routes (per user and per tenant, held across instances):
 * every operation counts against its target user and its tenant, and a change also against the
 * user's change attempts, which is what stops guessing of currentPassword.
 */
import type { RateLimit, RateLimitCheck, RateLimiter } from '../ratelimit/index.js';
import type { OperationKind, UserIdentifier, Logger } from '../domain/index.js';

/** Counts one attempt against the rate limits; throws 429 RateLimited when one is exhausted. */
export interface AttemptLimiter {
  consume(tenantId: string, user: UserIdentifier, kind: OperationKind, log?: Logger): Promise<void>;
}

export interface AttemptLimits {
  perUser: RateLimit;
  changePerUser: RateLimit;
  perTenant: RateLimit;
}

export function attemptLimiter(limiter: Pick<RateLimiter, 'consume'>, limits: AttemptLimits): AttemptLimiter {
  return {
    consume(tenantId: string, user: UserIdentifier, kind: OperationKind, log?: Logger): Promise<void> {
      const key = `${user.kind}:${user.value}`;
      const checks: RateLimitCheck[] = [
        { scope: 'user', tenantId, key, limit: limits.perUser },
        ...(kind === 'change'
          ? [{ scope: 'change' as const, tenantId, key, limit: limits.changePerUser }]
          : []),
        { scope: 'tenant', tenantId, key: tenantId, limit: limits.perTenant },
      ];
      return limiter.consume(checks, log);
    },
  };
}
