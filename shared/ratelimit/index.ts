/** Rate limiting of the password routes (docs/architecture.md): limits, their settings and the limiter. */
export {
  DEFAULT_CHANGE_LIMIT,
  DEFAULT_TENANT_LIMIT,
  DEFAULT_USER_LIMIT,
  describeLimit,
  parseRateLimit,
  type RateLimit,
} from '../config/index.js';
export { normaliseKey, type RateLimitScope } from './keys.js';
export {
  DEFAULT_TENANT_SHARDS,
  RateLimiter,
  type LimitAdmission,
  type RateLimitCheck,
  type RateLimiterOptions,
} from './limiter.js';
