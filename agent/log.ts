/**
 * The agent's structured log: one JSON object per line on stdout (warnings and errors too, so a
 * service manager's journal keeps one ordered stream). Fields are chosen by the callers and never
 * hold a password, a ciphertext, a connection string or a user identifier; `error` fields carry
 * only an error's name, code and status (an SDK's message can quote a request).
 */
import type { DirectoryLogger } from './directory/index.js';

export type LogLevel = 'info' | 'warn' | 'error';

export interface AgentLogger extends DirectoryLogger {
  error(message: string, fields?: Record<string, unknown>): void;
}

export type LogSink = (line: string) => void;

export function jsonLogger(
  base: Record<string, unknown>,
  sink: LogSink = (line) => process.stdout.write(line),
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
