/**
 * The problem codes of the API and the reasons a password policy refuses a password. Every error a
 * caller can see carries one of these codes; the lists are the single source of the zod schemas, the
 * wire format and the mapping of outcomes to responses.
 */

/** The catalogue of problem codes: HTTP status and a short, fixed title. */
export const PROBLEM_CATALOGUE = {
  Unauthenticated: { status: 401, title: 'Authentication required' },
  Forbidden: { status: 403, title: 'Not allowed' },
  InvalidRequest: { status: 400, title: 'Invalid request' },
  NotFound: { status: 404, title: 'Not found' },
  WritebackDisabled: { status: 409, title: 'Password writeback is not enabled for this tenant' },
  WritebackOffline: { status: 503, title: 'Password writeback is offline' },
  PasswordPolicy: { status: 422, title: 'The password does not meet the directory policy' },
  CurrentPasswordIncorrect: { status: 422, title: 'The current password is incorrect' },
  UserNotFound: { status: 404, title: 'No such on-premises user' },
  ProtectedAccount: { status: 403, title: 'The account is protected' },
  AccountDisabled: { status: 403, title: 'The on-premises account is disabled' },
  WritebackExpired: { status: 504, title: 'The request expired before the agent took it' },
  AgentFailure: { status: 502, title: 'The writeback agent could not complete the operation' },
  RateLimited: { status: 429, title: 'Too many attempts' },
  ServiceUnavailable: { status: 503, title: 'A dependency is unavailable' },
  InternalError: { status: 500, title: 'Internal error' },
  // Answered by the local Functions host about the request itself, before any function runs.
  RequestTimeout: { status: 408, title: 'The request did not arrive in time' },
  RequestHeadersTooLarge: { status: 431, title: 'The request headers are too large' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof PROBLEM_CATALOGUE;

/** Every problem code, in catalogue order (a non-empty tuple, as z.enum wants). */
export const PROBLEM_CODES = Object.keys(PROBLEM_CATALOGUE) as [ProblemCode, ...ProblemCode[]];

/** Which rule of the directory's password policy refused a password. */
export const POLICY_REASONS = [
  'tooShort',
  'tooLong',
  'complexity',
  'history',
  'minimumAge',
  'blocklisted',
  'other',
] as const;

export type PolicyReason = (typeof POLICY_REASONS)[number];
