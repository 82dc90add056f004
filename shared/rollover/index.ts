/** Key rollover: the policy, the view the API shows, and the rollover itself. */
// The policy and the view live with the tenant records they read; they are part of rollover's surface too.
export {
  acceptsSigningKey,
  credentialsState,
  inGrace,
  keysState,
  nextRolloverAt,
  OVERDUE_AFTER_MS,
  ROLLOVER_CLAIM_TIMEOUT_MS,
  rolloverPolicy,
  rolloverView,
  tenantOffsetMs,
  type AgentCredentialsView,
  type KeyRolloverView,
  type RolloverPolicy,
  type RolloverState,
} from '../tenants/index.js';
export * from './creation-pacer.js';
export * from './agent-credentials.js';
export * from './key-rollover.js';
