/** The app settings, parsed and checked once. */
export {
  CONNECTION_STRING_SETTING,
  parseConnectionString,
  type ApplicationInsightsConnection,
} from './connection-string.js';
export {
  DEFAULT_CHANGE_LIMIT,
  DEFAULT_TENANT_LIMIT,
  DEFAULT_USER_LIMIT,
  describeDuration,
  describeLimit,
  MAX_COUNT,
  parseRateLimit,
  type RateLimit,
} from './rate-limits.js';
export { loadSettings, settings, type AppSettings, type Environment } from './settings.js';
