/** Password operations: the pipeline, its state in `operations`, and the outcome → response mapping. */
export {
  IDEMPOTENCY_WINDOW_MS,
  MAX_WAIT_SECONDS,
  WritebackOperations,
  writebackOperations,
  type AttemptLimiter,
  type OperationTelemetry,
  type PasswordOperationRequest,
  type Submission,
} from './writeback-operations.js';
export {
  OPERATIONS_TABLE,
  OperationStore,
  type CompletionWrite,
  type FailureCode,
  type OperationRecord,
  type OperationState,
} from './store.js';
export { operationPath, operationStatusResponse, problemOf, submissionResponse } from './responses.js';
export { generateTemporaryPassword } from './temporary-password.js';
export { OperationWaiter, POLL_SCHEDULE_MS } from './waiter.js';
export { EncryptionKeys } from './encryption-keys.js';
export type * from './types.js';
