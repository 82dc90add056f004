/**
 * The time a piece of work has left: a route's answer, a timer's run. Set once by whoever owns the
 * budget (`withinBudget`) and read by every dependency call beneath it (`currentDeadline`), through the
 * async context, so a call three layers down is bounded by the HTTP caller's budget without each
 * layer passing it on.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export class Deadline {
  constructor(
    /** Epoch milliseconds. */
    readonly at: number,
  ) {}

  static after(ms: number, now = Date.now()): Deadline {
    return new Deadline(now + ms);
  }

  remainingMs(now = Date.now()): number {
    return Math.max(0, this.at - now);
  }

  /** The earlier of this deadline and `ms` from now. */
  capped(ms: number, now = Date.now()): Deadline {
    return new Deadline(Math.min(this.at, now + ms));
  }
}

const budgets = new AsyncLocalStorage<Deadline>();

/** Runs `work` with `budgetMs` from now as the deadline of everything it calls. */
export function withinBudget<T>(budgetMs: number, work: () => Promise<T>): Promise<T> {
  return budgets.run(Deadline.after(budgetMs), work);
}

/** Runs `work` under `deadline` (e.g. a shorter one for one step). */
export function withinDeadline<T>(deadline: Deadline, work: () => Promise<T>): Promise<T> {
  return budgets.run(deadline, work);
}

/** The deadline of the work in progress, if its owner set one. */
export function currentDeadline(): Deadline | undefined {
  return budgets.getStore();
}
