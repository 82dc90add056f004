/**
 * The one config loader. Reads the app settings (docs/settings.md) from the environment once, validates
 * them and fails with a ConfigurationError that names the setting. Defaults are the documented ones.
 */
import { ConfigurationError } from '../errors/index.js';
import { isoDurationToMs } from '../domain/index.js';
import { parseConnectionString } from './connection-string.js';

import {
  DEFAULT_CHANGE_LIMIT,
  DEFAULT_TENANT_LIMIT,
  DEFAULT_USER_LIMIT,
  parseRateLimit,
  type RateLimit,
} from './rate-limits.js';

/** The raw app settings: the process environment (or a test's stand-in) they are read from. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** The app settings, parsed and checked. */
export interface AppSettings {
  auth: {
    /**
     * The token issuer. May contain `{tenantId}`, replaced by the token's `tid`: multi-tenant Entra
     * ID is `https://login.microsoftonline.com/{tenantId}/v2.0`.
     */
    issuerTemplate: string;
    /** The `aud` every caller's token must carry (the API's application ID URI or client id). */
    audience: string;
  };
  /** Time-to-live of a request on the tenant's queue (WRITEBACK_MESSAGE_TTL). */
  messageTtlMs: number;
  /** How long an HTTP call waits for the agent's answer before it returns 202 (WRITEBACK_SYNC_WAIT). */
  syncWaitMs: number;
  /** How often agents send heartbeats (HEARTBEAT_INTERVAL). */
  heartbeatIntervalMs: number;
  /** Age after which the timer rolls a tenant's keys (KEY_ROLLOVER_AFTER). */
  keyRolloverAfterMs: number;
  /**
   * Six-field NCRONTAB schedule of the keyRollover timer (KEY_ROLLOVER_SCHEDULE). The Functions host
   * itself resolves `%KEY_ROLLOVER_SCHEDULE%` in the binding, so the setting must be present there;
   * it is checked here too so that a malformed one names itself at start-up.
   */
  keyRolloverSchedule: string;
  /** Key Vault holding the tenants' keys (KEYVAULT_URI). */
  keyVaultUri: string;
  /**
   * How the tenants' Key Vault keys are protected (WRITEBACK_KEY_PROTECTION): `hsm` (RSA-HSM / EC-HSM,
   * the default: a Premium vault) or `software` (RSA / EC, for a Standard vault).
   */
  keyProtection: 'hsm' | 'software';
  /**
   * Attempts allowed per window (`count/ISO duration`): per user on every password route
   * (RATE_LIMIT_PER_USER), per user on the change route, against guessing of currentPassword
   * (RATE_LIMIT_CHANGE_PER_USER), and per tenant (RATE_LIMIT_PER_TENANT).
   */
  rateLimits: { perUser: RateLimit; changePerUser: RateLimit; perTenant: RateLimit };
  /** Application Insights; telemetry is off when absent. */
  applicationInsightsConnectionString: string | undefined;
}

/**
 * Every plain app setting loadSettings reads, with its documented default (none: required, or off when
 * absent). The one list: loadSettings takes names and defaults from here, and `npm run infra:check`
 * holds the Bicep templates to it, so a setting added here and not to the templates fails the check.
 */
export const APP_SETTINGS = {
  AUTH_ISSUER: { required: true },
  AUTH_AUDIENCE: { required: true },
  KEYVAULT_URI: { required: true },
  WRITEBACK_MESSAGE_TTL: { required: false, default: 'PT5M' },
  WRITEBACK_SYNC_WAIT: { required: false, default: 'PT25S' },
  HEARTBEAT_INTERVAL: { required: false, default: 'PT5M' },
  KEY_ROLLOVER_AFTER: { required: false, default: 'P180D' },
  KEY_ROLLOVER_SCHEDULE: { required: false, default: '0 0 3 * * *' },
  WRITEBACK_KEY_PROTECTION: { required: false, default: 'hsm' },
  RATE_LIMIT_PER_USER: { required: false, default: DEFAULT_USER_LIMIT },
  RATE_LIMIT_CHANGE_PER_USER: { required: false, default: DEFAULT_CHANGE_LIMIT },
  RATE_LIMIT_PER_TENANT: { required: false, default: DEFAULT_TENANT_LIMIT },
  APPLICATIONINSIGHTS_CONNECTION_STRING: { required: false },
} as const satisfies Record<string, { required: boolean; default?: string }>;

export type AppSettingName = keyof typeof APP_SETTINGS;

/**
 * The connections loadSettings checks: `name` holds a connection string, or (managed identity)
 * `name__{identityEndpoint}` names the endpoint, as the Functions host's convention has it.
 */
export const CONNECTION_SETTINGS = {
  AzureWebJobsStorage: { identityEndpoint: 'tableServiceUri' },
  ServiceBusConnection: { identityEndpoint: 'fullyQualifiedNamespace' },
} as const;

export type ConnectionSettingName = keyof typeof CONNECTION_SETTINGS;

/** A setting's documented default (an empty string for one without a default). */
function defaultOf(name: AppSettingName): string {
  const setting: { required: boolean; default?: string } = APP_SETTINGS[name];
  return setting.default ?? '';
}

const DAY_MS = 86_400_000;

function duration(env: Environment, name: AppSettingName, minMs: number, maxMs: number): number {
  const fallback = defaultOf(name);
  const raw = env[name]?.trim() || fallback;
  let ms: number;
  try {
    ms = isoDurationToMs(raw);
  } catch {
    throw new ConfigurationError(name, `expected an ISO-8601 duration such as ${fallback}, got "${raw}"`);
  }
  if (!(ms >= minMs && ms <= maxMs)) {
    throw new ConfigurationError(name, `expected a duration between ${minMs / 1000} s and ${maxMs / 1000} s`);
  }
  return ms;
}

function requiredUrl(env: Environment, name: string, example: string): string {
  const raw = env[name]?.trim();
  if (!raw) throw new ConfigurationError(name, `expected a URL such as ${example}`);
  try {
    const url = new URL(raw.replaceAll('{tenantId}', 'tenant'));
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
  } catch {
    throw new ConfigurationError(name, `expected a URL such as ${example}`);
  }
  return raw;
}

function requiredHttpsUrl(env: Environment, name: string, example: string): string {
  const raw = requiredUrl(env, name, example);
  if (!raw.startsWith('https://'))
    throw new ConfigurationError(name, `expected an https URL such as ${example}`);
  return raw;
}

/**
 * The storage account of the host and of the tables: a connection string, or (managed identity)
 * `AzureWebJobsStorage__tableServiceUri` with the host's own `__accountName` / `__blobServiceUri`.
 */
function checkStorage(env: Environment): void {
  const name: ConnectionSettingName = 'AzureWebJobsStorage';
  const endpointName = `${name}__${CONNECTION_SETTINGS[name].identityEndpoint}` as const;
  const raw = env[name]?.trim();
  if (raw) {
    const development = /(^|;)\s*UseDevelopmentStorage=true/i.test(raw);
    const account =
      /(^|;)\s*AccountName=[^;]+/i.test(raw) && /(^|;)\s*(AccountKey|SharedAccessSignature)=[^;]+/i.test(raw);
    const endpoints =
      /(^|;)\s*TableEndpoint=[^;]+/i.test(raw) && /(^|;)\s*SharedAccessSignature=[^;]+/i.test(raw);
    if (!development && !account && !endpoints) {
      throw new ConfigurationError(
        name,
        'expected a storage connection string with AccountName and AccountKey, or UseDevelopmentStorage=true',
      );
    }
    return;
  }
  if (env[endpointName]?.trim()) {
    requiredHttpsUrl(env, endpointName, 'https://myaccount.table.core.windows.net');
    return;
  }
  throw new ConfigurationError(
    name,
    `set ${name} to a storage connection string, or ${endpointName} (with the host's __accountName) for a managed identity`,
  );
}

/** The Service Bus namespace of the tenants' queues: a connection string or a namespace for a managed identity. */
function checkServiceBus(env: Environment): void {
  const name: ConnectionSettingName = 'ServiceBusConnection';
  const namespaceName = `${name}__${CONNECTION_SETTINGS[name].identityEndpoint}` as const;
  const raw = env[name]?.trim();
  if (raw) {
    const endpoint = /(^|;)\s*Endpoint=sb:\/\/[^;/]+\/?/i.test(raw);
    const key = /(^|;)\s*SharedAccessKeyName=[^;]+/i.test(raw) && /(^|;)\s*SharedAccessKey=[^;]+/i.test(raw);
    const signature = /(^|;)\s*SharedAccessSignature=[^;]+/i.test(raw);
    if (!endpoint || !(key || signature)) {
      throw new ConfigurationError(
        name,
        'expected Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=… (with Manage rights)',
      );
    }
    return;
  }
  const namespace = env[namespaceName]?.trim();
  if (namespace) {
    if (!/^[A-Za-z0-9.-]+(:\d+)?$/.test(namespace)) {
      throw new ConfigurationError(
        namespaceName,
        'expected a host name such as my-namespace.servicebus.windows.net',
      );
    }
    return;
  }
  throw new ConfigurationError(
    name,
    `set ${name} to a connection string, or ${namespaceName} to a namespace for a managed identity`,
  );
}

/** Six NCRONTAB fields (second minute hour day month day-of-week); the host parses the rest. */
function ncrontab(env: Environment, name: AppSettingName): string {
  const fallback = defaultOf(name);
  const raw = env[name]?.trim() || fallback;
  const fields = raw.split(/\s+/);
  if (fields.length !== 6 || !fields.every((f) => /^[0-9A-Za-z*/,-]+$/.test(f))) {
    throw new ConfigurationError(
      name,
      `expected a six-field NCRONTAB schedule (second minute hour day month day-of-week) such as ${fallback}`,
    );
  }
  return raw;
}

function rateLimit(env: Environment, name: AppSettingName): RateLimit {
  return parseRateLimit(name, env[name], defaultOf(name));
}

function keyProtection(env: Environment): 'hsm' | 'software' {
  const raw = env.WRITEBACK_KEY_PROTECTION?.trim().toLowerCase() || defaultOf('WRITEBACK_KEY_PROTECTION');
  if (raw !== 'hsm' && raw !== 'software') {
    throw new ConfigurationError('WRITEBACK_KEY_PROTECTION', 'expected hsm (Premium vault) or software');
  }
  return raw;
}

/** Checked here so that a malformed one stops the host at start-up, not at the first telemetry item. */
function applicationInsights(env: Environment): string | undefined {
  const raw = env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim();
  if (!raw) return undefined;
  parseConnectionString(raw);
  return raw;
}

/**
 * Reads and checks every setting of docs/settings.md. Connection settings are checked for their shape
 * only (nothing is dialled here); the clients are built from them in shared/azure/clients.ts.
 */
export function loadSettings(env: Environment = process.env): AppSettings {
  const audience = env.AUTH_AUDIENCE?.trim();
  if (!audience)
    throw new ConfigurationError('AUTH_AUDIENCE', 'expected the API audience, such as api://writeback');
  checkStorage(env);
  checkServiceBus(env);
  return {
    auth: {
      issuerTemplate: requiredUrl(env, 'AUTH_ISSUER', 'https://login.microsoftonline.com/{tenantId}/v2.0'),
      audience,
    },
    messageTtlMs: duration(env, 'WRITEBACK_MESSAGE_TTL', 5_000, 14 * DAY_MS),
    syncWaitMs: duration(env, 'WRITEBACK_SYNC_WAIT', 0, 120_000),
    heartbeatIntervalMs: duration(env, 'HEARTBEAT_INTERVAL', 1_000, DAY_MS),
    keyRolloverAfterMs: duration(env, 'KEY_ROLLOVER_AFTER', 60_000, 3 * 365 * DAY_MS),
    keyRolloverSchedule: ncrontab(env, 'KEY_ROLLOVER_SCHEDULE'),
    keyVaultUri: requiredHttpsUrl(env, 'KEYVAULT_URI', 'https://my-vault.vault.azure.net'),
    keyProtection: keyProtection(env),
    rateLimits: {
      perUser: rateLimit(env, 'RATE_LIMIT_PER_USER'),
      changePerUser: rateLimit(env, 'RATE_LIMIT_CHANGE_PER_USER'),
      perTenant: rateLimit(env, 'RATE_LIMIT_PER_TENANT'),
    },
    applicationInsightsConnectionString: applicationInsights(env),
  };
}

let cached: AppSettings | undefined;

/** The settings of this process, loaded and validated on first use. */
export function settings(): AppSettings {
  cached ??= loadSettings();
  return cached;
}
