/**
 * Every call the agent makes to a dependency has a deadline, so that a dependency that hangs (a
 * frozen process, a dropped route: no reset, no answer) never holds the agent: the call gets an
 * AbortSignal that fires at the deadline, and the wait ends then even when the SDK ignores the
 * signal (message settlement takes none).
 */
import type { PipelinePolicy } from '@azure/core-rest-pipeline';

/** A dependency did not answer in time. */
export class DeadlineExceededError extends Error {
  readonly code = 'DeadlineExceeded';
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${ms} ms`);
    this.name = 'DeadlineExceededError';
  }
}

/** Runs `call` with a signal that aborts after `ms`; rejects with DeadlineExceededError then. */
export async function withDeadline<T>(
  what: string,
  ms: number,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new DeadlineExceededError(what, ms);
      controller.abort(error);
      reject(error);
    }, ms);
    // A call still pending when everything else has stopped does not keep the process alive.
    timer.unref();
  });
  const running = call(controller.signal);
  // Whatever the call does after its deadline is nobody's business.
  running.catch(() => undefined);
  try {
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves after `ms`, or at once when `signal` aborts. Never rejects. A pause alone does not keep
 * the process alive (a running agent has its heartbeat schedule and health server for that), so one
 * that lost a race does not hold a stopped agent's process.
 */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * A pipeline policy for Azure SDK clients over HTTP (Key Vault): each attempt is aborted after `ms`,
 * so that a hung vault costs the SDK's retries a bounded time and frees their sockets.
 */
export function perTryTimeout(ms: number): PipelinePolicy {
  return {
    name: 'agentPerTryTimeout',
    // Not the request's own `timeout`: the SDK leaves that timer running when the connection fails.
    async sendRequest(request, next) {
      const controller = new AbortController();
      const timer = setTimeout(
        () => controller.abort(new DeadlineExceededError('a Key Vault request', ms)),
        ms,
      );
      const callers = request.abortSignal;
      request.abortSignal = callers
        ? AbortSignal.any([callers as AbortSignal, controller.signal])
        : controller.signal;
      try {
        return await next(request);
      } finally {
        clearTimeout(timer);
        request.abortSignal = callers;
      }
    },
  };
}
