/**
 * The resilience suite's scenario: a steady trickle of admin resets (each for a user of its own) and
 * status reads against the real local stack, one dependency frozen or stopped for a while through its
 * fault proxy, then resumed. What it measures and what the tests assert:
 * - every answer comes by its route's deadline (a password route: WRITEBACK_SYNC_WAIT + the margin);
 * - every accepted operation reaches a recorded final state, and the directory agrees with it: a
 *   succeeded reset set the password, one "not sent" did not, and no reset was applied twice;
 * - the service recovers by itself: how long after the fault ends a new reset succeeds again.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEMO_USER_PASSWORD } from '../../../agent/demo-config.js';
import { DEMO_POLICY, InMemoryDirectory } from '../../../agent/directory/index.js';
import type { DirectoryDriver, WriteOptions } from '../../../agent/directory/index.js';
import type { OperationResult, ResetFlags, UserIdentifier } from '../../../shared/domain/index.js';
import type { FaultProxy } from '../../support/fault-proxy.js';
import { eventually, startPipeline, type PipelineUnderTest } from '../../support/pipeline.js';

/** Short budgets, so that faults longer than them are quick to run. */
export const SYNC_WAIT_MS = 3_000;
/** shared/operations ANSWER_MARGIN_MS, and the time the test's own process may lag under load. */
const PASSWORD_ROUTE_BOUND_MS = SYNC_WAIT_MS + 2_000 + 1_500;
/** DEFAULT_ROUTE_BUDGET_MS and the same slack. */
const OTHER_ROUTE_BOUND_MS = 5_000 + 1_500;
const MESSAGE_TTL = 'PT15S';

export type Dependency = 'storage' | 'serviceBus' | 'keyVault';

/** The real in-memory directory, counting every reset it applies per user. */
class CountingDirectory implements DirectoryDriver {
  readonly resets = new Map<string, number>();
  constructor(readonly inner: InMemoryDirectory) {}
  resetPassword(
    user: UserIdentifier,
    newPassword: string,
    flags?: ResetFlags,
    options?: WriteOptions,
  ): Promise<OperationResult> {
    this.resets.set(user.value, (this.resets.get(user.value) ?? 0) + 1);
    return this.inner.resetPassword(user, newPassword, flags, options);
  }
  changePassword(
    user: UserIdentifier,
    current: string,
    next: string,
    options?: WriteOptions,
  ): Promise<OperationResult> {
    return this.inner.changePassword(user, current, next, options);
  }
  unlock(user: UserIdentifier, options?: WriteOptions): Promise<OperationResult> {
    return this.inner.unlock(user, options);
  }
  readPolicy() {
    return this.inner.readPolicy();
  }
  passwordStamp(user: UserIdentifier) {
    return this.inner.passwordStamp(user);
  }
  close() {
    return this.inner.close();
  }
}

export interface FaultStack {
  p: PipelineUnderTest;
  directory: CountingDirectory;
  proxy(dependency: Dependency): FaultProxy;
  stop(): Promise<void>;
}

export async function startFaultStack(): Promise<FaultStack> {
  const directory = new CountingDirectory(new InMemoryDirectory({ users: [], policy: DEMO_POLICY }));
  const p = await startPipeline({
    faults: true,
    directory,
    env: { WRITEBACK_SYNC_WAIT: `PT${SYNC_WAIT_MS / 1000}S`, WRITEBACK_MESSAGE_TTL: MESSAGE_TTL },
  });
  await p.untilOnline();
  const faults = p.cloud.faults;
  assert.ok(faults, 'the cloud has fault proxies');
  return {
    p,
    directory,
    proxy: (dependency) => faults[dependency],
    stop: () => p.stop(),
  };
}

interface Call {
  user: string;
  password: string;
  startedAt: number;
  ms: number;
  status: number;
  code?: string;
  operationId?: string;
}

export interface ScenarioReport {
  dependency: Dependency;
  fault: 'freeze' | 'stop';
  faultMs: number;
  resets: number;
  byStatus: Record<string, number>;
  /** How the accepted operations ended. */
  finalByState: Record<string, number>;
  longestPasswordAnswerMs: number;
  longestStatusAnswerMs: number;
  /** From the fault's end to the first reset started after it that succeeded. */
  recoveryMs: number;
  lost: number;
  appliedTwice: number;
}

let scenarioCount = 0;

async function timedFetch(
  url: string,
  init: RequestInit,
): Promise<{ status: number; body: Record<string, unknown>; ms: number }> {
  const started = performance.now();
  // Far beyond every deadline: only a hang the test must report ends here.
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { text };
  }
  return { status: response.status, body, ms: performance.now() - started };
}

/**
 * Runs the trickle, puts `fault` on `dependency` for `faultMs` a second after it starts, resumes, and
 * goes on until a reset started after the fault succeeds (at most `recoveryBoundMs`), then checks every
 * operation's end.
 */
export async function runFaultScenario(
  stack: FaultStack,
  dependency: Dependency,
  fault: 'freeze' | 'stop',
  faultMs: number,
  recoveryBoundMs = 30_000,
): Promise<ScenarioReport> {
  const { p, directory } = stack;
  const tenant = p.tenantId;
  const api = p.cloud.api;
  const admin = await p.token({ user: `admin@${tenant}.test`, admin: true });
  const reader = await p.token({ user: `alice@${tenant}.test` });
  const scenario = ++scenarioCount;
  const calls: Call[] = [];
  const statusTimes: number[] = [];
  const inFlight = new Set<Promise<void>>();
  let faultEndedAt = Number.POSITIVE_INFINITY;
  let recoveredAt: number | undefined;
  let index = 0;

  const reset = async (): Promise<void> => {
    const user = `s${scenario}u${index++}@${tenant}.test`;
    directory.inner.addUser({ userPrincipalName: user, password: DEMO_USER_PASSWORD });
    const password = `Resilient-${scenario}-${index}-Pw!`;
    const startedAt = Date.now();
    const answer = await timedFetch(
      `${api}/tenants/${tenant}/users/${encodeURIComponent(user)}/password/reset`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ newPassword: password }),
      },
    );
    const call: Call = { user, password, startedAt, ms: answer.ms, status: answer.status };
    if (typeof answer.body.code === 'string') call.code = answer.body.code;
    if (typeof answer.body.operationId === 'string') call.operationId = answer.body.operationId;
    calls.push(call);
    if (answer.status === 200 && startedAt >= faultEndedAt) recoveredAt ??= startedAt + answer.ms;
  };
  const readStatus = async (): Promise<void> => {
    const answer = await timedFetch(`${api}/tenants/${tenant}/writeback/status`, {
      headers: { authorization: `Bearer ${reader}` },
    });
    statusTimes.push(answer.ms);
  };
  const launch = (work: () => Promise<void>) => {
    const running = work().finally(() => inFlight.delete(running));
    inFlight.add(running);
  };

  let ticks = 0;
  const trickle = setInterval(() => {
    launch(reset);
    if (ticks++ % 4 === 0) launch(readStatus);
  }, 250);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const proxy = stack.proxy(dependency);
    if (fault === 'freeze') proxy.freeze();
    else await proxy.stop();
    await new Promise((resolve) => setTimeout(resolve, faultMs));
    await proxy.resume();
    faultEndedAt = Date.now();
    await eventually(
      async () => (recoveredAt !== undefined ? true : undefined),
      recoveryBoundMs,
      `recovery from ${dependency} ${fault}`,
    );
  } finally {
    clearInterval(trickle);
    await Promise.all(inFlight);
  }

  // Every accepted operation ends, and the directory agrees with how it ended.
  const accepted = calls.filter((c) => c.operationId !== undefined);
  let lost = 0;
  const finalByState: Record<string, number> = {};
  for (const call of accepted) {
    const final = await eventually(
      async () => {
        const answer = await timedFetch(`${api}/tenants/${tenant}/operations/${call.operationId}`, {
          headers: { authorization: `Bearer ${admin}` },
        });
        return answer.body.status === 'pending' ? undefined : answer.body;
      },
      45_000,
      `operation ${call.operationId} final`,
    ).catch(() => undefined);
    if (!final) {
      lost++;
      continue;
    }
    const state = `${String(final.status)}${typeof final.code === 'string' ? ` ${final.code}` : ''}`;
    finalByState[state] = (finalByState[state] ?? 0) + 1;
    const logon = directory.inner.logOn({ kind: 'upn', value: call.user }, call.password);
    if (final.status === 'succeeded')
      assert.equal(logon, 'ok', `${call.user}: succeeded, so the new password works`);
    if (final.status === 'failed' && final.code === 'ServiceUnavailable') {
      assert.notEqual(logon, 'ok', `${call.user}: "not sent", so the password is unchanged`);
    }
    if (final.status === 'expired') {
      assert.notEqual(logon, 'ok', `${call.user}: expired, so the password is unchanged`);
    }
  }
  const appliedTwice = [...directory.resets.entries()].filter(
    ([user, count]) => user.startsWith(`s${scenario}u`) && count > 1,
  ).length;
  const byStatus: Record<string, number> = {};
  for (const call of calls) {
    const key = `${call.status}${call.code ? ` ${call.code}` : ''}`;
    byStatus[key] = (byStatus[key] ?? 0) + 1;
  }
  const report: ScenarioReport = {
    dependency,
    fault,
    faultMs,
    resets: calls.length,
    byStatus,
    finalByState,
    longestPasswordAnswerMs: Math.round(Math.max(...calls.map((c) => c.ms))),
    longestStatusAnswerMs: Math.round(Math.max(0, ...statusTimes)),
    recoveryMs: Math.round((recoveredAt ?? Number.NaN) - faultEndedAt),
    lost,
    appliedTwice,
  };
  for (const call of calls) {
    assert.ok(
      call.status === 200 || call.status === 202 || (call.status === 503 && call.code !== undefined),
      `a reset answered ${call.status} ${call.code ?? ''}: only 200, 202 or a 503 problem are honest answers to a fault`,
    );
  }
  assert.ok(
    report.longestPasswordAnswerMs <= PASSWORD_ROUTE_BOUND_MS,
    `a reset took ${report.longestPasswordAnswerMs} ms (bound ${PASSWORD_ROUTE_BOUND_MS}): ${JSON.stringify(report)}`,
  );
  assert.ok(
    report.longestStatusAnswerMs <= OTHER_ROUTE_BOUND_MS,
    `a status read took ${report.longestStatusAnswerMs} ms (bound ${OTHER_ROUTE_BOUND_MS}): ${JSON.stringify(report)}`,
  );
  assert.equal(lost, 0, `operations without a final state: ${JSON.stringify(report)}`);
  assert.equal(appliedTwice, 0, `resets applied twice: ${JSON.stringify(report)}`);
  return report;
}

/**
 * The suite of one dependency: frozen and stopped, each for 2 s (shorter than the budgets and the SDKs'
 * retries) and 10 s (longer), on one stack; each scenario's figures go to the test's diagnostics.
 */
export function faultSuite(dependency: Dependency): void {
  let stack: FaultStack;
  before(async () => {
    stack = await startFaultStack();
  });
  after(() => stack?.stop());
  for (const fault of ['freeze', 'stop'] as const) {
    for (const faultMs of [2_000, 10_000]) {
      test(`${dependency} ${fault} for ${faultMs / 1000} s: answers on time, nothing lost or applied twice, recovers`, async (t) => {
        const report = await runFaultScenario(stack, dependency, fault, faultMs);
        t.diagnostic(JSON.stringify(report));
      });
    }
  }
}
