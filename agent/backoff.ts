/**
 * Capped exponential backoff with jitter, the agent's one way to space retries: reconnecting to a
 * dependency, a standby asking for the request session, a request left for redelivery.
 *
 * "Equal jitter": half of the capped delay is fixed, half random, so that agents (and a tenant's
 * two agents) that failed together do not retry in step, yet no retry comes almost at once.
 */
export interface BackoffOptions {
  /** The first delay (before jitter). */
  initialMs: number;
  /** The cap (before jitter). */
  maxMs: number;
  /** [0, 1); Math.random by default. */
  random?: () => number;
}

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const capped = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  const random = options.random ?? Math.random;
  return Math.round(capped / 2 + random() * (capped / 2));
}
