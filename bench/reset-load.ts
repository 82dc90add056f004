/**
 * A closed-loop load of self-service resets: `inFlight` callers, each resetting the passwords of users
 * of its own, the next as soon as the previous answered. No user is ever in two requests at once, so
 * no user's rate-limit row is contended: what is measured is the pipeline, not one row's ETag race.
 */
import { summary, type LatencySummary } from './local-stack.js';

export interface BenchUser {
  upn: string;
  token: string;
}

export interface Outcome {
  /** When it ended (performance.now()). */
  end: number;
  ms: number;
  /** `status code` (`503 WritebackOffline`) or `network …`; undefined for a 200. */
  error?: string;
}

export interface LevelFigures {
  inFlight: number;
  seconds: number;
  resets: number;
  /** Successful resets per second. */
  perSecond: number;
  latencyMs: LatencySummary;
  errors: Record<string, number>;
}

let counter = 0;

/** One reset of `user`'s password through the API. */
export async function resetOnce(api: string, tenant: string, user: BenchUser): Promise<Outcome> {
  const started = performance.now();
  try {
    const response = await fetch(`${api}/tenants/${tenant}/me/password/reset`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ newPassword: `Bench-Passw0rd-${process.pid}-${++counter}` }),
    });
    const answer = (await response.json().catch(() => ({}))) as { code?: string };
    const end = performance.now();
    if (response.status === 200) return { end, ms: end - started };
    return { end, ms: end - started, error: `${response.status} ${answer.code ?? ''}`.trim() };
  } catch (error) {
    const end = performance.now();
    const cause = (error as { cause?: { code?: string } }).cause;
    return { end, ms: end - started, error: `network ${cause?.code ?? String(error)}` };
  }
}

export interface RunningLoad {
  /** Every outcome so far, in the order they ended. */
  readonly outcomes: readonly Outcome[];
  /** Stops starting new resets and waits for those in flight. */
  stop(): Promise<void>;
}

/** Starts `inFlight` callers over `users` (at least one user each). */
export function startLoad(
  api: string,
  tenant: string,
  users: readonly BenchUser[],
  inFlight: number,
): RunningLoad {
  if (users.length < inFlight) throw new Error(`${inFlight} in flight needs at least ${inFlight} users`);
  const outcomes: Outcome[] = [];
  let stopping = false;
  const callers = Array.from({ length: inFlight }, async (_, caller) => {
    const own = users.filter((_, index) => index % inFlight === caller);
    for (let i = 0; !stopping; i++) outcomes.push(await resetOnce(api, tenant, own[i % own.length]!));
  });
  return {
    outcomes,
    async stop() {
      stopping = true;
      await Promise.all(callers);
    },
  };
}

/** The figures of the outcomes that ended in [from, to) (performance.now() times). */
export function figuresOf(
  outcomes: readonly Outcome[],
  inFlight: number,
  from: number,
  to: number,
): LevelFigures {
  const these = outcomes.filter((o) => o.end >= from && o.end < to);
  const errors: Record<string, number> = {};
  for (const { error } of these) if (error) errors[error] = (errors[error] ?? 0) + 1;
  const succeeded = these.filter((o) => !o.error);
  const seconds = (to - from) / 1000;
  return {
    inFlight,
    seconds: Math.round(seconds * 10) / 10,
    resets: succeeded.length,
    perSecond: Math.round((succeeded.length / seconds) * 10) / 10,
    latencyMs: summary(succeeded.map((o) => o.ms)),
    errors,
  };
}
