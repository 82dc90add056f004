/** Flag handling shared by the local service CLIs: the same usage errors, `--help` and port checks. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses `options` plus `--help`. A bad flag prints `name: message` and the usage and exits 2;
 * `--help` prints the usage and exits 0.
 */
export function parseServiceArgs<O extends Options>(name: string, usage: string, options: O) {
  const usageError = (message: string): never => {
    process.stderr.write(`${name}: ${message}\n\n${usage}`);
    process.exit(2);
  };
  const config = {
    strict: true,
    allowPositionals: false,
    options: { ...options, help: { type: 'boolean', short: 'h', default: false } },
  } as const;
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    return usageError((error as Error).message);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(usage);
    process.exit(0);
  }
  /** `--port` as a number (0 picks a free port), or `fallback` when absent. */
  const port = (value: string | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) > 65_535) usageError('--port must be a port number (0-65535).');
    return Number(value);
  };
  return { values: parsed.values, usageError, port };
}
