/**
 * The app's configuration as the host and Core Tools read it: host.json and local.settings.json.
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';

export class HostStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'HostStartError';
  }
}

/** host.json `extensions.serviceBus.clientRetryOptions`, in the SDK's terms. */
export interface ClientRetryOptions {
  mode: 'exponential' | 'fixed';
  timeoutInMs: number;
  retryDelayInMs: number;
  maxRetryDelayInMs: number;
  maxRetries: number;
}

export interface HostJson {
  routePrefix: string;
  serviceBus: {
    maxConcurrentCalls: number;
    prefetchCount: number;
    autoCompleteMessages: boolean;
    maxAutoLockRenewalDurationMs: number;
    /** How the trigger's client retries, and reconnects after an outage (the extension's defaults if absent). */
    clientRetryOptions: ClientRetryOptions;
  };
  /** Minimum level of user (function) logs, from `logging.logLevel`. */
  functionLogLevel: string;
  raw: Record<string, unknown>;
}

function readJson(file: string): unknown {
  const text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HostStartError(`${path.basename(file)} is not valid JSON: ${(err as Error).message}`);
  }
}

function record(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** Lookup with the case-insensitivity of .NET configuration keys. */
function get(obj: Record<string, unknown>, key: string): unknown {
  const found = Object.keys(obj).find((k) => k.toLowerCase() === key.toLowerCase());
  return found === undefined ? undefined : obj[found];
}

/** A .NET TimeSpan `[d.]hh:mm:ss[.fff]` in milliseconds, or undefined. */
export function parseTimeSpan(text: string): number | undefined {
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/.exec(text.trim());
  if (!m) return undefined;
  const [, d, h, min, s, frac] = m;
  if (Number(h) > 23 || Number(min) > 59 || Number(s) > 59) return undefined;
  return (
    ((Number(d ?? 0) * 24 + Number(h)) * 3600 + Number(min) * 60 + Number(s)) * 1000 +
    Math.round(Number(`0.${frac ?? '0'}`) * 1000)
  );
}

export function readHostJson(appDir: string): HostJson {
  const file = path.join(appDir, 'host.json');
  const raw = existsSync(file) ? record(readJson(file)) : {};
  const version = get(raw, 'version');
  if (existsSync(file) && version !== '2.0') {
    throw new HostStartError(`host.json: "version" must be "2.0" (got ${JSON.stringify(version)})`);
  }
  const extensions = record(get(raw, 'extensions'));
  const http = record(get(extensions, 'http'));
  const sb = record(get(extensions, 'serviceBus'));
  const prefixValue = get(http, 'routePrefix');
  const routePrefix = typeof prefixValue === 'string' ? prefixValue : 'api';

  const num = (v: unknown, fallback: number, name: string): number => {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new HostStartError(`host.json: extensions.serviceBus.${name} must be a non-negative integer`);
    }
    return v;
  };
  const renewal = get(sb, 'maxAutoLockRenewalDuration');
  let maxAutoLockRenewalDurationMs = 5 * 60_000;
  if (renewal !== undefined) {
    const ms = typeof renewal === 'string' ? parseTimeSpan(renewal) : undefined;
    if (ms === undefined) {
      throw new HostStartError(
        'host.json: extensions.serviceBus.maxAutoLockRenewalDuration must be a TimeSpan "hh:mm:ss"',
      );
    }
    maxAutoLockRenewalDurationMs = ms;
  }
  const timeSpan = (value: unknown, fallback: number, name: string): number => {
    if (value === undefined) return fallback;
    const ms = typeof value === 'string' ? parseTimeSpan(value) : undefined;
    if (ms === undefined) {
      throw new HostStartError(
        `host.json: extensions.serviceBus.clientRetryOptions.${name} must be a TimeSpan "hh:mm:ss"`,
      );
    }
    return ms;
  };
  // The Service Bus extension's defaults: exponential, 0.8 s to 1 min, 3 retries, 1 minute a try.
  const retry = record(get(sb, 'clientRetryOptions'));
  const mode = String(get(retry, 'mode') ?? 'exponential').toLowerCase();
  if (mode !== 'exponential' && mode !== 'fixed') {
    throw new HostStartError(
      'host.json: extensions.serviceBus.clientRetryOptions.mode must be exponential or fixed',
    );
  }
  const clientRetryOptions: ClientRetryOptions = {
    mode,
    timeoutInMs: timeSpan(get(retry, 'tryTimeout'), 60_000, 'tryTimeout'),
    retryDelayInMs: timeSpan(get(retry, 'delay'), 800, 'delay'),
    maxRetryDelayInMs: timeSpan(get(retry, 'maxDelay'), 60_000, 'maxDelay'),
    maxRetries: num(get(retry, 'maxRetries'), 3, 'clientRetryOptions.maxRetries'),
  };
  const auto = get(sb, 'autoCompleteMessages');
  const logLevels = record(get(record(get(raw, 'logging')), 'logLevel'));
  const functionLogLevel = String(get(logLevels, 'Function') ?? get(logLevels, 'default') ?? 'Information');

  return {
    routePrefix,
    serviceBus: {
      // The extension's default is 16 per processor; a developer machine does not need more than 16.
      maxConcurrentCalls: num(get(sb, 'maxConcurrentCalls'), 16, 'maxConcurrentCalls') || 16,
      prefetchCount: num(get(sb, 'prefetchCount'), 0, 'prefetchCount'),
      autoCompleteMessages: auto === undefined ? true : auto === true,
      maxAutoLockRenewalDurationMs,
      clientRetryOptions,
    },
    functionLogLevel,
    raw,
  };
}

export interface LocalSettings {
  values: Record<string, string>;
  localHttpPort: number | undefined;
}

/** local.settings.json: `Values` (app settings) and `Host.LocalHttpPort`, as Core Tools reads them. */
export function readLocalSettings(appDir: string): LocalSettings {
  const file = path.join(appDir, 'local.settings.json');
  if (!existsSync(file)) return { values: {}, localHttpPort: undefined };
  const raw = record(readJson(file));
  if (get(raw, 'IsEncrypted') === true) {
    throw new HostStartError(
      'local.settings.json is encrypted; the local host cannot decrypt it (set "IsEncrypted": false)',
    );
  }
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(record(get(raw, 'Values')))) {
    if (value === null || value === undefined) continue;
    if (typeof value === 'object') {
      throw new HostStartError(`local.settings.json: Values.${key} must be a string`);
    }
    values[key] = String(value);
  }
  const port = get(record(get(raw, 'Host')), 'LocalHttpPort');
  let localHttpPort: number | undefined;
  if (port !== undefined) {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 0 || n > 65535) {
      throw new HostStartError('local.settings.json: Host.LocalHttpPort must be a port number');
    }
    localHttpPort = n;
  }
  return { values, localHttpPort };
}

/**
 * Puts `Values` into the environment like Core Tools: a variable that is already set wins, and Core
 * Tools says so ("Skipping 'X' from local settings as it's already defined in current environment
 * variables."). Returns those messages.
 */
export function applyLocalSettings(values: Record<string, string>, env: NodeJS.ProcessEnv): string[] {
  const messages: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (env[key] !== undefined) {
      messages.push(
        `Skipping '${key}' from local settings as it's already defined in current environment variables.`,
      );
    } else {
      env[key] = value;
    }
  }
  return messages;
}

/**
 * Resolves `%Name%` expressions in a binding property from app settings, as the host's name resolver
 * does for trigger properties (queueName, schedule, ...). `%%` is not special in the host either.
 */
export function resolveSettingExpressions(
  value: string,
  env: Readonly<Record<string, string | undefined>>,
  where: string,
): string {
  return value.replace(/%([^%]+)%/g, (_, name: string) => {
    const resolved = env[name];
    if (resolved === undefined)
      throw new HostStartError(`${where}: '%${name}%' does not resolve to a value.`);
    return resolved;
  });
}
