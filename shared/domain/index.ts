/**
 * The bottom floor of shared/: the words every part uses (problem codes, operations, outcomes, policy
 * reasons, durations). It imports nothing else of the repository, so anything may import it.
 */
export { isoDurationToMs, msToIsoDuration } from './durations.js';
export type { Logger } from './logger.js';
export {
  ADMIN_ROLE,
  OPERATION_KINDS,
  OPERATION_OUTCOMES,
  OPERATION_STATES,
  type DirectoryPolicy,
  type OperationKind,
  type OperationOutcome,
  type OperationResult,
  type OperationState,
  type ResetFlags,
  type UserIdentifier,
} from './operations.js';
export {
  POLICY_REASONS,
  PROBLEM_CATALOGUE,
  PROBLEM_CODES,
  type PolicyReason,
  type ProblemCode,
} from './problems.js';
export { OPERATION_ID_PATTERN, RETRY_AFTER_SECONDS, SID_PATTERN, UUID_PATTERN } from './identifiers.js';
export { currentDeadline, Deadline, withinBudget, withinDeadline } from './deadline.js';
