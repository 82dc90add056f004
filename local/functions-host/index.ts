/**
 * The local Functions host as a library: spawns the CLI as a child process (one app per process, like
 * the real worker) and resolves once it is ready.
 *
 *   const host = await startFunctionsHost({ appDir, port: 0, env: { ... } });
 *   await fetch(`${host.url}/api/health`);
 *   await host.stop();
 */
import { fileURLToPath } from 'node:url';
import { startService } from '../process/child.js';
import type { FunctionSummary } from './host.js';
import type { HostKeys } from './keys.js';

export type { FunctionSummary } from './host.js';
export type { HostKeys } from './keys.js';

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));

export interface StartFunctionsHostOptions {
  /** The function app folder (package.json with `main`, host.json, optional local.settings.json). */
  appDir: string;
  /** 0 picks a free port. Default: local.settings.json Host.LocalHttpPort, else 7071. */
  port?: number;
  host?: string;
  /** Extra environment for the host (app settings); local.settings.json values do not override these. */
  env?: Record<string, string>;
  /** Keys and timer status. Default `<appDir>/.local/functions-host`. */
  dataDir?: string;
  /** Key overrides for this run (FUNCTIONS_LOCAL_MASTER_KEY / FUNCTIONS_LOCAL_FUNCTION_KEY). */
  keys?: Partial<HostKeys>;
  /** Body size limit in bytes (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT). */
  maxRequestBodyBytes?: number;
  /** How long stop() lets invocations in flight finish. Default 10 s. */
  gracePeriodMs?: number;
  /** Origins allowed by CORS (`--cors`). Default: local.settings.json Host.CORS. */
  corsOrigins?: string[];
  /** How long to wait for the ready signal. Default 30 s. */
  startTimeoutMs?: number;
  verbose?: boolean;
}

export interface FunctionsHost {
  url: string;
  port: number;
  dataDir: string;
  functions: FunctionSummary[];
  keys: HostKeys;
  pid: number;
  /** Everything the host printed so far (stdout and stderr). */
  output(): string;
  /** Resolves when `predicate(output)` holds, polling; rejects after `timeoutMs` with the output. */
  waitForOutput(predicate: (output: string) => boolean, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then waits for the exit (SIGKILL if it does not exit in time). Returns the exit code. */
  stop(): Promise<number | null>;
}

interface HostReadyMessage {
  type: 'ready';
  url: string;
  port: number;
  dataDir: string;
  functions: FunctionSummary[];
  keys: HostKeys;
}

export async function startFunctionsHost(options: StartFunctionsHostOptions): Promise<FunctionsHost> {
  const args = ['--app', options.appDir];
  if (options.port !== undefined) args.push('--port', String(options.port));
  if (options.host) args.push('--host', options.host);
  if (options.dataDir) args.push('--data-dir', options.dataDir);
  if (options.gracePeriodMs !== undefined) args.push('--grace-ms', String(options.gracePeriodMs));
  if (options.corsOrigins?.length) args.push('--cors', options.corsOrigins.join(','));
  if (options.verbose) args.push('--verbose');
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  if (options.keys?.masterKey) env.FUNCTIONS_LOCAL_MASTER_KEY = options.keys.masterKey;
  if (options.keys?.functionKey) env.FUNCTIONS_LOCAL_FUNCTION_KEY = options.keys.functionKey;
  if (options.maxRequestBodyBytes !== undefined)
    env.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT = String(options.maxRequestBodyBytes);

  const service = await startService({
    name: 'The Functions host',
    script: CLI,
    args,
    env,
    timeoutMs: options.startTimeoutMs ?? 30_000,
    graceMs: (options.gracePeriodMs ?? 10_000) + 5_000,
    keepLines: Infinity,
  });
  const message = service.readyMessage as unknown as HostReadyMessage;
  return {
    url: message.url,
    port: message.port,
    dataDir: message.dataDir,
    functions: message.functions,
    keys: message.keys,
    pid: service.child.pid ?? -1,
    output: service.output,
    waitForOutput: service.waitForOutput,
    stop: () => service.stop(),
  };
}
