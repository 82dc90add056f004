/**
 * AD's two time encodings, both in 100-nanosecond ticks:
 * - intervals (minPwdAge, maxPwdAge, lockoutDuration) are stored negative, e.g. -864000000000 is one
 *   day; the most negative 64-bit value means "never";
 * - instants (pwdLastSet, lockoutTime) are FILETIME: ticks since 1601-01-01T00:00:00Z; 0 has a
 *   meaning of its own (pwdLastSet 0: must change at next logon; lockoutTime 0: not locked).
 * BigInt because these values do not fit in a double's 53 bits.
 */

const TICKS_PER_SECOND = 10_000_000n;
const TICKS_PER_MILLISECOND = 10_000n;
/** Milliseconds between 1601-01-01 and 1970-01-01. */
const FILETIME_EPOCH_OFFSET_MS = 11_644_473_600_000n;
const NEVER = -(2n ** 63n);

function ticksOf(value: string | bigint, what: string): bigint {
  if (typeof value === 'bigint') return value;
  if (!/^-?\d{1,20}$/.test(value.trim())) throw new RangeError(`${what} is not a 64-bit integer`);
  return BigInt(value.trim());
}

/**
 * An AD interval as whole seconds (rounded down). "Never" (the most negative value) becomes
 * Infinity; 0 stays 0. Positive values are not valid intervals but are read by magnitude, as AD does.
 */
export function adIntervalToSeconds(value: string | bigint): number {
  const ticks = ticksOf(value, 'AD interval');
  if (ticks === NEVER) return Number.POSITIVE_INFINITY;
  const magnitude = ticks < 0n ? -ticks : ticks;
  return Number(magnitude / TICKS_PER_SECOND);
}

/** Seconds → AD interval (negative ticks), the form the domain object stores. */
export function secondsToAdInterval(seconds: number): string {
  if (!Number.isFinite(seconds)) return NEVER.toString();
  if (seconds < 0 || !Number.isInteger(seconds)) throw new RangeError('seconds must be a whole number ≥ 0');
  return seconds === 0 ? '0' : (-(BigInt(seconds) * TICKS_PER_SECOND)).toString();
}

/** FILETIME → Date, or undefined for 0 (and for the "never" sentinel 0x7FFFFFFFFFFFFFFF). */
export function fileTimeToDate(value: string | bigint): Date | undefined {
  const ticks = ticksOf(value, 'FILETIME');
  if (ticks <= 0n || ticks === 2n ** 63n - 1n) return undefined;
  return new Date(Number(ticks / TICKS_PER_MILLISECOND - FILETIME_EPOCH_OFFSET_MS));
}

/** Date → FILETIME ticks, as a decimal string (what AD's attributes carry). */
export function dateToFileTime(date: Date): string {
  return ((BigInt(date.getTime()) + FILETIME_EPOCH_OFFSET_MS) * TICKS_PER_MILLISECOND).toString();
}

/** LDAP GeneralizedTime as AD writes it (`20261122035821.0Z`) → Date. */
export function generalizedTimeToDate(value: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,](\d+))?Z$/.exec(value.trim());
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction] = match;
  const ms = fraction ? Math.floor(Number(`0.${fraction}`) * 1000) : 0;
  return new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms));
}
