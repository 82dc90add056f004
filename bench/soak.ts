/**
 * Soak benchmark, `npm run bench -- --soak 10m` (not in the default set, not in CI): a steady load on
 * `npm start`'s stack for a given time, to show that memory and latency stay flat and that nothing
 * fails. Self-service operations start at a fixed rate (of every ten, eight resets, a change and an
 * unlock), each user one at a time. Every interval it prints the throughput, the latency
 * (p50/p95/p99/max), the errors by code, the resident memory of each process of the stack (from
 * /proc) and of this one (with its heap), and the machine's load. At the end, a verdict from the first
 * third of the run to the last: the growth of each stack process's memory (MB per minute) and the drift
 * of the latency, and the errors. Exits 1 when any operation failed. Prints one JSON summary line last.
 *
 * The measured run follows a warm-up of the same load (`--warm-up`, default 60 s; 0: none), so that
 * the processes' heaps have grown to their working size before the first third is taken.
 *
 *   node dist/bench/soak.js --duration 10m [--interval 30s] [--rate 5] [--warm-up 60s]
 */
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openOfflineMinter } from '../local/identity/index.js';
import { isoDurationToMs } from '../shared/domain/index.js';
import { processesOf, startStack, summary, UNLIMITED_RATES, untilOnline } from './local-stack.js';
import { residentMemoryMb } from './resident-memory.js';

const USAGE = 'Usage: node dist/bench/soak.js --duration 10m [--interval 30s] [--rate 5] [--warm-up 60s]\n';
const TENANT = 'contoso';
const USERS = ['alice', 'bob', 'admin'].map((name) => `${name}@${TENANT}.test`);
/** How often the processes' memory is read. */
const MEMORY_SAMPLE_MS = 5_000;
/** Latency is flat when the last third's p50 and p95 are within this factor of the first third's… */
const LATENCY_DRIFT_LIMIT = 1.25;
/** …or within this many milliseconds (a few ms of noise on a fast median is no drift). */
const LATENCY_NOISE_MS = 5;
/** Memory is flat when no process grows faster than this between the first and last thirds. */
const MEMORY_SLOPE_LIMIT_MB_PER_MIN = 1;

/** `10m`, `90s`, `1h30m`, or ISO 8601 (`PT10M`), in milliseconds; `0` only where there may be none. */
function durationMs(text: string | undefined, flag: string, { orNone = false } = {}): number {
  if (orNone && text === '0') return 0;
  const iso = /^(\d+h)?(\d+m)?(\d+s)?$/i.test(text ?? '') ? `PT${text!.toUpperCase()}` : (text ?? '');
  let ms = NaN;
  try {
    ms = isoDurationToMs(iso);
  } catch {
    // Reported below.
  }
  if (!(ms > 0)) {
    process.stderr.write(`soak: --${flag} must be a duration such as 10m, 90s or 1h30m\n${USAGE}`);
    process.exit(2);
  }
  return ms;
}

const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    interval: { type: 'string', default: '30s' },
    rate: { type: 'string', default: '5' },
    'warm-up': { type: 'string', default: '60s' },
  },
});
const runMs = durationMs(values.duration, 'duration');
const intervalMs = durationMs(values.interval, 'interval');
const warmUpMs = durationMs(values['warm-up'], 'warm-up', { orNone: true });
const rate = Number(values.rate);
if (!(rate > 0)) {
  process.stderr.write(`soak: --rate must be operations per second, more than 0\n${USAGE}`);
  process.exit(2);
}

type Kind = 'reset' | 'change' | 'unlock';
interface Operation {
  /** When it was due to start and when it ended, in ms since the measured run began. */
  at: number;
  end: number;
  kind: Kind;
  ms: number;
  /** `status code` (e.g. `503 WritebackOffline`), or `network …`; undefined when it succeeded (200). */
  error?: string;
}
interface MemorySample {
  at: number;
  mb: Record<string, number>;
}

const round = (value: number) => Math.round(value * 10) / 10;
const report = (line: string) => process.stderr.write(`${line}\n`);

function latencyOf(operations: Operation[]) {
  return summary(operations.map((o) => o.ms));
}

function errorsOf(operations: Operation[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { error } of operations) if (error) counts[error] = (counts[error] ?? 0) + 1;
  return counts;
}

function meanMb(samples: MemorySample[], name: string): number {
  const values = samples.map((s) => s.mb[name]).filter((v): v is number => v !== undefined);
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

async function main(): Promise<void> {
  const stack = await startStack(UNLIMITED_RATES);
  try {
    const minter = await openOfflineMinter({
      dataDir: path.join(stack.dataDir, 'identity'),
      issuerBaseUrl: stack.identityUrl,
    });
    const lifetimeSeconds = Math.ceil(runMs / 1000) + 3600;
    const users = await Promise.all(
      USERS.map(async (upn) => ({
        upn,
        token: await minter.mintToken({ tenant: TENANT, upn, lifetimeSeconds }),
        password: '',
        busy: false,
      })),
    );
    await untilOnline(stack, TENANT, users[0]!.token);
    const processes = await processesOf(stack);
    const loadAtStart = loadavg()[0] ?? NaN;

    let counter = 0;
    let begin = performance.now();
    const now = () => performance.now() - begin;
    const operate = async (user: (typeof users)[number], kind: Kind, at: number): Promise<Operation> => {
      const newPassword = `Soak-Passw0rd-${process.pid}-${++counter}`;
      const route = { reset: 'me/password/reset', change: 'me/password/change', unlock: 'me/unlock' }[kind];
      const body =
        kind === 'reset'
          ? { newPassword }
          : kind === 'change'
            ? { currentPassword: user.password, newPassword }
            : undefined;
      user.busy = true;
      const started = performance.now();
      try {
        const response = await fetch(`${stack.api}/tenants/${TENANT}/${route}`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${user.token}`,
            ...(body ? { 'content-type': 'application/json' } : {}),
          },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        const answer = (await response.json().catch(() => ({}))) as { code?: string; status?: string };
        const ms = performance.now() - started;
        if (response.status === 200) {
          if (body) user.password = newPassword;
          return { at, end: now(), kind, ms };
        }
        const error = `${response.status} ${answer.code ?? answer.status ?? ''}`.trim();
        return { at, end: now(), kind, ms, error };
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause;
        const ms = performance.now() - started;
        return { at, end: now(), kind, ms, error: `network ${cause?.code ?? String(error)}` };
      } finally {
        user.busy = false;
      }
    };

    // Every user's password known for its changes; the first key fetch, links and JIT.
    for (let i = 0; i < 10; i++) {
      const user = users[i % users.length]!;
      const warm = await operate(user, 'reset', 0);
      if (warm.error) throw new Error(`a warm-up reset answered ${warm.error}`);
    }

    const operations: Operation[] = [];
    const memory: MemorySample[] = [];
    const errors: string[] = [];
    let late = 0;

    const sampleMemory = async () => {
      const mb: Record<string, number> = {};
      for (const [name, pid] of processes) {
        const rss = await residentMemoryMb(pid);
        if (rss === undefined) {
          errors.push(`process exited: ${name}`);
          processes.delete(name);
        } else mb[name] = rss;
      }
      const own = process.memoryUsage();
      mb.bench = own.rss / 1_048_576;
      mb['bench heap'] = own.heapUsed / 1_048_576;
      memory.push({ at: now(), mb });
    };

    let reported = 0;
    const reportInterval = () => {
      const at = now();
      // By when they ended: one still running at a report counts in the next.
      const these = operations.filter((o) => o.end >= reported && o.end < at);
      const latency = latencyOf(these);
      const errorCounts = errorsOf(these);
      const last = memory.at(-1)?.mb ?? {};
      report(
        `soak ${String(Math.round(at / 1000)).padStart(5)}s  ${these.length} operations, ` +
          `${round(these.length / ((at - reported) / 1000))}/s  latency ms p50 ${latency.p50} p95 ${latency.p95} ` +
          `p99 ${latency.p99} max ${latency.max}  errors ${JSON.stringify(errorCounts)}` +
          `${late ? `  late starts ${late}` : ''}  load ${round(loadavg()[0] ?? NaN)}`,
      );
      report(
        `           memory MB ${Object.entries(last)
          .map(([name, mb]) => `${name} ${round(mb)}`)
          .join(', ')}`,
      );
      reported = at;
    };

    /**
     * The load for `ms`, from now: operations start on a fixed schedule (an open loop), so a slower
     * pipeline shows as latency, not as fewer operations. A start that finds every user busy is
     * counted late and skipped. `tick` runs before each start.
     */
    let sequence = 0;
    const drive = async (ms: number, tick: () => Promise<void>, done: (operation: Operation) => void) => {
      begin = performance.now();
      const inFlight = new Set<Promise<void>>();
      for (let i = 0; ; i++) {
        const due = (i * 1000) / rate;
        if (due >= ms) break;
        const wait = due - now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        await tick();
        const user = users.find((u) => !u.busy);
        if (!user) {
          late++;
          continue;
        }
        const step = sequence++ % 10;
        const kind: Kind = step === 3 ? 'change' : step === 7 ? 'unlock' : 'reset';
        const job = operate(user, kind, due).then((operation) => {
          done(operation);
          inFlight.delete(job);
        });
        inFlight.add(job);
      }
      await Promise.all(inFlight);
    };

    // The same load, unmeasured, until the processes' heaps have grown to their working size; its
    // failures count all the same.
    if (warmUpMs > 0) {
      report(`soak: warming up for ${round(warmUpMs / 1000)} s at ${rate} operations/s`);
      await drive(
        warmUpMs,
        async () => undefined,
        (operation) => {
          if (operation.error) errors.push(`warm-up ${operation.error}`);
        },
      );
      late = 0;
    }
    let nextMemory = 0;
    let nextReport = intervalMs;
    await drive(
      runMs,
      async () => {
        if (now() >= nextMemory + MEMORY_SAMPLE_MS || memory.length === 0) {
          nextMemory = now();
          await sampleMemory();
        }
        if (now() >= nextReport) {
          reportInterval();
          nextReport += intervalMs;
        }
      },
      (operation) => operations.push(operation),
    );
    await sampleMemory();
    reportInterval();

    // The verdict: the first third of the run against the last.
    const third = runMs / 3;
    const firstOps = operations.filter((o) => o.at < third);
    const lastOps = operations.filter((o) => o.at >= 2 * third);
    const firstLatency = latencyOf(firstOps);
    const lastLatency = latencyOf(lastOps);
    const drifted = (first: number, last: number) =>
      last > first * LATENCY_DRIFT_LIMIT && last - first > LATENCY_NOISE_MS;
    const latencyFlat =
      !drifted(firstLatency.p50, lastLatency.p50) && !drifted(firstLatency.p95, lastLatency.p95);
    const minutesBetweenThirds = (2 * third) / 60_000;
    const memoryMb: Record<string, { firstThird: number; lastThird: number; mbPerMinute: number }> = {};
    for (const name of Object.keys(memory[0]?.mb ?? {})) {
      const firstThird = meanMb(
        memory.filter((s) => s.at < third),
        name,
      );
      const lastThird = meanMb(
        memory.filter((s) => s.at >= 2 * third),
        name,
      );
      memoryMb[name] = {
        firstThird: round(firstThird),
        lastThird: round(lastThird),
        mbPerMinute: round((lastThird - firstThird) / minutesBetweenThirds),
      };
    }
    // The stack's processes; this one's own memory (the load generator) is reported, not judged.
    const growing = Object.entries(memoryMb)
      .filter(([name, m]) => processes.has(name) && m.mbPerMinute > MEMORY_SLOPE_LIMIT_MB_PER_MIN)
      .map(([name]) => name);
    const errorCounts = errorsOf(operations);
    for (const error of errors) errorCounts[error] = (errorCounts[error] ?? 0) + 1;
    const errorTotal = Object.values(errorCounts).reduce((a, b) => a + b, 0);

    report(
      `soak verdict: latency ${latencyFlat ? 'flat' : 'drifting'} (p50 ${firstLatency.p50} → ` +
        `${lastLatency.p50} ms, p95 ${firstLatency.p95} → ${lastLatency.p95} ms, first third → last); ` +
        `memory ${growing.length ? `growing: ${growing.join(', ')}` : 'flat'} (limit ` +
        `${MEMORY_SLOPE_LIMIT_MB_PER_MIN} MB/min); errors ${errorTotal}`,
    );
    report(
      `           memory MB/min ${Object.entries(memoryMb)
        .map(([name, m]) => `${name} ${m.mbPerMinute}`)
        .join(', ')}`,
    );
    const count = (kind: Kind) => operations.filter((o) => o.kind === kind).length;
    console.log(
      JSON.stringify({
        seconds: round(runMs / 1000),
        rate,
        operations: operations.length,
        perSecond: round(operations.length / (runMs / 1000)),
        byKind: { reset: count('reset'), change: count('change'), unlock: count('unlock') },
        lateStarts: late,
        loadAverage1m: { start: round(loadAtStart), end: round(loadavg()[0] ?? NaN) },
        latencyMs: latencyOf(operations),
        latencyByThird: { first: firstLatency, last: lastLatency },
        memoryMb,
        errors: errorCounts,
        verdict: {
          latency: latencyFlat ? 'flat' : 'drifting',
          memory: growing.length ? `growing: ${growing.join(', ')}` : 'flat',
          errors: errorTotal,
        },
      }),
    );
    if (errorTotal > 0) process.exitCode = 1;
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
