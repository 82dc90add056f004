/**
 * The one error hierarchy of the product. Every error a caller can see is a `ProblemError` with a
 * stable `code` (docs/api.md); `shared/http/problem.ts` is the one place that turns it into
 * application/problem+json. Messages never contain a password: only say what is wrong, not the value.
 */

import { PROBLEM_CATALOGUE, type PolicyReason, type ProblemCode } from '../domain/index.js';

export interface ProblemExtras {
  /** The operation this problem belongs to, where one exists. */
  operationId?: string;
  /** For PasswordPolicy: which rule failed. */
  reason?: PolicyReason;
  /** For 429 and 503: when to try again. Sent as the Retry-After header. */
  retryAfterSeconds?: number;
  /** For InvalidRequest: each offending field and what is wrong with it. */
  errors?: ReadonlyArray<{ path: string; message: string }>;
}

export class ProblemError extends Error {
  readonly code: ProblemCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly extras: ProblemExtras;

  constructor(code: ProblemCode, detail: string, extras: ProblemExtras = {}, options?: ErrorOptions) {
    super(detail, options);
    this.name = `${code}Error`;
    this.code = code;
    this.status = PROBLEM_CATALOGUE[code].status;
    this.title = PROBLEM_CATALOGUE[code].title;
    this.detail = detail;
    this.extras = extras;
  }
}

export class InvalidRequestError extends ProblemError {
  constructor(detail: string, errors?: ProblemExtras['errors']) {
    super('InvalidRequest', detail, errors ? { errors } : {});
  }
}

export class UnauthenticatedError extends ProblemError {
  constructor(detail: string, options?: ErrorOptions) {
    super('Unauthenticated', detail, {}, options);
  }
}

export class ForbiddenError extends ProblemError {
  constructor(detail: string) {
    super('Forbidden', detail);
  }
}

/**
 * A row changed between our read and our write (an ETag mismatch): the caller reads again and
 * decides anew. Not a fault of the dependency, so `callDependency` lets it through unchanged.
 */
export class ConcurrencyConflict extends Error {}

/**
 * A missing or malformed setting. Thrown at start-up, so the host refuses to run with a bad
 * configuration; the message names the setting and what is expected of it (never its value, which
 * may be a connection string with a key).
 */
export class ConfigurationError extends Error {
  readonly setting: string;

  constructor(setting: string, expectation: string) {
    super(`Setting ${setting} is missing or malformed: ${expectation}.`);
    this.name = 'ConfigurationError';
    this.setting = setting;
  }
}
