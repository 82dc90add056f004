import { test } from 'node:test';
import assert from 'node:assert/strict';
import { problemResponse, PROBLEM_CONTENT_TYPE } from '../../../shared/http/problem.js';
import { InvalidRequestError, ProblemError, UnauthenticatedError } from '../../../shared/errors/index.js';

function collectingLog(): { lines: string[]; error(...args: unknown[]): void } {
  const lines: string[] = [];
  return { lines, error: (...args: unknown[]) => lines.push(args.join(' ')) };
}

test('a ProblemError maps to RFC 9457 problem+json with its code and status', () => {
  const response = problemResponse(
    new ProblemError('PasswordPolicy', 'The password is too short.', {
      reason: 'tooShort',
      operationId: 'op-1',
    }),
  );
  assert.equal(response.status, 422);
  assert.equal((response.headers as Record<string, string>)['content-type'], PROBLEM_CONTENT_TYPE);
  assert.deepEqual(response.jsonBody, {
    type: 'urn:writeback:problem:PasswordPolicy',
    title: 'The password does not meet the directory policy',
    status: 422,
    detail: 'The password is too short.',
    code: 'PasswordPolicy',
    operationId: 'op-1',
    reason: 'tooShort',
  });
});

test('Retry-After and WWW-Authenticate are set where the problem calls for them', () => {
  const limited = problemResponse(new ProblemError('RateLimited', 'Slow down.', { retryAfterSeconds: 12.2 }));
  assert.equal((limited.headers as Record<string, string>)['retry-after'], '13');
  const unauthenticated = problemResponse(new UnauthenticatedError('No token.'));
  assert.equal(unauthenticated.status, 401);
  assert.equal((unauthenticated.headers as Record<string, string>)['www-authenticate'], 'Bearer');
});

test('field errors of InvalidRequest are listed', () => {
  const response = problemResponse(
    new InvalidRequestError('Bad body.', [{ path: 'body.newPassword', message: 'Required' }]),
  );
  assert.equal(response.status, 400);
  assert.deepEqual((response.jsonBody as { errors: unknown }).errors, [
    { path: 'body.newPassword', message: 'Required' },
  ]);
});

test('an unexpected error is a generic 500: its message goes to the log, not to the caller', () => {
  const log = collectingLog();
  const response = problemResponse(new TypeError('internal detail CanaryPassw0rd!'), 'inv-42', log);
  assert.equal(response.status, 500);
  const body = response.jsonBody as { code: string; detail: string };
  assert.equal(body.code, 'InternalError');
  assert.match(body.detail, /inv-42/);
  assert.doesNotMatch(JSON.stringify(response), /CanaryPassw0rd/);
  assert.equal(log.lines.length, 1);
  assert.match(log.lines[0] ?? '', /InternalError: TypeError/);
});

test('client errors are not logged as faults', () => {
  const log = collectingLog();
  problemResponse(new InvalidRequestError('Bad.'), 'inv', log);
  assert.equal(log.lines.length, 0);
});
