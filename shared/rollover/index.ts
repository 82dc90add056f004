/** Key rollover: the policy, the view the API shows, and the rollover itself. */
export * from './rollover-policy.js';
export * from './rollover-view.js';
export * from './creation-pacer.js';
export * from './agent-credentials.js';
export * from './key-rollover.js';
