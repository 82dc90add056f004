/**
 * What AD's answers mean. AD reports a refused password operation as an LDAP result code plus a
 * diagnostic message that starts with a Win32 error code in eight hex digits (`0000052D: …`); a
 * refused bind carries a sub-code after `data` (`…, data 52e, …`). Only those codes are read, never the
 * wording around them: the wording differs between Windows AD, Samba and their versions, and may
 * carry names we must not pass on. Details returned from here are fixed texts plus codes.
 */
import { ResultCodeError } from 'ldapts';
import type { OperationOutcome, PolicyReason } from '../../shared/domain/index.js';

/** Win32 error codes that AD puts in front of its diagnostic messages. */
export const Win32 = {
  /** ERROR_INVALID_PASSWORD: the old password of a change does not match. */
  INVALID_PASSWORD: 0x56,
  /** ERROR_ILL_FORMED_PASSWORD. */
  ILL_FORMED_PASSWORD: 0x52c,
  /** ERROR_PASSWORD_RESTRICTION: length, complexity, history, minimum age or a password filter. */
  PASSWORD_RESTRICTION: 0x52d,
  /** ERROR_ACCOUNT_LOCKED_OUT. */
  ACCOUNT_LOCKED_OUT: 0x775,
  /** ERROR_DS_OPERATIONS_ERROR-style "unavailable without authentication" (the connection lost its bind). */
  NOT_AUTHENTICATED: 0x2020,
} as const;

/** Sub-codes of a refused bind (`data …`). */
export const BindData = {
  NO_SUCH_USER: 0x525,
  LOGON_FAILURE: 0x52e,
  INVALID_LOGON_HOURS: 0x530,
  INVALID_WORKSTATION: 0x531,
  PASSWORD_EXPIRED: 0x532,
  ACCOUNT_DISABLED: 0x533,
  ACCOUNT_EXPIRED: 0x701,
  PASSWORD_MUST_CHANGE: 0x773,
  ACCOUNT_LOCKED_OUT: 0x775,
} as const;

const BIND_DATA_MEANING: Record<number, string> = {
  [BindData.NO_SUCH_USER]: 'no such account',
  [BindData.LOGON_FAILURE]: 'wrong password',
  [BindData.INVALID_LOGON_HOURS]: 'outside its logon hours',
  [BindData.INVALID_WORKSTATION]: 'not allowed from this workstation',
  [BindData.PASSWORD_EXPIRED]: 'password expired',
  [BindData.ACCOUNT_DISABLED]: 'account disabled',
  [BindData.ACCOUNT_EXPIRED]: 'account expired',
  [BindData.PASSWORD_MUST_CHANGE]: 'password must be changed',
  [BindData.ACCOUNT_LOCKED_OUT]: 'account locked out',
};

/** LDAP result codes (RFC 4511 §4.1.9) this module tells apart. */
export const LdapResult = {
  OPERATIONS_ERROR: 1,
  PROTOCOL_ERROR: 2,
  TIME_LIMIT_EXCEEDED: 3,
  SIZE_LIMIT_EXCEEDED: 4,
  CONFIDENTIALITY_REQUIRED: 13,
  CONSTRAINT_VIOLATION: 19,
  NO_SUCH_OBJECT: 32,
  INVALID_CREDENTIALS: 49,
  INSUFFICIENT_ACCESS: 50,
  BUSY: 51,
  UNAVAILABLE: 52,
  UNWILLING_TO_PERFORM: 53,
  OTHER: 80,
} as const;

/** The facts read from one failed LDAP exchange. */
export type DirectoryAnswer =
  | { kind: 'result'; resultCode: number; win32?: number; bindData?: number }
  /** No LDAP answer at all: refused, reset, timed out, TLS failure. `code` is Node's error code. */
  | { kind: 'transport'; code?: string };

/** The Win32 code in front of a diagnostic message (`0000052D: …`), if there is one. */
export function leadingWin32Code(diagnostic: string): number | undefined {
  const match = /^([0-9A-Fa-f]{8}):/.exec(diagnostic);
  return match ? Number.parseInt(match[1]!, 16) : undefined;
}

/** The sub-code of a refused bind (`AcceptSecurityContext error, data 52e, v…`), if there is one. */
export function bindDataCode(diagnostic: string): number | undefined {
  const match = /\bdata ([0-9A-Fa-f]{1,8})\b/.exec(diagnostic);
  return match ? Number.parseInt(match[1]!, 16) : undefined;
}

/** Reads an error thrown by ldapts into codes. Anything that is not an LDAP result is transport. */
export function readDirectoryAnswer(error: unknown): DirectoryAnswer {
  if (error instanceof ResultCodeError && typeof error.code === 'number') {
    const win32 = leadingWin32Code(error.message);
    const bindData = error.code === LdapResult.INVALID_CREDENTIALS ? bindDataCode(error.message) : undefined;
    return {
      kind: 'result',
      resultCode: error.code,
      ...(win32 === undefined ? {} : { win32 }),
      ...(bindData === undefined ? {} : { bindData }),
    };
  }
  const code = (error as { code?: unknown } | null)?.code;
  // Node's error codes (ECONNREFUSED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, …) are fixed identifiers.
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code)
    ? { kind: 'transport', code }
    : { kind: 'transport' };
}

/** `LDAP 19, 0000052D` — the codes of an answer, for details and logs. */
export function describeAnswer(answer: DirectoryAnswer): string {
  if (answer.kind === 'transport') return answer.code ?? 'connection failed or timed out';
  const parts = [`LDAP ${answer.resultCode}`];
  if (answer.win32 !== undefined) parts.push(answer.win32.toString(16).toUpperCase().padStart(8, '0'));
  if (answer.bindData !== undefined) parts.push(`data ${answer.bindData.toString(16)}`);
  return parts.join(', ');
}

/** Where in an operation the answer came from: it changes what a code means. */
export type Phase = 'connect' | 'lookup' | 'update';

export interface Interpretation {
  outcome: Exclude<OperationOutcome, 'succeeded'>;
  /** `deduce`: a policy refusal whose rule only the password and the domain policy can tell. */
  reason?: PolicyReason | 'deduce';
  detail: string;
  /** False when the connection should not be reused (lost, unauthenticated, or in doubt). */
  connectionReusable: boolean;
  /** True when nothing reached the directory, or the exchange was read-only: safe to try again. */
  retryable: boolean;
}

/** Turns a failed exchange into the outcome the agent reports. */
export function interpretAnswer(answer: DirectoryAnswer, phase: Phase): Interpretation {
  const codes = describeAnswer(answer);
  if (answer.kind === 'transport') {
    const tls =
      answer.code !== undefined && /CERT|SIGNATURE|TLS|SSL|ISSUER|ALTNAME|HANDSHAKE/.test(answer.code);
    if (phase === 'update') {
      return {
        outcome: 'AgentFailure',
        detail: `the connection to the directory failed during the update; its outcome is unknown (${codes})`,
        connectionReusable: false,
        retryable: false,
      };
    }
    return {
      outcome: 'AgentFailure',
      detail: tls
        ? `the directory's TLS certificate was not accepted (${codes})`
        : `the directory is unreachable (${codes})`,
      connectionReusable: false,
      retryable: !tls,
    };
  }

  const { resultCode, win32, bindData } = answer;
  const failure = (
    outcome: Interpretation['outcome'],
    detail: string,
    extra: Partial<Interpretation> = {},
  ): Interpretation => ({
    outcome,
    detail: `${detail} (${codes})`,
    connectionReusable: true,
    retryable: false,
    ...extra,
  });

  if (resultCode === LdapResult.INVALID_CREDENTIALS) {
    const meaning = bindData === undefined ? undefined : BIND_DATA_MEANING[bindData];
    return failure(
      'AgentFailure',
      `the directory refused the service account${meaning ? `: ${meaning}` : ''}`,
      {
        connectionReusable: false,
      },
    );
  }
  // Windows AD answers policy refusals with 53 (unwillingToPerform), Samba with 19; the code decides.
  if (resultCode === LdapResult.CONSTRAINT_VIOLATION || resultCode === LdapResult.UNWILLING_TO_PERFORM) {
    switch (win32) {
      case Win32.PASSWORD_RESTRICTION:
        return failure('PasswordPolicy', 'the directory refused the new password', { reason: 'deduce' });
      case Win32.ILL_FORMED_PASSWORD:
        return failure('PasswordPolicy', 'the directory refused the new password as ill-formed', {
          reason: 'other',
        });
      case Win32.INVALID_PASSWORD:
        return failure('CurrentPasswordIncorrect', 'the current password does not match');
      case Win32.ACCOUNT_LOCKED_OUT:
        return failure('AgentFailure', 'the account is locked out; unlock it or reset the password');
    }
  }
  if (resultCode === LdapResult.NO_SUCH_OBJECT) {
    return failure('UserNotFound', 'the account no longer exists');
  }
  if (resultCode === LdapResult.INSUFFICIENT_ACCESS) {
    return failure('AgentFailure', 'the service account lacks the rights for this operation');
  }
  if (
    resultCode === LdapResult.CONFIDENTIALITY_REQUIRED ||
    (resultCode === LdapResult.UNWILLING_TO_PERFORM && win32 === 0x1f)
  ) {
    return failure('AgentFailure', 'the directory requires an encrypted connection for password operations');
  }
  if (resultCode === LdapResult.SIZE_LIMIT_EXCEEDED && phase === 'lookup') {
    return failure('AgentFailure', 'more than one account matches the identifier');
  }
  if (
    resultCode === LdapResult.BUSY ||
    resultCode === LdapResult.UNAVAILABLE ||
    resultCode === LdapResult.OPERATIONS_ERROR ||
    resultCode === LdapResult.PROTOCOL_ERROR ||
    resultCode === LdapResult.TIME_LIMIT_EXCEEDED ||
    resultCode === LdapResult.OTHER
  ) {
    return failure('AgentFailure', 'the directory could not process the request', {
      connectionReusable: false,
      retryable: phase !== 'update',
    });
  }
  return failure('AgentFailure', 'the directory gave an unexpected answer');
}
