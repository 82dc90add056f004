/**
 * The host's console output. Lines look like Core Tools' (`[timestamp] message`). Request bodies and
 * headers are never logged: they may hold passwords or tokens.
 */
import type { RpcLogLevel } from './core-types.js';

const ORDER: Record<RpcLogLevel, number> = {
  trace: 0,
  debug: 1,
  information: 2,
  warning: 3,
  error: 4,
  critical: 5,
  none: 6,
};

/** .NET log level names (host.json `logging.logLevel`) to worker levels. */
export function levelFromDotNet(name: string): RpcLogLevel {
  const key = name.trim().toLowerCase();
  return (
    (
      {
        trace: 'trace',
        debug: 'debug',
        information: 'information',
        warning: 'warning',
        error: 'error',
        critical: 'critical',
        none: 'none',
      } as const
    )[key as 'trace'] ?? 'information'
  );
}

export interface HostLoggerOptions {
  /** Show system debug lines (worker internals). */
  verbose?: boolean;
  /** Minimum level of the functions' own logs (host.json logging.logLevel.Function). */
  functionLevel?: RpcLogLevel;
  write?: (line: string) => void;
}

export class HostLogger {
  readonly #verbose: boolean;
  readonly #functionLevel: RpcLogLevel;
  readonly #write: (line: string) => void;

  constructor(options: HostLoggerOptions = {}) {
    this.#verbose = options.verbose ?? false;
    this.#functionLevel = options.functionLevel ?? 'information';
    this.#write = options.write ?? ((line) => process.stdout.write(line + '\n'));
  }

  #emit(message: string): void {
    this.#write(`[${new Date().toISOString()}] ${message}`);
  }

  /** A host line, always shown. */
  info(message: string): void {
    this.#emit(message);
  }

  /** A line from the worker or the library (system category). */
  system(level: RpcLogLevel, message: string): void {
    if (level === 'none') return;
    if (ORDER[level] < ORDER.information && !this.#verbose) return;
    this.#emit(level === 'information' ? message : `${level}: ${message}`);
  }

  /** A function's own `context.log` line, shown with the function's name. */
  user(functionName: string, level: RpcLogLevel, message: string): void {
    if (level === 'none' || ORDER[level] < ORDER[this.#functionLevel]) return;
    const prefix = level === 'information' ? '' : `${level}: `;
    this.#emit(`[${functionName}] ${prefix}${message}`);
  }
}
