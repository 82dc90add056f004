/**
 * `npm run bench` (the default set): every part of a reset measured in one run on `npm start`'s stack,
 * and a capacity model of a deployment from what was counted.
 *
 *   node dist/bench/capacity.js [--levels 1,8,32,128] [--seconds 20] [--warm-up 5] [--users 512]
 *                               [--samples 200] [--app-loads 3] [--idle 11] [--out bench/results]
 *
 * For each in-flight level, after a warm-up of the same load: resets per second, latency (p50, p95,
 * p99, max), errors by code; the CPU of each process of the stack per reset (/proc); the calls per
 * reset as the emulators and Azurite count them, cloud side and agent side; the sizes of the request
 * and reply messages. Then, with no load: what a heartbeat costs; the irreducible parts measured alone
 * (irreducible-parts.ts) against the reset's p50 at 1 in flight; the app's load time; the capacity
 * model (capacity-model.ts) and the targets. Writes capacity.md, capacity.svg and capacity.json under
 * --out, prints a progress line every few seconds on stderr and one JSON summary line last.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openOfflineMinter } from '../local/identity/index.js';
import { DEV_IDENTITIES, SERVICE_TENANT } from '../local/stack/identities.js';
import { measureAppLoad } from './app-load.js';
import { callsOf, perUnit, sizesOf, type CallCounts } from './call-counts.js';
import {
  capacityModel,
  tenantsPerVaultOnHeartbeats,
  type DeploymentShape,
  type HeartbeatCosts,
  type ResetCosts,
} from './capacity-model.js';
import {
  capacityReport,
  PROCESS_ORDER,
  type CapacityResults,
  type LevelResult,
  type TargetRow,
} from './capacity-report.js';
import { difference, openCounters, sumOf, type Counters } from './emulator-counters.js';
import { criticalPathMs, measureIrreducibleParts } from './irreducible-parts.js';
import { latencyChartSvg } from './latency-chart.js';
import { processesOf, startStack, summary, UNLIMITED_RATES, untilOnline, type Stack } from './local-stack.js';
import { clockTicksPerSecond, cpuMsOf } from './process-cpu.js';
import { figuresOf, resetOnce, startLoad, type BenchUser } from './reset-load.js';

const USAGE =
  'Usage: node dist/bench/capacity.js [--levels 1,8,32,128] [--seconds 20] [--warm-up 5] [--users 512] ' +
  '[--samples 200] [--app-loads 3] [--idle 11] [--out bench/results]\n';
const { values } = parseArgs({
  options: {
    levels: { type: 'string', default: '1,8,32,128' },
    seconds: { type: 'string', default: '20' },
    'warm-up': { type: 'string', default: '5' },
    users: { type: 'string', default: '512' },
    samples: { type: 'string', default: '200' },
    'app-loads': { type: 'string', default: '3' },
    idle: { type: 'string', default: '11' },
    out: { type: 'string', default: 'bench/results' },
  },
});
/** `20`, `20s`, `1.5`: seconds. */
function seconds(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)s?$/.exec(text);
  if (!match) {
    process.stderr.write(`capacity: --${flag} must be seconds (20 or 20s)\n${USAGE}`);
    process.exit(2);
  }
  return Number(match[1]);
}
function whole(text: string, flag: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`capacity: --${flag} must be a whole number of at least ${min}\n${USAGE}`);
    process.exit(2);
  }
  return n;
}
const levels = values.levels.split(',').map((level) => whole(level.trim(), 'levels', 1));
const measureSeconds = seconds(values.seconds, 'seconds');
const warmUpSeconds = seconds(values['warm-up'], 'warm-up');
const idleSeconds = seconds(values.idle, 'idle');
const userCount = whole(values.users, 'users', Math.max(...levels, 20));
const samples = whole(values.samples, 'samples', 10);
const appLoads = whole(values['app-loads'], 'app-loads', 1);

const TENANT = 'contoso';
/** The level the targets and the model read. */
const REFERENCE_IN_FLIGHT = levels.includes(32) ? 32 : levels.at(-1)!;
const REQUEST_QUEUE = `writeback-${TENANT}`;
const REPLIES_QUEUE = `writeback-${TENANT}-replies`;
const SERVICES = PROCESS_ORDER;

const progress = (line: string) => process.stderr.write(`capacity: ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

/** Counters, CPU and the time, taken together at a phase's edges. */
interface Snapshot {
  at: number;
  counters: Counters;
  cpuMs: Record<string, number>;
}

async function main(): Promise<void> {
  const loadAverageStart = loadavg()[0] ?? NaN;
  const startedAt = new Date().toISOString();
  progress(`starting the stack with ${userCount} generated users`);
  const stack = await startStack(UNLIMITED_RATES, { demoUsers: userCount });
  try {
    const minter = await openOfflineMinter({
      dataDir: path.join(stack.dataDir, 'identity'),
      issuerBaseUrl: stack.identityUrl,
    });
    const lifetimeSeconds = 7200;
    const users: BenchUser[] = [];
    for (let i = 1; i <= userCount; i++) {
      const upn = `user-${i}@${TENANT}.test`;
      users.push({ upn, token: await minter.mintToken({ tenant: TENANT, upn, lifetimeSeconds }) });
    }
    // The developer identity: an administrator of the vault emulator (its counters) and Crypto User.
    const vaultToken = await minter.mintAppToken({
      tenant: SERVICE_TENANT,
      clientId: DEV_IDENTITIES.developer.clientId,
      objectId: DEV_IDENTITIES.developer.objectId,
      audience: 'https://vault.azure.net',
      lifetimeSeconds,
    });
    const counters = await openCounters(stack.endpoints, vaultToken);
    await untilOnline(stack, TENANT, users[0]!.token);
    const processes = await processesOf(stack);
    const ticks = await clockTicksPerSecond();
    const snapshot = async (): Promise<Snapshot> => {
      const at = performance.now();
      const [read, cpuMs] = await Promise.all([counters.read(), cpuMsOf(processes, ticks)]);
      const own = process.cpuUsage();
      return { at, counters: read, cpuMs: { ...cpuMs, bench: (own.user + own.system) / 1000 } };
    };

    // The first key fetch, links and JIT; then change and unlock once each of 20 users, one at a time.
    progress('warming up, then change and unlock one at a time');
    for (let i = 0; i < 20; i++) {
      const outcome = await resetOnce(stack.api, TENANT, users[i % users.length]!);
      if (outcome.error) throw new Error(`a first reset answered ${outcome.error}:\n${stack.output()}`);
    }
    const oneAtATime = await changesAndUnlocks(stack, users.slice(0, 20));

    const levelResults: LevelResult[] = [];
    for (const inFlight of levels) levelResults.push(await runLevel(stack, users, inFlight, snapshot));

    const idle = await idleWindow(snapshot);
    const connectionCounts = await counters.read();
    const connections = {
      agent: sumOf(
        connectionCounts,
        /^sb\|identity\|(?!RootManageSharedAccessKey\||unauthorized\|)[^|]+\|connections$/,
      ),
      cloud: sumOf(connectionCounts, /^sb\|identity\|RootManageSharedAccessKey\|connections$/),
    };

    progress(`measuring the irreducible parts (${samples} samples each)`);
    const reference = levelResults.find((l) => l.inFlight === REFERENCE_IN_FLIGHT)!;
    const parts = await measureIrreducibleParts({
      endpoints: stack.endpoints,
      tenant: TENANT,
      vaultToken,
      requestBodyBytes: reference.sizes.request.bodyBytes || 600,
      samples,
    });
    progress(`measuring the app's load time (${appLoads} host starts)`);
    const appLoad = await measureAppLoad(processes.get('host')!, appLoads);

    const atOne = levelResults.find((l) => l.inFlight === 1) ?? levelResults[0]!;
    const reset: ResetCosts = {
      keyVaultOperations: reference.calls.keyVaultTotal,
      serviceBusDataOperations: reference.calls.serviceBusDataOperations,
      serviceBusManagementOperations: reference.calls.serviceBusManagementOperations,
      tableTransactions: reference.calls.tableRequests,
      tableEntities: reference.calls.tableEntities,
      hostCpuMs: reference.cpuMsPerReset.host ?? NaN,
      latencyMs: atOne.latencyMs.p50,
    };
    const heartbeat: HeartbeatCosts = {
      keyVaultOperations: idle.perHeartbeat.keyVaultTotal,
      serviceBusDataOperations: idle.perHeartbeat.serviceBusDataOperations,
      tableTransactions: idle.perHeartbeat.tableRequests,
    };
    const shape: DeploymentShape = {
      keyProtection: 'hsm',
      serviceBusTier: 'Standard',
      premiumMessagingUnits: 1,
      maxInstances: 100,
      httpConcurrencyPerInstance: 16,
      vCpusPerInstance: 1,
      heartbeatIntervalSeconds: 300,
      queuesPerTenant: 2,
      sharedQueues: 1,
      connectionsPerAgent: connections.agent,
      connectionsPerInstance: connections.cloud,
      tenants: 1000,
      peakResetsPerTenantPerSecond: 0.01,
      // docs/key-rollover.md, "Throttling and capacity": HSM keys at the default schedule and period.
      tenantsPerVaultByRollover: 34_000,
    };
    const pathMs = criticalPathMs(parts);
    const results: CapacityResults = {
      startedAt,
      machine: { cpus: availableParallelism(), loadAverageStart, loadAverageEnd: loadavg()[0] ?? NaN },
      settings: { levels, warmUpSeconds, seconds: measureSeconds, users: userCount, samples },
      referenceInFlight: REFERENCE_IN_FLIGHT,
      levels: levelResults,
      oneAtATime,
      idle,
      parts,
      criticalPathMs: round(pathMs, 3),
      resetP50AtOneMs: atOne.latencyMs.p50,
      appLoad,
      connections,
      model: {
        reset,
        heartbeat,
        shape,
        answers: capacityModel(reset, heartbeat, shape),
        // Software keys: twice the operations, and about twice the tenants the rollover paces (key-rollover.md).
        withSoftwareKeys: capacityModel(reset, heartbeat, {
          ...shape,
          keyProtection: 'software',
          tenantsPerVaultByRollover: 68_000,
        }),
        tenantsPerVaultOnHeartbeats: tenantsPerVaultOnHeartbeats(heartbeat, shape),
      },
      targets: [],
    };
    results.targets = targetsOf(results, reference, atOne);

    const out = path.resolve(values.out);
    await mkdir(out, { recursive: true });
    const chart = latencyChartSvg(
      levelResults.map((l) => ({ inFlight: l.inFlight, perSecond: l.perSecond, ...l.latencyMs })),
      `Reset latency against throughput (${startedAt.slice(0, 16)}Z)`,
    );
    await writeFile(path.join(out, 'capacity.svg'), chart);
    await writeFile(path.join(out, 'capacity.md'), capacityReport(results, 'capacity.svg'));
    await writeFile(path.join(out, 'capacity.json'), `${JSON.stringify(results, null, 2)}\n`);
    progress(`report written to ${path.join(out, 'capacity.md')}`);

    console.log(
      JSON.stringify({
        levels: levelResults.map((l) => ({
          inFlight: l.inFlight,
          perSecond: l.perSecond,
          latencyMs: l.latencyMs,
          errors: l.errors,
          cpuMsPerReset: Object.fromEntries(Object.entries(l.cpuMsPerReset).map(([k, v]) => [k, round(v)])),
          servicesCpuMsPerReset: round(l.servicesCpuMsPerReset),
        })),
        callsPerReset: {
          tableRequests: round(reference.calls.tableRequests),
          tableEntities: round(reference.calls.tableEntities),
          keyVault: round(reference.calls.keyVaultTotal),
          serviceBusDataOperations: round(reference.calls.serviceBusDataOperations),
        },
        sizes: reference.sizes,
        criticalPathMs: results.criticalPathMs,
        resetP50AtOneMs: results.resetP50AtOneMs,
        appLoadMs: appLoad.registeredMs,
        capacity: {
          sustainedResetsPerSecond: round(results.model.answers.sustainedResetsPerSecond, 1),
          firstLimit: results.model.answers.firstLimit.limit,
          tenantsPerNamespace: results.model.answers.tenantsPerNamespace.count,
          tenantsPerVault: results.model.answers.tenantsPerVault.count,
        },
        targets: Object.fromEntries(results.targets.map((t) => [t.target, t.met])),
        report: path.join(out, 'capacity.md'),
        loadAverage1m: { start: round(loadAverageStart), end: round(loadavg()[0] ?? NaN) },
      }),
    );
  } finally {
    await stack.stop();
  }
}

/** 20 changes and 20 unlocks, one at a time, of users still on the demo password. */
async function changesAndUnlocks(stack: Stack, users: BenchUser[]) {
  const post = async (user: BenchUser, route: string, body?: unknown) => {
    const started = performance.now();
    const response = await fetch(`${stack.api}/tenants/${TENANT}/${route}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${user.token}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`${route} answered ${response.status}`);
    return performance.now() - started;
  };
  const changes: number[] = [];
  const unlocks: number[] = [];
  for (const [i, user] of users.entries()) {
    // The first 20 users' passwords were reset during the warm-up, so a change starts from a reset.
    const current = `Bench-Known-Passw0rd-${process.pid}-${i}`;
    const reset = await fetch(`${stack.api}/tenants/${TENANT}/me/password/reset`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ newPassword: current }),
    });
    if (reset.status !== 200) throw new Error(`a reset answered ${reset.status}`);
    changes.push(
      await post(user, 'me/password/change', { currentPassword: current, newPassword: `${current}-2` }),
    );
    unlocks.push(await post(user, 'me/unlock'));
  }
  return { changeMs: summary(changes), unlockMs: summary(unlocks) };
}

/** One level: warm-up, then the measured window, the load never pausing between them. */
async function runLevel(
  stack: Stack,
  users: BenchUser[],
  inFlight: number,
  snapshot: () => Promise<Snapshot>,
): Promise<LevelResult> {
  const load = startLoad(stack.api, TENANT, users, inFlight);
  progress(`${inFlight} in flight: warming up for ${warmUpSeconds} s`);
  await sleep(warmUpSeconds * 1000);
  const before = await snapshot();
  const end = before.at + measureSeconds * 1000;
  for (let now = performance.now(); now < end - 100; now = performance.now()) {
    await sleep(Math.min(2000, end - now));
    if (performance.now() >= end) break;
    const sofar = figuresOf(load.outcomes, inFlight, before.at, performance.now());
    progress(
      `${inFlight} in flight: ${round((performance.now() - before.at) / 1000, 0)}/${measureSeconds} s, ` +
        `${sofar.resets} resets, ${sofar.perSecond}/s, p50 ${sofar.latencyMs.p50} ms, p99 ${sofar.latencyMs.p99} ms, ` +
        `errors ${Object.values(sofar.errors).reduce((a, b) => a + b, 0)}`,
    );
  }
  const after = await snapshot();
  await load.stop();
  const figures = figuresOf(load.outcomes, inFlight, before.at, after.at);
  const resets = Math.max(1, figures.resets);
  const cpuMsPerReset = Object.fromEntries(
    Object.keys(after.cpuMs).map((name) => [
      name,
      ((after.cpuMs[name] ?? NaN) - (before.cpuMs[name] ?? NaN)) / resets,
    ]),
  );
  const servicesCpuMsPerReset = SERVICES.reduce((sum, name) => sum + (cpuMsPerReset[name] ?? 0), 0);
  const calls = callsOf(difference(after.counters, before.counters));
  progress(
    `${inFlight} in flight: ${figures.perSecond} resets/s, p50 ${figures.latencyMs.p50} ms, services ` +
      `${round(servicesCpuMsPerReset)} CPU ms per reset`,
  );
  return {
    ...figures,
    cpuMsPerReset,
    servicesCpuMsPerReset,
    servicesCores: (servicesCpuMsPerReset * figures.resets) / (after.at - before.at || 1),
    calls: perUnit(calls, resets),
    sizes: { request: sizesOf(calls, REQUEST_QUEUE), reply: sizesOf(calls, REPLIES_QUEUE) },
  };
}

/**
 * No load for at least `--idle` seconds and until the agent has sent a heartbeat (every 10 s on the
 * demo agent): what the stack does on its own, and what one heartbeat costs.
 */
async function idleWindow(snapshot: () => Promise<Snapshot>) {
  progress(`idle for ${idleSeconds} s (heartbeats only)`);
  await sleep(2000); // the last level's replies settle first
  const before = await snapshot();
  let after = before;
  let heartbeats = 0;
  while (
    performance.now() - before.at < idleSeconds * 1000 ||
    (heartbeats === 0 && performance.now() - before.at < 60_000)
  ) {
    await sleep(1000);
    after = await snapshot();
    heartbeats = sumOf(
      difference(after.counters, before.counters),
      new RegExp(`^sb\\|queue\\|${REPLIES_QUEUE}\\|sends$`),
    );
  }
  const seconds = (after.at - before.at) / 1000;
  const cpuMsPerSecond = Object.fromEntries(
    Object.keys(after.cpuMs)
      .filter((name) => name !== 'bench')
      .map((name) => [name, round(((after.cpuMs[name] ?? NaN) - (before.cpuMs[name] ?? NaN)) / seconds, 1)]),
  );
  const perHeartbeat: CallCounts = perUnit(
    callsOf(difference(after.counters, before.counters)),
    Math.max(1, heartbeats),
  );
  return { seconds: round(seconds, 1), heartbeats, cpuMsPerSecond, perHeartbeat };
}

function targetsOf(results: CapacityResults, reference: LevelResult, atOne: LevelResult): TargetRow[] {
  const at = `at ${reference.inFlight} in flight`;
  const ratio = results.resetP50AtOneMs / results.criticalPathMs;
  const load =
    [...results.appLoad.registeredMs].sort((a, b) => a - b)[
      Math.floor(results.appLoad.registeredMs.length / 2)
    ] ?? NaN;
  const host = reference.cpuMsPerReset.host ?? NaN;
  const agent = reference.cpuMsPerReset.agent ?? NaN;
  return [
    { target: 'Host CPU ≤ 3 ms per reset', measured: `${round(host)} ms ${at}`, met: host <= 3 },
    { target: 'Agent CPU ≤ 2 ms per request', measured: `${round(agent)} ms ${at}`, met: agent <= 2 },
    {
      target: 'Stack CPU ≤ 12 ms per reset',
      measured: `${round(reference.servicesCpuMsPerReset)} ms ${at} (the six services)`,
      met: reference.servicesCpuMsPerReset <= 12,
    },
    {
      target: '≥ 150 resets/s at 32 in flight',
      measured: reference.inFlight === 32 ? `${reference.perSecond}/s` : 'not run (no level of 32)',
      met: reference.inFlight === 32 && reference.perSecond >= 150,
    },
    {
      target: 'Reset p50 at 1 in flight ≤ 1.5 × the irreducible parts',
      measured: `${atOne.latencyMs.p50} ms = ${round(ratio)} × ${round(results.criticalPathMs)} ms`,
      met: ratio <= 1.5,
    },
    {
      target: 'App load ≤ 300 ms',
      measured: `${round(load, 0)} ms (median of ${results.appLoad.registeredMs.length})`,
      met: load <= 300,
    },
  ];
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
