/**
 * The app's configuration as the host and Core Tools read it: host.json and local.settings.json.
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { RetryMode, type RetryOptions } from '@azure/service-bus';

export class HostStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'HostStartError';
  }
}

export interface HostJson {
  routePrefix: string;
  /** How long an invocation may run before the host abandons it; undefined: no limit (`-1`). */
  functionTimeoutMs: number | undefined;
  serviceBus: {
    maxConcurrentCalls: number;
    prefetchCount: number;
    autoCompleteMessages: boolean;
    maxAutoLockRenewalDurationMs: number;
    /** `clientRetryOptions`: also how the listeners reconnect after a connection is lost. */
    retryOptions: Required<
      Pick<RetryOptions, 'mode' | 'maxRetries' | 'retryDelayInMs' | 'maxRetryDelayInMs' | 'timeoutInMs'>
    >;
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

/** Milliseconds as a .NET TimeSpan, as the host prints one: `hh:mm:ss`, `d.hh:mm:ss`, `.fff` when needed. */
export function formatTimeSpan(ms: number): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  const days = Math.floor(ms / 86_400_000);
  const rest = ms % 86_400_000;
  const text = `${two(Math.floor(rest / 3_600_000))}:${two(Math.floor(rest / 60_000) % 60)}:${two(Math.floor(rest / 1000) % 60)}`;
  const fraction = rest % 1000 === 0 ? '' : `.${String(rest % 1000).padStart(3, '0')}`;
  return `${days > 0 ? `${days}.` : ''}${text}${fraction}`;
}

/** The prefix of app settings that override host.json in Azure (`AzureFunctionsJobHost__functionTimeout`). */
const HOST_JSON_OVERRIDE_PREFIX = 'AzureFunctionsJobHost__';

/**
 * Puts the `AzureFunctionsJobHost__<path>` settings over host.json, as the real host's configuration
 * does (`__` separates levels; keys are case-insensitive). Returns the overridden paths, in lower case.
 */
function applyOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Set<string> {
  const overridden = new Set<string>();
  const prefix = HOST_JSON_OVERRIDE_PREFIX.toLowerCase();
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.toLowerCase().startsWith(prefix)) continue;
    const keys = name.slice(prefix.length).split('__');
    if (keys.some((k) => k === '')) continue;
    let node = raw;
    for (const key of keys.slice(0, -1)) {
      const existing = Object.keys(node).find((k) => k.toLowerCase() === key.toLowerCase());
      const child = existing === undefined ? undefined : node[existing];
      if (child && typeof child === 'object' && !Array.isArray(child)) {
        node = child as Record<string, unknown>;
      } else {
        const created: Record<string, unknown> = {};
        node[existing ?? key] = created;
        node = created;
      }
    }
    const last = keys[keys.length - 1] as string;
    const existing = Object.keys(node).find((k) => k.toLowerCase() === last.toLowerCase());
    node[existing ?? last] = value;
    overridden.add(keys.join('.').toLowerCase());
  }
  return overridden;
}

/** The real host's bounds for functionTimeout outside Windows Consumption (ScriptJobHostOptionsSetup). */
const MIN_FUNCTION_TIMEOUT_MS = 1000;
const DEFAULT_FUNCTION_TIMEOUT_MS = 30 * 60_000;

/**
 * host.json, with `AzureFunctionsJobHost__…` settings from `env` over it. Values may be JSON numbers and
 * booleans or their text, since an app setting is always text.
 */
export function readHostJson(appDir: string, env: NodeJS.ProcessEnv = {}): HostJson {
  const file = path.join(appDir, 'host.json');
  const raw = existsSync(file) ? record(readJson(file)) : {};
  const version = get(raw, 'version');
  if (existsSync(file) && version !== '2.0') {
    throw new HostStartError(`host.json: "version" must be "2.0" (got ${JSON.stringify(version)})`);
  }
  const overridden = applyOverrides(raw, env);
  const where = (dotted: string): string =>
    overridden.has(dotted.toLowerCase())
      ? `${HOST_JSON_OVERRIDE_PREFIX}${dotted.replaceAll('.', '__')}`
      : `host.json: ${dotted}`;

  const extensions = record(get(raw, 'extensions'));
  const http = record(get(extensions, 'http'));
  const sb = record(get(extensions, 'serviceBus'));
  const prefixValue = get(http, 'routePrefix');
  const routePrefix = typeof prefixValue === 'string' ? prefixValue : 'api';

  const num = (v: unknown, fallback: number, dotted: string): number => {
    if (v === undefined) return fallback;
    const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
      throw new HostStartError(`${where(dotted)} must be a non-negative integer`);
    }
    return n;
  };
  const timeSpan = (v: unknown, fallback: number, dotted: string): number => {
    if (v === undefined) return fallback;
    const ms = typeof v === 'string' ? parseTimeSpan(v) : undefined;
    if (ms === undefined) throw new HostStartError(`${where(dotted)} must be a TimeSpan "hh:mm:ss"`);
    return ms;
  };

  // As the real host outside Windows Consumption: at least a second, -1 for no limit, 30 minutes if unset.
  const timeout = get(raw, 'functionTimeout');
  let functionTimeoutMs: number | undefined = DEFAULT_FUNCTION_TIMEOUT_MS;
  if (typeof timeout === 'string' && /^\s*-1(\.00:00:00)?\s*$/.test(timeout)) functionTimeoutMs = undefined;
  else if (timeout !== undefined && timeout !== null) {
    const ms = typeof timeout === 'string' ? parseTimeSpan(timeout) : undefined;
    if (ms === undefined || ms < MIN_FUNCTION_TIMEOUT_MS) {
      throw new HostStartError(
        `${where('functionTimeout')} must be a TimeSpan "hh:mm:ss" of at least 00:00:01, or -1 for no limit`,
      );
    }
    functionTimeoutMs = ms;
  }

  const retry = record(get(sb, 'clientRetryOptions'));
  const retryWhere = 'extensions.serviceBus.clientRetryOptions';
  const modeValue = get(retry, 'mode');
  const mode = String(modeValue ?? 'exponential').toLowerCase();
  if (mode !== 'exponential' && mode !== 'fixed') {
    throw new HostStartError(`${where(`${retryWhere}.mode`)} must be "exponential" or "fixed"`);
  }

  const auto = get(sb, 'autoCompleteMessages');
  const logLevels = record(get(record(get(raw, 'logging')), 'logLevel'));
  const functionLogLevel = String(get(logLevels, 'Function') ?? get(logLevels, 'default') ?? 'Information');

  return {
    routePrefix,
    functionTimeoutMs,
    serviceBus: {
      // The extension's default is 16 per processor; a developer machine does not need more than 16.
      maxConcurrentCalls:
        num(get(sb, 'maxConcurrentCalls'), 16, 'extensions.serviceBus.maxConcurrentCalls') || 16,
      prefetchCount: num(get(sb, 'prefetchCount'), 0, 'extensions.serviceBus.prefetchCount'),
      autoCompleteMessages: auto === undefined ? true : auto === true || /^\s*true\s*$/i.test(String(auto)),
      maxAutoLockRenewalDurationMs: timeSpan(
        get(sb, 'maxAutoLockRenewalDuration'),
        5 * 60_000,
        'extensions.serviceBus.maxAutoLockRenewalDuration',
      ),
      // The extension's defaults (ServiceBusRetryOptions), not the JavaScript SDK's (fixed 30 s).
      retryOptions: {
        mode: mode === 'fixed' ? RetryMode.Fixed : RetryMode.Exponential,
        maxRetries: num(get(retry, 'maxRetries'), 3, `${retryWhere}.maxRetries`),
        retryDelayInMs: timeSpan(get(retry, 'delay'), 800, `${retryWhere}.delay`),
        maxRetryDelayInMs: timeSpan(get(retry, 'maxDelay'), 60_000, `${retryWhere}.maxDelay`),
        timeoutInMs: timeSpan(get(retry, 'tryTimeout'), 60_000, `${retryWhere}.tryTimeout`),
      },
    },
    functionLogLevel,
    raw,
  };
}

export interface LocalSettings {
  values: Record<string, string>;
  localHttpPort: number | undefined;
  /** `Host.CORS`: origins allowed to call from a browser, comma-separated (`*`: any). */
  corsOrigins: string[];
}

/** A comma-separated list of origins, as `Host.CORS` and `--cors` take it. */
export function parseCorsOrigins(value: string): string[] {
  return value
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
}

/** local.settings.json: `Values` (app settings) and `Host.LocalHttpPort`, as Core Tools reads them. */
export function readLocalSettings(appDir: string): LocalSettings {
  const file = path.join(appDir, 'local.settings.json');
  if (!existsSync(file)) return { values: {}, localHttpPort: undefined, corsOrigins: [] };
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
  const cors = get(record(get(raw, 'Host')), 'CORS');
  if (cors !== undefined && typeof cors !== 'string') {
    throw new HostStartError('local.settings.json: Host.CORS must be a comma-separated list of origins');
  }
  return { values, localHttpPort, corsOrigins: cors ? parseCorsOrigins(cors) : [] };
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
