/**
 * The agent's structured log: one JSON object per line on stdout (warnings and errors too, so a
 * service manager's journal keeps one ordered stream). Fields are chosen by the callers and never
 * hold a password, a ciphertext, a connection string or a user identifier; `error` fields carry
 * only an error's name, code and status (an SDK's message can quote a request).
 */
import { writeSync } from 'node:fs';
import type { DirectoryLogger } from './directory/index.js';

export type LogLevel = 'info' | 'warn' | 'error';

export interface AgentLogger extends DirectoryLogger {
  error(message: string, fields?: Record<string, unknown>): void;
}

export type LogSink = (line: string) => void;

/** How long a line may wait for others to share its write. */
const FLUSH_AFTER_MS = 20;
/** A buffer this large is written at once. */
const FLUSH_AT_BYTES = 16 * 1024;

/**
 * Standard output, written once per FLUSH_AFTER_MS (or FLUSH_AT_BYTES) instead of once per line: under
 * load the agent logs several lines per request, and each write to a pipe or file is a system call. What
 * is buffered is written synchronously when the process exits; a crash (kill -9) loses at most the last
 * FLUSH_AFTER_MS of lines.
 */
export function bufferedStdout(): LogSink {
  let buffered: string[] = [];
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (buffered.length === 0) return;
    const text = buffered.join('');
    buffered = [];
    bytes = 0;
    process.stdout.write(text);
  };
  process.once('exit', () => {
    if (buffered.length > 0) writeSync(1, buffered.join(''));
    buffered = [];
  });
  return (line) => {
    buffered.push(line);
    bytes += line.length;
    if (bytes >= FLUSH_AT_BYTES) flush();
    else timer ??= setTimeout(flush, FLUSH_AFTER_MS).unref();
  };
}

let stdoutSink: LogSink | undefined;

export function jsonLogger(
  base: Record<string, unknown>,
  sink: LogSink = (stdoutSink ??= bufferedStdout()),
): AgentLogger {
  const write = (level: LogLevel, message: string, fields: Record<string, unknown> = {}) => {
    sink(JSON.stringify({ time: new Date().toISOString(), level, message, ...base, ...fields }) + '\n');
  };
  return {
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}

/** What may be logged about an error: its kind, never its message. */
export function describeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { kind: typeof error };
  const e = error as Error & { code?: unknown; statusCode?: unknown; reason?: unknown };
  return {
    name: e.name,
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    ...(typeof e.statusCode === 'number' ? { status: e.statusCode } : {}),
    ...(typeof e.reason === 'string' ? { reason: e.reason } : {}),
  };
}
