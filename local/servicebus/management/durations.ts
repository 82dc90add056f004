/** ISO-8601 durations as the management API and Config.json write them (TimeSpan.MaxValue = never). */
import { isoDurationToMs } from '../../../shared/domain/index.js';
import { MAX_DURATION_MS } from '../entities/queue-properties.js';

const MAX_DURATION_TEXT = 'P10675199DT2H48M5.4775807S';

export function parseDuration(text: string, property: string): number {
  const trimmed = text.trim();
  if (trimmed === MAX_DURATION_TEXT) return MAX_DURATION_MS;
  try {
    const ms = isoDurationToMs(trimmed);
    if (ms <= 0) throw new Error('not positive');
    return Math.min(ms, MAX_DURATION_MS);
  } catch {
    throw new InvalidDurationError(`${property} must be a positive ISO-8601 duration, got '${text}'`);
  }
}

export class InvalidDurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidDurationError';
  }
}

export function formatDuration(ms: number): string {
  if (ms >= MAX_DURATION_MS) return MAX_DURATION_TEXT;
  let rest = ms;
  const days = Math.floor(rest / 86_400_000);
  rest -= days * 86_400_000;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = rest / 1000;
  let text = 'P';
  if (days) text += `${days}D`;
  if (hours || minutes || seconds || !days) {
    text += 'T';
    if (hours) text += `${hours}H`;
    if (minutes) text += `${minutes}M`;
    if (seconds || (!hours && !minutes)) text += `${seconds}S`;
  }
  return text;
}
