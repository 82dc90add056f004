/**
 * The one way to call a dependency (Table storage, Key Vault, Service Bus) from a request: its time
 * and outcome are reported to telemetry, and a fault becomes a 503 that names the dependency.
 */
import { RETRY_AFTER_SECONDS } from '../domain/index.js';
import { ConcurrencyConflict, ProblemError } from '../errors/index.js';
import { telemetryIfConfigured } from '../telemetry/index.js';
import type { Logger } from '../domain/index.js';

/** Application Insights' dependency types of the names `callDependency` is given. */
const DEPENDENCY_TYPE: Record<string, string> = {
  'Table storage': 'Azure Table',
  'Key Vault': 'Azure Key Vault',
  'Service Bus': 'Azure Service Bus',
};

/** Seconds a caller should wait before retrying after a dependency fault. */

/**
 * Runs one call to a dependency. A fault becomes a 503 that names the dependency and its answer
 * (status and error code: no secret is in them) and says that a retry resumes the work. `operation`
 * names the call in telemetry (default: the dependency).
 */
export async function callDependency<T>(
  dependency: string,
  work: () => Promise<T>,
  log?: Pick<Logger, 'warn' | 'error'>,
  operation = dependency,
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
  try {
    const result = await work();
    report(true);
    return result;
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    // A row changed concurrently or a problem of ours is an answer, not a failed dependency.
    report(error instanceof ProblemError || error instanceof ConcurrencyConflict, status);
    if (error instanceof ProblemError || error instanceof ConcurrencyConflict) throw error;
    const rest = error as { statusCode?: number; code?: string; name?: string; message?: string };
    const answer =
      rest.statusCode !== undefined
        ? ` (HTTP ${rest.statusCode}${rest.code ? ` ${rest.code}` : ''})`
        : rest.code
          ? ` (${rest.code})`
          : '';
    log?.error(`${dependency} failed: ${rest.name ?? 'Error'}: ${rest.message ?? String(error)}`);
    throw new ProblemError(
      'ServiceUnavailable',
      `${dependency} failed${answer}. Nothing is left half-done: retry the request and it resumes where it stopped.`,
      { retryAfterSeconds: RETRY_AFTER_SECONDS },
      { cause: error },
    );
  }
}
