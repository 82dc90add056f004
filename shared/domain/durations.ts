/** ISO-8601 durations, as the settings write them (PT5M, P180D). */
import { parse as parseIsoDuration, serialize as serializeIsoDuration } from 'tinyduration';

const DAY_MS = 86_400_000;

/** Milliseconds of an ISO-8601 duration; months and years are taken as 30 and 365 days. */
export function isoDurationToMs(text: string): number {
  const d = parseIsoDuration(text);
  const ms =
    ((d.years ?? 0) * 365 * DAY_MS +
      (d.months ?? 0) * 30 * DAY_MS +
      (d.weeks ?? 0) * 7 * DAY_MS +
      (d.days ?? 0) * DAY_MS +
      (d.hours ?? 0) * 3_600_000 +
      (d.minutes ?? 0) * 60_000 +
      (d.seconds ?? 0) * 1000) *
    (d.negative ? -1 : 1);
  return Math.round(ms);
}

/** The ISO-8601 duration of `ms` in whole seconds (at least 1 s), e.g. 300000 → PT5M, 90000000 → P1DT1H. */
export function msToIsoDuration(ms: number): string {
  let seconds = Math.max(1, Math.round(ms / 1000));
  const days = Math.floor(seconds / 86_400);
  seconds -= days * 86_400;
  const hours = Math.floor(seconds / 3_600);
  seconds -= hours * 3_600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  return serializeIsoDuration({ days, hours, minutes, seconds });
}
