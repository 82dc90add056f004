/**
 * The agent's one way to apply password operations to a directory. Two drivers implement it: the
 * LDAP driver for Active Directory and the in-memory directory for the demo and the benchmark; the
 * conformance suite in test/integration/agent/directory holds them to the same behaviour.
 *
 * Contract, for every driver:
 * - The three operations never throw for anything the directory or the network does: they resolve
 *   to an OperationResult whose outcome is `succeeded` or one of the codes (docs/api.md), with the
 *   policy `reason` on PasswordPolicy and a short `detail` for logs. Only misuse (a closed driver)
 *   throws.
 * - Passwords are plain strings held only for the call; no driver logs them, stores them in clear,
 *   or puts them into a result, an error or a log line.
 * - Accounts with adminCount=1 are refused (ProtectedAccount) before disabled ones (AccountDisabled);
 *   both before anything is written.
 * - `readPolicy()` and `passwordStamp()` throw a ProblemError with code AgentFailure when the
 *   directory cannot be read.
 * - A write is never begun when it could still be under way at the caller's `deadline`: the
 *   operation then resolves to AgentFailure, not applied. Agents rely on it when one takes over
 *   from another that stopped mid-apply (docs/architecture.md, "Two agents per tenant").
 */
import type {
  DirectoryPolicy,
  OperationResult,
  ResetFlags,
  UserIdentifier,
} from '../../shared/domain/index.js';

export type {
  DirectoryPolicy,
  OperationResult,
  ResetFlags,
  UserIdentifier,
} from '../../shared/domain/index.js';

/** How long the caller lets an operation run. */
export interface WriteOptions {
  /** Ms since the epoch: no write is begun that could still be under way after it. */
  deadline?: number;
}

export interface DirectoryDriver {
  /** Administrative reset: sets the password without knowing the old one (history and age not applied). */
  resetPassword(
    user: UserIdentifier,
    newPassword: string,
    flags?: ResetFlags,
    options?: WriteOptions,
  ): Promise<OperationResult>;
  /** The user's own change: the directory checks the current password, history and minimum age. */
  changePassword(
    user: UserIdentifier,
    currentPassword: string,
    newPassword: string,
    options?: WriteOptions,
  ): Promise<OperationResult>;
  /** Clears a lockout (succeeds as well when the account is not locked). */
  unlock(user: UserIdentifier, options?: WriteOptions): Promise<OperationResult>;
  /** The domain's password policy, as heartbeats report it. */
  readPolicy(): Promise<DirectoryPolicy>;
  /**
   * An opaque value that changes each time the user's password is set (a reset or a change, also to
   * "must change at next logon" again), and at no other time; undefined when no account matches.
   * Compared before and after, it tells whether a password operation took effect.
   */
  passwordStamp(user: UserIdentifier): Promise<string | undefined>;
  /** Waits for operations in flight, then releases connections. Idempotent. */
  close(): Promise<void>;
}

/** Structured log sink of the directory layer. Fields never hold passwords or user identifiers. */
export interface DirectoryLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: DirectoryLogger = { info() {}, warn() {} };

/** The answer to a write whose deadline left no time to make it: certainly not applied. */
export const TOO_LATE: OperationResult = {
  outcome: 'AgentFailure',
  detail: 'not applied: too little time was left before its deadline',
};

/** Thrown when a driver is used after close(): a bug in the caller, not a directory outcome. */
export class DirectoryClosedError extends Error {
  constructor() {
    super('the directory driver is closed');
    this.name = 'DirectoryClosedError';
  }
}

/** Both drivers log a refusal the same way: the outcome and its codes, never a password. */
export function logRefusal(
  log: DirectoryLogger,
  operation: 'reset' | 'change' | 'unlock',
  result: OperationResult,
): OperationResult {
  if (result.outcome !== 'succeeded') {
    log.info('directory operation refused', {
      operation,
      outcome: result.outcome,
      ...(result.reason ? { reason: result.reason } : {}),
      detail: result.detail,
    });
  }
  return result;
}
