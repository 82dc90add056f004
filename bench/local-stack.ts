/**
 * `npm start`'s stack for the benchmarks: every service in its own process on port 0 (a free one), with a
 * data directory of its own, up when its banner says so.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { descendantsOf } from '../local/process/descendants.js';
import { startService, type ServiceProcess } from '../local/process/child.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Rate limits raised for a run: a benchmark is a few users acting many times. */
export const UNLIMITED_RATES: Record<string, string> = {
  RATE_LIMIT_PER_USER: '1000000/PT1M',
  RATE_LIMIT_CHANGE_PER_USER: '1000000/PT1M',
  RATE_LIMIT_PER_TENANT: '1000000/PT1M',
};

/** Where the stack's services listen, as its banner says (for the benchmarks' own calls and counters). */
export interface StackEndpoints {
  /** ServiceBusConnection (RootManageSharedAccessKey on the AMQP port). */
  serviceBusConnection: string;
  /** The Service Bus emulator's management API, https://127.0.0.1:<port>. */
  serviceBusManagement: string;
  vaultUri: string;
  tablePort: number;
  /** Azurite's request counters (local/azurite/request-counter.ts). */
  azuriteStats: string;
  /** The local CA every HTTPS endpoint's certificate chains to. */
  caPath: string;
}

export interface Stack {
  child: ServiceProcess['child'];
  api: string;
  identityUrl: string;
  dataDir: string;
  endpoints: StackEndpoints;
  /** The stack's last lines of output (a bounded number: a soak runs for hours). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * `env` goes to every service (settings such as the rate limits); `demoUsers` more users in the demo
 * agent's directory, user-1@contoso.test … (npm start's --demo-users).
 */
export async function startStack(env: Record<string, string> = {}, { demoUsers = 0 } = {}): Promise<Stack> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'writeback-bench-'));
  const args = ['--data-dir', dataDir, '--demo-users', String(demoUsers)];
  for (const name of ['host', 'identity', 'blob', 'queue', 'table', 'amqp', 'management', 'keyvault'])
    args.push(`--${name}-port`, '0');
  let service: ServiceProcess;
  try {
    service = await startService({
      name: 'npm start',
      script: path.join(ROOT, 'dist/local/start.js'),
      args,
      env: { ...process.env, ...env },
      ready: /Ctrl-C stops everything/,
      timeoutMs: 90_000,
      graceMs: 30_000,
    });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const stop = async () => {
    await service.stop('SIGINT');
    await rm(dataDir, { recursive: true, force: true });
  };
  const banner = service.output();
  const api = /Functions host\s+(http:\/\/\S+\/api)/.exec(banner)?.[1];
  const identityUrl = /Identity\s+(https:\/\/\S+)/.exec(banner)?.[1];
  const endpoints = {
    serviceBusConnection: /ServiceBusConnection=(\S+)/.exec(banner)?.[1] ?? '',
    serviceBusManagement: /management (https:\/\/\S+)/.exec(banner)?.[1] ?? '',
    vaultUri: /Key Vault\s+(https:\/\/\S+)/.exec(banner)?.[1] ?? '',
    tablePort: Number(/Azurite\s+blob \d+, queue \d+, table (\d+)/.exec(banner)?.[1]),
    azuriteStats: /request counters (http:\/\/\S+)/.exec(banner)?.[1] ?? '',
    caPath: path.join(dataDir, 'certs', 'ca.pem'),
  };
  if (!api || !identityUrl || Object.values(endpoints).some((value) => !value)) {
    await stop();
    throw new Error(`npm start's banner does not name every endpoint:\n${banner}`);
  }
  return { child: service.child, api, identityUrl, dataDir, endpoints, output: service.output, stop };
}

/** Waits until the tenant's status route says its agent is online (its first heartbeat arrived). */
export async function untilOnline(
  stack: Stack,
  tenant: string,
  token: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(`${stack.api}/tenants/${tenant}/writeback/status`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (((await status.json()) as { state?: string }).state === 'online') return;
    if (Date.now() > deadline) throw new Error(`the demo agent never came online:\n${stack.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The stack's processes by name (the supervisor, then each service by its script: host, agent, …). */
export async function processesOf(stack: Stack): Promise<Map<string, number>> {
  const names: [RegExp, string][] = [
    [/functions-host\/cli\.js/, 'host'],
    [/agent\/cli\.js/, 'agent'],
    [/servicebus\/cli\.js/, 'servicebus'],
    [/keyvault\/cli\.js/, 'keyvault'],
    [/identity\/server-cli\.js/, 'identity'],
    [/azurite\/cli\.js/, 'azurite'],
  ];
  const found = new Map<string, number>([['supervisor', stack.child.pid!]]);
  for (const pid of await descendantsOf(stack.child.pid!)) {
    const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    const name = names.find(([pattern]) => pattern.test(command))?.[1] ?? `pid ${pid}`;
    found.set(found.has(name) ? `${name} ${pid}` : name, pid);
  }
  return found;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  n: number;
}

/** Percentiles and maximum of `samples` (ms), to `digits` decimals (0.1 ms); NaN when there are none. */
export function summary(samples: number[], digits = 1): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 10 ** digits) / 10 ** digits;
  return {
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? NaN),
    n: sorted.length,
  };
}
