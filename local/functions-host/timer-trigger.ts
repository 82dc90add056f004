/**
 * Timer triggers: six-field NCRONTAB schedules (`{second} {minute} {hour} {day} {month} {day-of-week}`),
 * or a TimeSpan `hh:mm:ss` interval, `runOnStartup`, `useMonitor` and `isPastDue`.
 *
 * Occurrences come from cron-parser. NCRONTAB (the NCrontab library the host uses) differs from the cron
 * cron-parser implements in a few ways, enforced here:
 * - exactly six fields, seconds first;
 * - day of week 0-6 (Sunday = 0) or names; no 7, and none of cron-parser's extensions (`L`, `W`, `#`,
 *   `?`, `H`);
 * - when both day of month and day of week are restricted, a day must match BOTH (NCrontab checks the
 *   day of week after choosing the day); Vixie cron, and cron-parser, take either. Occurrences from
 *   cron-parser are therefore filtered.
 * The time zone is UTC unless WEBSITE_TIME_ZONE names an IANA zone, as on Linux plans.
 *
 * The schedule monitor keeps `{ Last, Next, LastUpdated }` per function, like the host's monitor in
 * storage (here `<dataDir>/timers/<function>/status.json`). At start, when the recorded next occurrence
 * has passed, the function runs at once with `isPastDue: true`. The monitor is on by default for
 * schedules whose interval is at least a minute, as in the host.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { CronExpressionParser, type CronExpression } from 'cron-parser';
import type { RegisteredFunction, WorkerApp } from './core-api.js';
import type { RpcBindingInfo } from './core-types.js';
import { HostStartError, parseTimeSpan, resolveSettingExpressions } from './config.js';
import { invokeFunction } from './invoke.js';
import type { HostLogger } from './log.js';

export interface Schedule {
  /** The first occurrence strictly after `after`, or undefined when there is none. */
  next(after: Date): Date | undefined;
  readonly text: string;
  readonly adjustForDst: boolean;
}

const FIELDS = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
  },
  { name: 'day of week', min: 0, max: 6, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
] as const;

function validateField(expr: string, index: number, text: string): void {
  const field = FIELDS[index];
  if (!field) return;
  const bad = (why: string): never => {
    throw new HostStartError(
      `The schedule expression '${expr}' is invalid: ${field.name} field '${text}' ${why}`,
    );
  };
  const value = (token: string): number => {
    if (/^\d+$/.test(token)) {
      const n = Number(token);
      if (n < field.min || n > field.max) bad(`is out of range ${field.min}-${field.max}`);
      return n;
    }
    const names: readonly string[] = 'names' in field ? field.names : [];
    const i = names.indexOf(token.toUpperCase());
    if (i < 0) bad(`has an unknown value '${token}'`);
    return i + (field.name === 'month' ? 1 : 0);
  };
  for (const item of text.split(',')) {
    const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(item);
    if (!m) bad('is not NCRONTAB syntax');
    const [, range, step] = m as RegExpExecArray;
    if (step !== undefined && Number(step) === 0) bad('has a step of 0');
    if (range && range !== '*') {
      const [from, to] = range.split('-');
      const a = value(from as string);
      if (to !== undefined && value(to) < a) bad('has a descending range');
    }
  }
}

class CronSchedule implements Schedule {
  readonly adjustForDst = true;
  readonly #both: boolean;
  readonly #fields: string[];

  constructor(
    readonly text: string,
    readonly tz: string,
  ) {
    this.#fields = text.trim().split(/\s+/);
    if (this.#fields.length !== 6) {
      throw new HostStartError(
        `The schedule expression '${text}' is invalid: NCRONTAB needs six fields '{second} {minute} {hour} {day} {month} {day-of-week}'`,
      );
    }
    this.#fields.forEach((f, i) => validateField(text, i, f));
    this.#both = this.#fields[3] !== '*' && this.#fields[5] !== '*';
    this.#iterate(new Date()); // surfaces cron-parser's own errors at start
  }

  #iterate(after: Date): CronExpression {
    try {
      return CronExpressionParser.parse(this.#fields.join(' '), { currentDate: after, tz: this.tz });
    } catch (err) {
      throw new HostStartError(
        `The schedule expression '${this.text}' is invalid: ${(err as Error).message}`,
      );
    }
  }

  next(after: Date): Date | undefined {
    const it = this.#iterate(after);
    // Enough to cross several years of a day-of-month AND day-of-week filter (e.g. Friday the 13th).
    for (let i = 0; i < 5000; i++) {
      if (!it.hasNext()) return undefined;
      const d = it.next().toDate();
      if (!this.#both || this.#matchesBoth(d)) return d;
    }
    return undefined;
  }

  #matchesBoth(d: Date): boolean {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone: this.tz,
      day: 'numeric',
      weekday: 'short',
    }).formatToParts(d);
    const day = Number(parts.find((p) => p.type === 'day')?.value);
    const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(
      parts.find((p) => p.type === 'weekday')?.value ?? '',
    );
    const it = CronExpressionParser.parse(this.#fields.join(' '), { tz: this.tz });
    const dom = it.fields.dayOfMonth.values as readonly (number | string)[];
    const dow = it.fields.dayOfWeek.values as readonly (number | string)[];
    return dom.includes(day) && (dow.includes(weekday) || (weekday === 0 && dow.includes(7)));
  }
}

class IntervalSchedule implements Schedule {
  readonly adjustForDst = false;
  constructor(
    readonly text: string,
    readonly intervalMs: number,
  ) {}
  next(after: Date): Date {
    return new Date(after.getTime() + this.intervalMs);
  }
}

export function parseSchedule(text: string, tz = 'UTC'): Schedule {
  const interval = parseTimeSpan(text);
  if (interval !== undefined) {
    if (interval <= 0) throw new HostStartError(`The schedule '${text}' must be a positive interval`);
    return new IntervalSchedule(text, interval);
  }
  return new CronSchedule(text, tz);
}

export interface ScheduleStatus {
  Last: string;
  Next: string;
  LastUpdated: string;
}

const NEVER = '0001-01-01T00:00:00.000Z';

export class ScheduleMonitor {
  constructor(readonly dataDir: string) {}

  #file(functionName: string): string {
    return path.join(this.dataDir, 'timers', functionName, 'status.json');
  }

  read(functionName: string): ScheduleStatus | undefined {
    const file = this.#file(functionName);
    if (!existsSync(file)) return undefined;
    try {
      const s = JSON.parse(readFileSync(file, 'utf8')) as ScheduleStatus;
      return typeof s.Next === 'string' ? s : undefined;
    } catch {
      return undefined;
    }
  }

  write(functionName: string, status: ScheduleStatus): void {
    const file = this.#file(functionName);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, JSON.stringify(status, null, 2) + '\n');
    renameSync(`${file}.tmp`, file);
  }

  /**
   * How late the timer is at start. The expected occurrence is the earlier of the recorded `Next` and
   * the schedule's next occurrence after `LastUpdated` (the schedule may have changed meanwhile).
   */
  pastDueMs(functionName: string, schedule: Schedule, now: Date): number {
    const status = this.read(functionName);
    if (!status) {
      const next = schedule.next(now);
      this.write(functionName, {
        Last: NEVER,
        Next: next?.toISOString() ?? NEVER,
        LastUpdated: now.toISOString(),
      });
      return 0;
    }
    const recorded = Date.parse(status.Next);
    const recomputed =
      schedule.next(new Date(Date.parse(status.LastUpdated)))?.getTime() ?? Number.POSITIVE_INFINITY;
    const expected = Math.min(Number.isNaN(recorded) ? Number.POSITIVE_INFINITY : recorded, recomputed);
    return now.getTime() > expected ? now.getTime() - expected : 0;
  }
}

export function isTimerTrigger(binding: RpcBindingInfo): boolean {
  return binding.direction === 'in' && String(binding.type).toLowerCase() === 'timertrigger';
}

export interface TimerFunction {
  fn: RegisteredFunction;
  bindingName: string;
  schedule: Schedule;
  runOnStartup: boolean;
  useMonitor: boolean;
}

/** Reads the timer functions' bindings, resolving `%Setting%` in schedules. Throws on a bad schedule. */
export function buildTimers(
  functions: Iterable<RegisteredFunction>,
  env: NodeJS.ProcessEnv,
): TimerFunction[] {
  const tz = env.WEBSITE_TIME_ZONE?.trim() || 'UTC';
  if (tz !== 'UTC') {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
    } catch {
      throw new HostStartError(`WEBSITE_TIME_ZONE '${tz}' is not an IANA time zone name`);
    }
  }
  const timers: TimerFunction[] = [];
  for (const fn of functions) {
    const trigger = Object.entries(fn.metadata.bindings).find(([, b]) => isTimerTrigger(b));
    if (!trigger) continue;
    const [bindingName, binding] = trigger;
    const where = `Function '${fn.metadata.name}'`;
    if (typeof binding.schedule !== 'string' || !binding.schedule.trim()) {
      throw new HostStartError(`${where}: the timer trigger needs a schedule`);
    }
    let schedule: Schedule;
    try {
      schedule = parseSchedule(resolveSettingExpressions(binding.schedule, env, where), tz);
    } catch (err) {
      throw new HostStartError(`${where}: ${(err as Error).message}`);
    }
    let useMonitor = binding.useMonitor === undefined ? undefined : binding.useMonitor === true;
    if (useMonitor === undefined) {
      const a = schedule.next(new Date());
      const b = a && schedule.next(a);
      useMonitor = !a || !b || b.getTime() - a.getTime() >= 60_000;
    }
    timers.push({ fn, bindingName, schedule, runOnStartup: binding.runOnStartup === true, useMonitor });
  }
  return timers;
}

/** Longest single setTimeout; longer waits are chained. */
const MAX_TIMEOUT = 2_147_483_647;

export class TimerScheduler {
  #stopped = false;
  readonly #handles = new Set<NodeJS.Timeout>();
  readonly #monitor: ScheduleMonitor;

  constructor(
    readonly app: WorkerApp,
    readonly timers: TimerFunction[],
    dataDir: string,
    readonly logger: HostLogger,
    /** host.json functionTimeout: a run past it is abandoned, and the schedule goes on. */
    readonly functionTimeoutMs: number | undefined,
  ) {
    this.#monitor = new ScheduleMonitor(dataDir);
  }

  start(): void {
    for (const timer of this.timers) {
      const name = timer.fn.metadata.name;
      const now = new Date();
      const pastDueMs = timer.useMonitor ? this.#monitor.pastDueMs(name, timer.schedule, now) : 0;
      const next = timer.schedule.next(now);
      this.logger.info(
        `Timer '${name}' (${timer.schedule.text}): next occurrence ${next?.toISOString() ?? 'never'}` +
          (pastDueMs > 0 ? `; past due by ${Math.round(pastDueMs / 1000)}s, running now` : ''),
      );
      if (timer.runOnStartup || pastDueMs > 0) {
        void this.#fire(timer, now, pastDueMs > 0);
      } else {
        this.#scheduleNext(timer, now);
      }
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const h of this.#handles) clearTimeout(h);
    this.#handles.clear();
  }

  #wait(ms: number, then: () => void): void {
    const h = setTimeout(
      () => {
        this.#handles.delete(h);
        then();
      },
      Math.min(Math.max(ms, 0), MAX_TIMEOUT),
    );
    this.#handles.add(h);
  }

  #scheduleNext(timer: TimerFunction, after: Date): void {
    if (this.#stopped) return;
    const next = timer.schedule.next(after);
    if (!next) return;
    const waitUntil = (): void => {
      if (this.#stopped) return;
      const remaining = next.getTime() - Date.now();
      if (remaining > 0) this.#wait(remaining, waitUntil);
      else void this.#fire(timer, next, false);
    };
    waitUntil();
  }

  async #fire(timer: TimerFunction, occurrence: Date, isPastDue: boolean): Promise<void> {
    if (this.#stopped) return;
    const name = timer.fn.metadata.name;
    const status = timer.useMonitor ? (this.#monitor.read(name) ?? null) : null;
    const timerInfo = {
      Schedule: { AdjustForDST: timer.schedule.adjustForDst },
      ScheduleStatus: status,
      IsPastDue: isPastDue,
    };
    await invokeFunction(
      this.app,
      timer.fn,
      {
        inputData: [{ name: timer.bindingName, data: { json: JSON.stringify(timerInfo) } }],
        triggerMetadata: { [timer.bindingName]: { json: JSON.stringify(timerInfo) } },
      },
      this.logger,
      this.functionTimeoutMs,
    );
    const now = new Date();
    // The occurrence counts as done whether the function succeeded or not, as in the host.
    if (timer.useMonitor && !this.#stopped) {
      const next = timer.schedule.next(now);
      this.#monitor.write(name, {
        Last: occurrence.toISOString(),
        Next: next?.toISOString() ?? NEVER,
        LastUpdated: now.toISOString(),
      });
    }
    this.#scheduleNext(timer, now > occurrence ? now : occurrence);
  }
}
