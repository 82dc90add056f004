/** Password operations: the pipeline, its state in `operations`, and the outcome → response mapping. */
export {
  WritebackOperations,
  writebackOperations,
  type OperationTelemetry,
  type PasswordOperationRequest,
  type Submission,
} from './writeback-operations.js';
export { attemptLimiter, type AttemptLimiter, type AttemptLimits } from './attempt-limits.js';
export {
  OPERATIONS_TABLE,
  OperationStore,
  type CompletionWrite,
  type FailureCode,
  type OperationRecord,
  type OperationState,
} from './store.js';
export { operationStatusResponse, submissionResponse } from './responses.js';
export { EncryptionKeys } from './encryption-keys.js';
export { RequestSenders } from './request-senders.js';
export { runPasswordRoute, type PasswordRouteInput } from './password-route.js';
