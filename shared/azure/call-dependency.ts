/**
 * The one way to call a dependency (Table storage, Key Vault, Service Bus) from a request: its time
 * and outcome are reported to telemetry, it ends by its deadline, and a fault becomes a 503 that names
 * the dependency.
 *
 * The deadline is the earlier of the work's own (`withinBudget`, set by the route or the timer) and a
 * cap per call, so one stalled call cannot take a whole budget meant for several. The call's abort
 * signal reaches the Azure SDKs' HTTP pipelines through `deadlinePolicy` (clients.ts) and is passed to
 * the Service Bus sender by hand; the work is also raced against it, so a call that ignores its signal
 * still ends on time (its late answer is dropped).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { currentDeadline, Deadline, RETRY_AFTER_SECONDS, withinDeadline } from '../domain/index.js';
import { ConcurrencyConflict, ProblemError } from '../errors/index.js';
import { telemetryIfConfigured } from '../telemetry/index.js';
import type { Logger } from '../domain/index.js';

/** Application Insights' dependency types of the names `callDependency` is given. */
const DEPENDENCY_TYPE: Record<string, string> = {
  'Table storage': 'Azure Table',
  'Key Vault': 'Azure Key Vault',
  'Service Bus': 'Azure Service Bus',
};

/**
 * The longest one call may take when its work's budget allows more. Table, Key Vault and Service Bus
 * calls take milliseconds when healthy; ten seconds is a stall, not a slow answer.
 */
export const DEPENDENCY_CALL_CAP_MS = 10_000;

/** A call that did not end by its deadline: whether it took effect is unknown. */
export class DependencyTimeout extends Error {
  constructor(
    readonly dependency: string,
    readonly afterMs: number,
  ) {
    super(`${dependency} did not answer within ${afterMs} ms`);
    this.name = 'DependencyTimeout';
  }
}

const callSignals = new AsyncLocalStorage<AbortSignal>();

/** The abort signal of the dependency call in progress, for SDK calls that take one. */
export function dependencySignal(): AbortSignal | undefined {
  return callSignals.getStore();
}

function answerOf(error: unknown): string {
  const rest = error as { statusCode?: number; code?: string };
  if (rest.statusCode !== undefined) return ` (HTTP ${rest.statusCode}${rest.code ? ` ${rest.code}` : ''})`;
  return rest.code ? ` (${rest.code})` : '';
}

export interface DependencyCallOptions {
  /** The longest this call may take (default DEPENDENCY_CALL_CAP_MS), within the work's budget. */
  capMs?: number;
}

/**
 * Runs one call to a dependency. A fault or a missed deadline becomes a 503 that names the dependency
 * and its answer (status and error code: no secret is in them) and says that a retry resumes the work;
 * the original error is its `cause` (a `DependencyTimeout` for a missed deadline). `operation` names
 * the call in telemetry (default: the dependency).
 */
export async function callDependency<T>(
  dependency: string,
  work: (signal: AbortSignal) => Promise<T>,
  log?: Pick<Logger, 'warn' | 'error'>,
  operation = dependency,
  options: DependencyCallOptions = {},
): Promise<T> {
  const started = performance.now();
  const report = (success: boolean, resultCode?: number | string) =>
    telemetryIfConfigured().trackDependency({
      type: DEPENDENCY_TYPE[dependency] ?? 'HTTP',
      target: dependency,
      name: operation,
      durationMs: performance.now() - started,
      success,
      ...(resultCode !== undefined ? { resultCode } : {}),
    });
  const cap = options.capMs ?? DEPENDENCY_CALL_CAP_MS;
  const deadline = (currentDeadline() ?? Deadline.after(cap)).capped(cap);
  const limitMs = deadline.remainingMs();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    const expire = () => {
      const timeout = new DependencyTimeout(dependency, limitMs);
      controller.abort(timeout);
      reject(timeout);
    };
    if (limitMs <= 0) expire();
    else timer = setTimeout(expire, limitMs);
  });
  timedOut.catch(() => undefined);
  try {
    if (controller.signal.aborted) throw controller.signal.reason;
    const result = await Promise.race([
      withinDeadline(deadline, () => callSignals.run(controller.signal, () => work(controller.signal))),
      timedOut,
    ]);
    report(true);
    return result;
  } catch (caught) {
    // An SDK aborted by our signal throws its own AbortError: the cause is the missed deadline.
    const error: unknown = controller.signal.aborted ? controller.signal.reason : caught;
    const status = (error as { statusCode?: number }).statusCode;
    // A row changed concurrently or a problem of ours is an answer, not a failed dependency.
    const answered = error instanceof ProblemError || error instanceof ConcurrencyConflict;
    report(answered, error instanceof DependencyTimeout ? 'Timeout' : status);
    if (answered) throw error;
    const rest = error as { name?: string; message?: string };
    log?.error(`${dependency} failed: ${rest.name ?? 'Error'}: ${rest.message ?? String(error)}`);
    const what =
      error instanceof DependencyTimeout
        ? `${dependency} did not answer within ${(limitMs / 1000).toFixed(1)} s`
        : `${dependency} failed${answerOf(error)}`;
    throw new ProblemError(
      'ServiceUnavailable',
      `${what}. Nothing is left half-done: retry the request and it resumes where it stopped.`,
      { retryAfterSeconds: RETRY_AFTER_SECONDS },
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}
