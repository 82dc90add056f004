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
  /** The ready line's match (with `ready`), else the `{ type: 'ready' }` message the service sent. */
  readyLine?: RegExpExecArray;
  readyMessage?: ReadyMessage;
  /** Everything the process printed so far (for error messages and tests). */
  output(): string;
  /** Resolves when `predicate(output)` holds; rejects after `timeoutMs` or when the process exits. */
  waitForOutput(predicate: (output: string) => boolean, timeoutMs?: number): Promise<string>;
  /** `signal`, then SIGKILL if it has not exited after `graceMs`; resolves with the exit code. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

/** What a service sends on its IPC channel once it listens (its URLs and ports, …). */
export interface ReadyMessage {
  type: 'ready';
  [key: string]: unknown;
}

export interface StartServiceOptions {
  name: string;
  /** The compiled script to run with Node. */
  script: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * A line matching this means the service is ready. Omitted: its `{ type: 'ready' }` message on the
   * IPC channel does, and the channel is closed then (the service must stop by itself without it).
   */
  ready?: RegExp;
  timeoutMs?: number;
  /** stop()'s default time between the signal and SIGKILL. Default 5 s. */
  graceMs?: number;
  /** How many lines output() keeps. Default 2000. */
  keepLines?: number;
  /** Called with every output line (the supervisor prefixes and prints them). */
  onLine?: (line: string) => void;
}

/** The one way the local stack and its tests start a Node process and wait until it is ready. */
export async function startService(options: StartServiceOptions): Promise<ServiceProcess> {
  const child = fork(options.script, options.args ?? [], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const keepLines = options.keepLines ?? 2000;
  const lines: string[] = [];
  let readyLine: RegExpExecArray | undefined;
  let readyMessage: ReadyMessage | undefined;
  let readyResolve: (() => void) | undefined;
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));
  const streamsClosed: Promise<unknown>[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    streamsClosed.push(once(stream, 'close').catch(() => undefined));
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (lines.length > keepLines) lines.splice(0, lines.length - keepLines);
      options.onLine?.(line);
      const match = readyLine ? null : (options.ready?.exec(line) ?? null);
      if (match) {
        readyLine = match;
        readyResolve?.();
      }
    });
  }
  if (!options.ready) {
    child.on('message', (message: ReadyMessage | null) => {
      if (message?.type !== 'ready' || readyMessage) return;
      readyMessage = message;
      // The channel was only needed for this message.
      child.disconnect();
      readyResolve?.();
    });
  }
  const output = (): string => lines.join('\n');
  // A spawn failure ('error' without 'exit') ends the wait for readiness too.
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.on('error', (error) => {
      spawnError ??= error;
      if (child.pid === undefined) resolve(null);
    });
  });

  const stop = async (
    signal: NodeJS.Signals = 'SIGTERM',
    graceMs = options.graceMs ?? 5000,
  ): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };

  const waitForOutput = async (predicate: (text: string) => boolean, timeoutMs = 10_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(output())) {
      if (Date.now() > deadline)
        throw new Error(`Timed out waiting for the output of ${options.name}. Output so far:\n${output()}`);
      if (child.exitCode !== null)
        throw new Error(`${options.name} exited (${child.exitCode}). Output:\n${output()}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return output();
  };

  const timeoutMs = options.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    exited.then(() => 'exited' as const),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (spawnError && child.pid === undefined) throw spawnError;
  if (outcome !== 'ready') {
    const code = await stop('SIGKILL');
    // Let the pipes drain so that the output is complete.
    await Promise.race([Promise.all(streamsClosed), new Promise((resolve) => setTimeout(resolve, 500))]);
    throw new Error(
      `${options.name} ${outcome === 'exited' ? `exited with code ${code}` : `was not ready within ${timeoutMs} ms`} before it was ready. Output:\n${output()}`,
    );
  }
  return { name: options.name, child, readyLine, readyMessage, output, waitForOutput, stop };
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
