/**
 * The HTTP pipeline policy of the app's Table and Key Vault clients: every request ends by the deadline
 * of the dependency call it belongs to (`callDependency`), and it decides what is sent again.
 *
 * The SDKs' own retry policy is turned off on these clients (`retryOptions.maxRetries: 0`) because it
 * resends anything that failed, writes included: an insert whose answer was lost comes back 409, an
 * ETag-conditional update 412, and a caller would take the service's answer to its own first attempt
 * for a conflict. Here instead:
 * - a read (GET, HEAD) is tried again after a connection fault, a timeout of its attempt, or a 408,
 *   429, 500, 502, 503 or 504, while the deadline allows; each attempt gets at most READ_ATTEMPT_MS, so
 *   one stuck connection does not take the whole budget;
 * - a write is sent again only when it is known not to have been carried out: the connection was
 *   refused (it never left), or the service answered 408 or 503 (it says it did not start). Throttling
 *   (429) is left to the caller, which paces itself (the key rollover's creation pacer).
 */
import { RestError, type PipelinePolicy, type PipelineRequest } from '@azure/core-rest-pipeline';
import { currentDeadline, Deadline } from '../domain/index.js';
import { DEPENDENCY_CALL_CAP_MS, dependencySignal } from './call-dependency.js';

/** The longest one attempt of a read may take before it is tried again on a new request. */
export const READ_ATTEMPT_MS = 3_000;
/** Delays between attempts; the last one repeats. */
const BACKOFF_MS = [100, 250, 500, 1_000];
const MAX_ATTEMPTS = 5;

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const READ_RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const WRITE_RETRY_STATUS = new Set([408, 503]);
const READ_RETRY_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

function codeOf(error: unknown): string | undefined {
  const own = (error as { code?: unknown }).code;
  if (typeof own === 'string') return own;
  const cause = (error as { cause?: { code?: unknown } }).cause?.code;
  return typeof cause === 'string' ? cause : undefined;
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Whether `request` may be sent again after this attempt's `status` or `error`. */
function mayRetry(
  request: PipelineRequest,
  status: number | undefined,
  error: unknown,
  attemptTimedOut: boolean,
): boolean {
  if (READ_METHODS.has(request.method)) {
    if (status !== undefined) return READ_RETRY_STATUS.has(status);
    return attemptTimedOut || READ_RETRY_CODES.has(codeOf(error) ?? '');
  }
  if (status !== undefined) return WRITE_RETRY_STATUS.has(status);
  return codeOf(error) === 'ECONNREFUSED';
}

export function deadlinePolicy(): PipelinePolicy {
  return {
    name: 'writebackDeadline',
    async sendRequest(request, next) {
      const signal = dependencySignal();
      // A call made outside callDependency (a background write) still ends: by the cap of one call.
      const deadline = currentDeadline() ?? Deadline.after(DEPENDENCY_CALL_CAP_MS);
      if (signal) request.abortSignal = signal;
      const read = READ_METHODS.has(request.method);
      for (let attempt = 0; ; attempt++) {
        const left = deadline.remainingMs();
        if (left <= 0) throw new RestError('The deadline passed before the request was sent.', { request });
        request.timeout = read ? Math.min(left, READ_ATTEMPT_MS) : left;
        const attemptStarted = Date.now();
        let outcome: { response: Awaited<ReturnType<typeof next>> } | { error: unknown };
        try {
          const response = await next(request);
          if (!mayRetry(request, response.status, undefined, false)) return response;
          outcome = { response };
        } catch (error) {
          if (signal?.aborted) throw error;
          const attemptTimedOut =
            read && request.timeout > 0 && Date.now() - attemptStarted >= request.timeout - 5;
          // Some policies of the SDKs throw the service's error answer: judge it by its status then.
          const status = (error as { statusCode?: unknown }).statusCode;
          if (!mayRetry(request, typeof status === 'number' ? status : undefined, error, attemptTimedOut))
            throw error;
          outcome = { error };
        }
        const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)] ?? 1_000;
        const outOfTime = deadline.remainingMs() <= delay;
        if (attempt + 1 >= MAX_ATTEMPTS || outOfTime) {
          // The caller gets the last answer as it was: the service's response, or the fault.
          if ('response' in outcome) return outcome.response;
          throw outcome.error;
        }
        await pause(delay, signal);
        if (signal?.aborted) {
          if ('response' in outcome) return outcome.response;
          throw outcome.error;
        }
      }
    },
  };
}
