/**
 * Where a component writes its log lines: the Functions InvocationContext, the console, or a test's
 * collector. A function that needs only some of the levels asks for `Pick<Logger, …>`.
 */
export interface Logger {
  log(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}
