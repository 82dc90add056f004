/** The one place where errors become application/problem+json responses (RFC 9457, docs/api.md). */
import type { HttpResponseInit } from '@azure/functions';
import { ProblemError } from '../errors/index.js';
import type { Logger } from '../domain/index.js';

/** Every answer of this API is about one caller, or holds secrets: never cached by anyone. */
export const NO_STORE: Readonly<Record<string, string>> = Object.freeze({ 'cache-control': 'no-store' });

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Problem types are URNs: stable identifiers that need no hosted page. */
export function problemTypeOf(code: string): string {
  return `urn:writeback:problem:${code}`;
}

/**
 * Maps any thrown value to a problem response. ProblemErrors say what is wrong; anything else is a
 * fault of ours: the caller gets a generic 500 with the invocation id to quote, and the log gets the
 * error's name and message (our messages never carry a password or a token).
 */
export function problemResponse(
  error: unknown,
  invocationId?: string,
  log?: Pick<Logger, 'error'>,
): HttpResponseInit {
  const problem =
    error instanceof ProblemError
      ? error
      : new ProblemError(
          'InternalError',
          `An unexpected error occurred.${invocationId ? ` Quote reference ${invocationId}.` : ''}`,
        );
  if (!(error instanceof ProblemError) || problem.status >= 500) {
    const cause = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    log?.error(`Request failed with ${problem.code}: ${cause}`);
  }

  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE, ...NO_STORE };
  if (problem.extras.retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(problem.extras.retryAfterSeconds)));
  }
  if (problem.status === 401) headers['www-authenticate'] = 'Bearer';

  const { operationId, reason, errors } = problem.extras;
  return {
    status: problem.status,
    headers,
    jsonBody: {
      type: problemTypeOf(problem.code),
      title: problem.title,
      status: problem.status,
      detail: problem.detail,
      code: problem.code,
      ...(operationId ? { operationId } : {}),
      ...(reason ? { reason } : {}),
      ...(errors?.length ? { errors } : {}),
    },
  };
}
