/**
 * Rate limits as configured: "N attempts per window", written `<count>/<ISO-8601 duration>` in the
 * settings (e.g. `10/PT15M`). The config loader reads the three settings with {@link parseRateLimit}.
 */
import { isoDurationToMs } from '../domain/index.js';
import { ConfigurationError } from '../errors/index.js';

/** At most `count` attempts per `windowMs`. */
export interface RateLimit {
  readonly count: number;
  readonly windowMs: number;
}

/**
 * Every operation (reset, change, unlock) on one user. Ten per quarter hour is far above what a person
 * needs (a reset that fails policy is retried a few times) and far below what a script needs.
 */
export const DEFAULT_USER_LIMIT = '10/PT15M';
/**
 * Password changes of one user: each one makes the agent try `currentPassword` against AD, so this is
 * the limit on guessing. At most the directory's lockout threshold (5 in the demo policy): an attacker
 * holding the user's session gets no more guesses through us than AD would allow before locking.
 */
export const DEFAULT_CHANGE_LIMIT = '5/PT15M';
/** Every operation in one tenant: ten per second on average, a ceiling on flooding one agent. */
export const DEFAULT_TENANT_LIMIT = '600/PT1M';

export const MAX_COUNT = 1_000_000;
export const MIN_WINDOW_MS = 1_000;
export const MAX_WINDOW_MS = 86_400_000;

/** A count, a slash and something shaped like an ISO-8601 duration (tinyduration ignores trailing text). */
const FORMAT = /^(\d{1,7})\/(-?P[\dYMWDTHS.,]+)$/i;

/**
 * The limit of setting `settingName`: its value, or `fallback` when unset or blank. Throws a
 * ConfigurationError naming the setting when the value is not `<count>/<duration>` with a count of
 * 1 to 1,000,000 and a window of 1 second to 1 day. (A limit is not secret: the message quotes it.)
 */
export function parseRateLimit(settingName: string, raw: string | undefined, fallback: string): RateLimit {
  const text = raw?.trim() || fallback;
  const malformed = (why: string) =>
    new ConfigurationError(
      settingName,
      `expected "<count>/<ISO-8601 duration>" such as ${fallback} (${why}), got "${text}"`,
    );
  const match = FORMAT.exec(text);
  if (!match) throw malformed('a whole number, a slash and a duration');
  const count = Number(match[1]);
  if (!(count >= 1 && count <= MAX_COUNT)) throw malformed(`the count must be 1 to ${MAX_COUNT}`);
  let windowMs: number;
  try {
    windowMs = isoDurationToMs(match[2] ?? '');
  } catch {
    throw malformed('the window must be an ISO-8601 duration');
  }
  if (!(windowMs >= MIN_WINDOW_MS && windowMs <= MAX_WINDOW_MS)) {
    throw malformed('the window must be from 1 second to 1 day');
  }
  return { count, windowMs };
}

const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1_000],
];

/** A duration for people, in whole seconds: 900000 → "15 minutes", 5400000 → "1 hour 30 minutes". */
export function describeDuration(ms: number): string {
  let rest = Math.max(1_000, Math.ceil(ms / 1_000) * 1_000);
  const parts: string[] = [];
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`);
  }
  return parts.join(' ');
}

/** "10 per 15 minutes". */
export function describeLimit(limit: RateLimit): string {
  return `${limit.count} per ${describeDuration(limit.windowMs)}`;
}
