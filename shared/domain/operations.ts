/**
 * The words of a writeback operation, shared by the cloud side, the wire contract and the agent.
 * Outcomes are problem codes of the API, so that an agent's answer maps to an HTTP response in one step.
 */
import type { PolicyReason, ProblemCode } from './problems.js';

/** What a caller asks for. */
export const OPERATION_KINDS = ['reset', 'change', 'unlock'] as const;

export type OperationKind = (typeof OPERATION_KINDS)[number];

/**
 * Who on premises: self-service routes use the token's `onprem_sid` when present, else its `upn`;
 * admin routes name a UPN.
 */
export type UserIdentifier = { kind: 'sid'; value: string } | { kind: 'upn'; value: string };

/** The outcome of an operation as the agent reports it. */
export const OPERATION_OUTCOMES = [
  'succeeded',
  'PasswordPolicy',
  'CurrentPasswordIncorrect',
  'UserNotFound',
  'ProtectedAccount',
  'AccountDisabled',
  'WritebackExpired',
  'AgentFailure',
] as const satisfies readonly ('succeeded' | ProblemCode)[];

export type OperationOutcome = (typeof OPERATION_OUTCOMES)[number];

/** The state of an operation as the API reports it. */
export const OPERATION_STATES = ['pending', 'succeeded', 'failed', 'expired'] as const;

export type OperationState = (typeof OPERATION_STATES)[number];

export interface OperationResult {
  outcome: OperationOutcome;
  /** With PasswordPolicy: which rule failed. */
  reason?: PolicyReason;
  /** A short, non-secret explanation for logs and the caller (never a password, never AD's raw text). */
  detail?: string;
}

/** Flags of an admin reset. */
export interface ResetFlags {
  forceChangeAtNextLogon?: boolean;
  unlock?: boolean;
}

/** The directory's password policy, as the agent reads it from the domain and sends in heartbeats. */
export interface DirectoryPolicy {
  minLength: number;
  /** AD complexity: three of the four character classes, and not the account name. */
  complexity: boolean;
  historyLength: number;
  minimumAgeSeconds: number;
  /** Failed logons before lockout; 0 means never locked out. */
  lockoutThreshold: number;
}

/** The application role of the admin routes. */
export const ADMIN_ROLE = 'Writeback.Admin';
