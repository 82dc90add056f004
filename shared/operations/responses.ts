/**
 * Outcomes → HTTP responses (docs/api.md), in one place: a finished operation becomes 200 or the
 * problem of its code (with `reason` and `operationId`), a pending one 202 with `Location` and
 * `Retry-After`. `GET …/operations/{id}` answers 200 with the operation's state either way, and the
 * problem of a failed operation inside it, so a portal reads one shape while it polls.
 */
import { NO_STORE } from '../http/index.js';
import { RETRY_AFTER_SECONDS } from '../domain/index.js';
import type { HttpResponseInit } from '@azure/functions';
import { PROBLEM_CATALOGUE, type PolicyReason, type ProblemCode } from '../domain/index.js';
import { ProblemError } from '../errors/index.js';
import { problemResponse } from '../http/index.js';
import type { FailureCode, OperationRecord } from './store.js';

/** What a pending 202 suggests before asking again. */
export const PENDING_RETRY_AFTER_SECONDS = 2;

/** The fixed, non-secret sentence of each failure; the agent's short detail follows it. */
const FAILURE_DETAIL: Record<FailureCode, string> = {
  PasswordPolicy: 'The new password does not meet the on-premises password policy',
  CurrentPasswordIncorrect: 'The current password is incorrect',
  UserNotFound: 'The on-premises directory has no such user',
  ProtectedAccount:
    'The account is protected (a member of a privileged group); its password cannot be written back',
  AccountDisabled: 'The on-premises account is disabled',
  WritebackExpired: 'The request expired before the writeback agent took it',
  AgentFailure: 'The writeback agent could not complete the operation',
  ServiceUnavailable: 'The request could not be sent to the writeback agent; nothing was changed',
};

const REASON_TEXT: Record<PolicyReason, string> = {
  tooShort: 'it is too short',
  tooLong: 'it is too long',
  complexity: 'it does not meet the complexity rules',
  history: 'it was used recently',
  minimumAge: 'the password was changed too recently',
  blocklisted: 'it is on the blocklist',
  other: 'the directory refused it',
};

export function operationPath(tenantId: string, operationId: string): string {
  return `/api/tenants/${encodeURIComponent(tenantId)}/operations/${operationId}`;
}

/** The problem of a failed or expired operation; undefined while it is pending or after success. */
export function problemOf(record: OperationRecord): ProblemError | undefined {
  if (record.state === 'pending' || record.state === 'succeeded') return undefined;
  const code: FailureCode = record.state === 'expired' ? 'WritebackExpired' : (record.code ?? 'AgentFailure');
  const reason = code === 'PasswordPolicy' ? (record.reason ?? 'other') : undefined;
  const because = reason
    ? `: ${REASON_TEXT[reason] ?? REASON_TEXT.other}`
    : record.detail
      ? ` (${record.detail})`
      : '';
  return new ProblemError(code satisfies ProblemCode, `${FAILURE_DETAIL[code]}${because}.`, {
    operationId: record.operationId,
    ...(reason ? { reason } : {}),
    ...(code === 'ServiceUnavailable' ? { retryAfterSeconds: RETRY_AFTER_SECONDS } : {}),
  });
}

/** The response of a password route: 200, 202, or the operation's problem. */
export function submissionResponse(
  submission: { record: OperationRecord; temporaryPassword?: string },
  invocationId?: string,
): HttpResponseInit {
  const { record } = submission;
  if (record.state === 'pending') {
    return {
      status: 202,
      headers: {
        ...NO_STORE,
        location: operationPath(record.tenantId, record.operationId),
        'retry-after': String(PENDING_RETRY_AFTER_SECONDS),
      },
      jsonBody: {
        operationId: record.operationId,
        status: 'pending',
        ...(submission.temporaryPassword !== undefined
          ? { temporaryPassword: submission.temporaryPassword }
          : {}),
      },
    };
  }
  const problem = problemOf(record);
  if (problem) return problemResponse(problem, invocationId);
  return {
    status: 200,
    headers: NO_STORE,
    jsonBody: {
      operationId: record.operationId,
      status: 'succeeded',
      completedAt: (record.completedAt ?? new Date()).toISOString(),
      ...(submission.temporaryPassword !== undefined
        ? { temporaryPassword: submission.temporaryPassword }
        : {}),
    },
  };
}

/** The body of `GET …/operations/{id}`. */
export function operationStatusResponse(record: OperationRecord): HttpResponseInit {
  const problem = problemOf(record);
  return {
    status: 200,
    headers: {
      ...NO_STORE,
      ...(record.state === 'pending' ? { 'retry-after': String(PENDING_RETRY_AFTER_SECONDS) } : {}),
    },
    jsonBody: {
      operationId: record.operationId,
      kind: record.kind,
      status: record.state,
      createdAt: record.createdAt.toISOString(),
      expiresAt: record.expiresAt.toISOString(),
      ...(record.completedAt ? { completedAt: record.completedAt.toISOString() } : {}),
      ...(problem
        ? {
            error: {
              code: problem.code,
              status: PROBLEM_CATALOGUE[problem.code].status,
              title: problem.title,
              detail: problem.detail,
              ...(problem.extras.reason ? { reason: problem.extras.reason } : {}),
            },
          }
        : {}),
    },
  };
}
