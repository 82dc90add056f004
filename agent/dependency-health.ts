/**
 * What the agent knows about each of its dependencies — Service Bus, Key Vault, the directory — from
 * the outcomes of the calls it makes to them: `ok`, or `degraded` since the first failure of a run of
 * failures, with the last error (its kind only: name, code, status; never a message, which can quote
 * a request). `/health` reports it; the log says when a dependency degrades (warn,
 * `dependencyDegraded`), reminds once a minute while it stays so (`dependencyStillDegraded`), and says
 * when it is back and after how long (`dependencyRestored`).
 */
import { describeError, type AgentLogger } from './log.js';

export const DEPENDENCIES = ['serviceBus', 'keyVault', 'directory'] as const;
export type Dependency = (typeof DEPENDENCIES)[number];

export interface DependencyReport {
  state: 'ok' | 'degraded';
  /** When the current run of failures began (null while ok). */
  since: string | null;
  /** What the last failure was, and in which step (null while ok). */
  lastError: Record<string, unknown> | null;
  /** Failures in a row. */
  failures: number;
}

interface Tracked {
  since: Date | undefined;
  lastError: Record<string, unknown> | undefined;
  failures: number;
  remindedAt: number;
}

export class DependencyHealth {
  private readonly tracked = new Map<Dependency, Tracked>(
    DEPENDENCIES.map((d) => [d, { since: undefined, lastError: undefined, failures: 0, remindedAt: 0 }]),
  );

  constructor(
    private readonly log: AgentLogger,
    private readonly now: () => Date = () => new Date(),
    private readonly remindEveryMs = 60_000,
  ) {}

  /** A call to `dependency` succeeded. */
  ok(dependency: Dependency): void {
    const t = this.tracked.get(dependency)!;
    if (t.since) {
      this.log.info(`${dependency} is reachable again`, {
        event: 'dependencyRestored',
        dependency,
        since: t.since.toISOString(),
        downForMs: this.now().getTime() - t.since.getTime(),
        failures: t.failures,
      });
    }
    t.since = undefined;
    t.lastError = undefined;
    t.failures = 0;
  }

  /** A call to `dependency` failed in `step` (e.g. "sending a heartbeat"). */
  failed(dependency: Dependency, step: string, error: unknown): void {
    const t = this.tracked.get(dependency)!;
    const at = this.now();
    t.failures++;
    t.lastError = { step, ...describeError(error) };
    if (!t.since) {
      t.since = at;
      t.remindedAt = at.getTime();
      this.log.warn(`${dependency} is failing: ${step}`, {
        event: 'dependencyDegraded',
        dependency,
        since: at.toISOString(),
        error: t.lastError,
      });
    } else if (at.getTime() - t.remindedAt >= this.remindEveryMs) {
      t.remindedAt = at.getTime();
      this.log.warn(`${dependency} is still failing: ${step}`, {
        event: 'dependencyStillDegraded',
        dependency,
        since: t.since.toISOString(),
        failures: t.failures,
        error: t.lastError,
      });
    }
  }

  isOk(dependency: Dependency): boolean {
    return this.tracked.get(dependency)!.since === undefined;
  }

  /** Failures in a row of `dependency`. */
  failures(dependency: Dependency): number {
    return this.tracked.get(dependency)!.failures;
  }

  get degraded(): Dependency[] {
    return DEPENDENCIES.filter((d) => !this.isOk(d));
  }

  report(): Record<Dependency, DependencyReport> {
    const out = {} as Record<Dependency, DependencyReport>;
    for (const [dependency, t] of this.tracked) {
      out[dependency] = {
        state: t.since ? 'degraded' : 'ok',
        since: t.since?.toISOString() ?? null,
        lastError: t.lastError ?? null,
        failures: t.failures,
      };
    }
    return out;
  }
}
