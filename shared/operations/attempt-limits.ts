/**
 * The rate limits of the password routes (per user and per tenant, held across instances):
 * every operation counts against its target user and its tenant, and a change also against the
 * user's change attempts, which is what stops guessing of currentPassword.
 */
import type { TransactionAction } from '@azure/data-tables';
import type { LimitAdmission, RateLimit, RateLimitCheck, RateLimiter } from '../ratelimit/index.js';
import type { OperationKind, UserIdentifier, Logger } from '../domain/index.js';

/**
 * The rate limits of one attempt: `admit` assesses it (429 RateLimited when a limit is exhausted),
 * `commit` counts it together with the rows the attempt creates, in one transaction.
 */
export interface AttemptLimiter {
  admit(tenantId: string, user: UserIdentifier, kind: OperationKind, log?: Logger): Promise<LimitAdmission>;
  commit(admission: LimitAdmission, alsoWrite: readonly TransactionAction[], log?: Logger): Promise<void>;
}

export interface AttemptLimits {
  perUser: RateLimit;
  changePerUser: RateLimit;
  perTenant: RateLimit;
}

export function attemptLimiter(
  limiter: Pick<RateLimiter, 'admit' | 'commit'>,
  limits: AttemptLimits,
): AttemptLimiter {
  return {
    commit: (admission, alsoWrite, log) => limiter.commit(admission, alsoWrite, log),
    admit(
      tenantId: string,
      user: UserIdentifier,
      kind: OperationKind,
      log?: Logger,
    ): Promise<LimitAdmission> {
      const key = `${user.kind}:${user.value}`;
      const checks: RateLimitCheck[] = [
        { scope: 'user', tenantId, key, limit: limits.perUser },
        ...(kind === 'change'
          ? [{ scope: 'change' as const, tenantId, key, limit: limits.changePerUser }]
          : []),
        { scope: 'tenant', tenantId, key: tenantId, limit: limits.perTenant },
      ];
      return limiter.admit(checks, log);
    },
  };
}
