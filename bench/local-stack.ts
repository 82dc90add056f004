/**
 * `npm start`'s stack for the benchmarks: every service in its own process on port 0 (a free one), with a
 * data directory of its own, up when its banner says so.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Rate limits raised for a run: a benchmark is a few users acting many times. */
export const UNLIMITED_RATES: Record<string, string> = {
  RATE_LIMIT_PER_USER: '1000000/PT1M',
  RATE_LIMIT_CHANGE_PER_USER: '1000000/PT1M',
  RATE_LIMIT_PER_TENANT: '1000000/PT1M',
};

export interface Stack {
  child: ChildProcess;
  api: string;
  identityUrl: string;
  dataDir: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startStack(env: Record<string, string> = {}): Promise<Stack> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'writeback-bench-'));
  const args = [path.join(ROOT, 'dist/local/start.js'), '--data-dir', dataDir];
  for (const name of ['host', 'identity', 'blob', 'queue', 'table', 'amqp', 'management', 'keyvault'])
    args.push(`--${name}-port`, '0');
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const deadline = Date.now() + 90_000;
  while (!output.includes('Ctrl-C stops everything')) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`npm start did not come up:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const api = /Functions host\s+(http:\/\/\S+\/api)/.exec(output)?.[1];
  const identityUrl = /Identity\s+(https:\/\/\S+)/.exec(output)?.[1];
  if (!api || !identityUrl)
    throw new Error(`npm start's banner names no API or identity provider:\n${output}`);
  return {
    child,
    api,
    identityUrl,
    dataDir,
    output: () => output,
    async stop() {
      child.kill('SIGINT');
      if (child.exitCode === null) await once(child, 'exit');
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export function summary(samples: number[]): { p50: number; p95: number; p99: number; n: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return {
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    n: sorted.length,
  };
}
