/**
 * Starting and stopping the local stack's processes. Each service runs in its own Node process with
 * an IPC channel, so it can notice that its parent is gone and stop itself: `npm start` must never
 * leave a process behind, even when it is killed without a chance to clean up.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** Everything the process printed so far (for error messages and tests). */
  output(): string;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface StartServiceOptions {
  name: string;
  /** The compiled script to run with Node. */
  script: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A line matching this means the service is ready. */
  ready: RegExp;
  timeoutMs?: number;
  /** Called with every output line (the supervisor prefixes and prints them). */
  onLine?: (line: string) => void;
}

export async function startService(options: StartServiceOptions): Promise<ServiceProcess> {
  const child = fork(options.script, options.args ?? [], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const lines: string[] = [];
  let readyResolve: (() => void) | undefined;
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (lines.length > 2000) lines.splice(0, lines.length - 2000);
      options.onLine?.(line);
      if (options.ready.test(line)) readyResolve?.();
    });
  }
  const output = (): string => lines.join('\n');
  const exited = once(child, 'exit').then(
    ([code, signal]) => ({ code, signal }) as { code: number | null; signal: string | null },
  );

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  const timeoutMs = options.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    exited.then(() => 'exited' as const),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome !== 'ready') {
    await stop('SIGKILL');
    throw new Error(
      `${options.name} ${outcome === 'exited' ? 'exited' : `was not ready within ${timeoutMs} ms`} before it was ready. Output:\n${output()}`,
    );
  }
  return { name: options.name, child, output, stop };
}

/**
 * For a service process: stop (through its own handler of `signal`) when the parent goes away, and
 * let go of the IPC channel once asked to stop, since an open channel keeps the event loop alive.
 */
export function stopWhenParentExits(signal: NodeJS.Signals = 'SIGTERM'): void {
  if (!process.send) return;
  const onDisconnect = (): void => {
    process.kill(process.pid, signal);
  };
  process.on('disconnect', onDisconnect);
  for (const stopSignal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(stopSignal, () => {
      process.off('disconnect', onDisconnect);
      if (process.connected) process.disconnect();
    });
  }
}

/**
 * For a service CLI: on SIGINT, SIGTERM or the parent going away, close the service and exit
 * (0 when it closed cleanly). A second signal exits at once rather than waiting.
 */
export function closeOnStop(name: string, close: () => Promise<void>): void {
  let stopping = false;
  const stop = (reason: string): void => {
    if (stopping) process.exit(0);
    stopping = true;
    close().then(
      () => {
        if (process.connected) process.disconnect();
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`${name}: error while stopping on ${reason}: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  stopWhenParentExits('SIGTERM');
}
