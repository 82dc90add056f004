/**
 * The local Functions host as a library: spawns the CLI as a child process (one app per process, like
 * the real worker) and resolves once it is ready.
 *
 *   const host = await startFunctionsHost({ appDir, port: 0, env: { ... } });
 *   await fetch(`${host.url}/api/health`);
 *   await host.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

interface ReadyMessage {
  type: 'ready';
  url: string;
  port: number;
  dataDir: string;
  functions: FunctionSummary[];
  keys: HostKeys;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export function startFunctionsHost(options: StartFunctionsHostOptions): Promise<FunctionsHost> {
  const args = [CLI, '--app', options.appDir];
  if (options.port !== undefined) args.push('--port', String(options.port));
  if (options.host) args.push('--host', options.host);
  if (options.dataDir) args.push('--data-dir', options.dataDir);
  if (options.gracePeriodMs !== undefined) args.push('--grace-ms', String(options.gracePeriodMs));
  if (options.verbose) args.push('--verbose');
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  if (options.keys?.masterKey) env.FUNCTIONS_LOCAL_MASTER_KEY = options.keys.masterKey;
  if (options.keys?.functionKey) env.FUNCTIONS_LOCAL_FUNCTION_KEY = options.keys.functionKey;
  if (options.maxRequestBodyBytes !== undefined)
    env.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT = String(options.maxRequestBodyBytes);

  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exit = exited(child);

  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const grace = (options.gracePeriodMs ?? 10_000) + 5_000;
      const killer = setTimeout(() => child.kill('SIGKILL'), grace);
      const code = await exit;
      clearTimeout(killer);
      return code;
    }
    return exit;
  };

  const waitForOutput = async (predicate: (text: string) => boolean, timeoutMs = 10_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(output)) {
      if (Date.now() > deadline)
        throw new Error(`Timed out waiting for the host's output. Output so far:\n${output}`);
      if (child.exitCode !== null) throw new Error(`The host exited (${child.exitCode}). Output:\n${output}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return output;
  };

  return new Promise<FunctionsHost>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(
        new Error(
          `The Functions host did not become ready within ${options.startTimeoutMs ?? 30_000} ms. Output:\n${output}`,
        ),
      );
    }, options.startTimeoutMs ?? 30_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void exit.then((code) => {
      clearTimeout(timer);
      // Let the pipes drain so the output is complete.
      setImmediate(() =>
        reject(
          new Error(`The Functions host exited with code ${code} before it was ready. Output:\n${output}`),
        ),
      );
    });
    child.on('message', (message: ReadyMessage) => {
      if (message?.type !== 'ready') return;
      clearTimeout(timer);
      // The channel was only needed for this message; the host still exits if this process dies.
      child.disconnect();
      resolve({
        url: message.url,
        port: message.port,
        dataDir: message.dataDir,
        functions: message.functions,
        keys: message.keys,
        pid: child.pid ?? -1,
        output: () => output,
        waitForOutput,
        stop,
      });
    });
  });
}
