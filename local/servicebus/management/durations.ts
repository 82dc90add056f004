/** ISO-8601 durations as the management API and Config.json write them (TimeSpan.MaxValue = never). */
import { isoDurationToMs, msToIsoDuration } from '../../../shared/domain/index.js';
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

/** `ms` as the management API writes it: TimeSpan.MaxValue for "never", else whole seconds (PT45S, P1DT1H). */
export function formatDuration(ms: number): string {
  return ms >= MAX_DURATION_MS ? MAX_DURATION_TEXT : msToIsoDuration(ms);
}
