/**
 * The one config loader. Reads the app settings (DESIGN.md §7) from the environment once, validates
 * them and fails with a ConfigurationError that names the setting. Defaults are the documented ones.
 */
import { ConfigurationError } from '../errors/index.js';
import type { Settings } from '../azure/clients.js';
import { isoDurationToMs } from './durations.js';
import { parseConnectionString } from '../telemetry/connection-string.js';

export { isoDurationToMs, msToIsoDuration } from './durations.js';
import {
  DEFAULT_CHANGE_LIMIT,
  DEFAULT_TENANT_LIMIT,
  DEFAULT_USER_LIMIT,
  parseRateLimit,
  type RateLimit,
} from '../ratelimit/limits.js';

export interface WritebackSettings {
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

const DAY_MS = 86_400_000;

function duration(env: Settings, name: string, fallback: string, minMs: number, maxMs: number): number {
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

function requiredUrl(env: Settings, name: string, example: string): string {
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

function requiredHttpsUrl(env: Settings, name: string, example: string): string {
  const raw = requiredUrl(env, name, example);
  if (!raw.startsWith('https://'))
    throw new ConfigurationError(name, `expected an https URL such as ${example}`);
  return raw;
}

/**
 * The storage account of the host and of the tables: a connection string, or (managed identity)
 * `AzureWebJobsStorage__tableServiceUri` with the host's own `__accountName` / `__blobServiceUri`.
 */
function checkStorage(env: Settings): void {
  const name = 'AzureWebJobsStorage';
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
  if (env[`${name}__tableServiceUri`]?.trim()) {
    requiredHttpsUrl(env, `${name}__tableServiceUri`, 'https://myaccount.table.core.windows.net');
    return;
  }
  throw new ConfigurationError(
    name,
    `set ${name} to a storage connection string, or ${name}__tableServiceUri (with the host's __accountName) for a managed identity`,
  );
}

/** The Service Bus namespace of the tenants' queues: a connection string or a namespace for a managed identity. */
function checkServiceBus(env: Settings): void {
  const name = 'ServiceBusConnection';
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
  const namespace = env[`${name}__fullyQualifiedNamespace`]?.trim();
  if (namespace) {
    if (!/^[A-Za-z0-9.-]+(:\d+)?$/.test(namespace)) {
      throw new ConfigurationError(
        `${name}__fullyQualifiedNamespace`,
        'expected a host name such as my-namespace.servicebus.windows.net',
      );
    }
    return;
  }
  throw new ConfigurationError(
    name,
    `set ${name} to a connection string, or ${name}__fullyQualifiedNamespace to a namespace for a managed identity`,
  );
}

/** Six NCRONTAB fields (second minute hour day month day-of-week); the host parses the rest. */
function ncrontab(env: Settings, name: string, fallback: string): string {
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

function keyProtection(env: Settings): 'hsm' | 'software' {
  const raw = env.WRITEBACK_KEY_PROTECTION?.trim().toLowerCase() || 'hsm';
  if (raw !== 'hsm' && raw !== 'software') {
    throw new ConfigurationError('WRITEBACK_KEY_PROTECTION', 'expected hsm (Premium vault) or software');
  }
  return raw;
}

/** Checked here so that a malformed one stops the host at start-up, not at the first telemetry item. */
function applicationInsights(env: Settings): string | undefined {
  const raw = env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim();
  if (!raw) return undefined;
  parseConnectionString(raw);
  return raw;
}

/**
 * Reads and checks every setting of DESIGN.md §7. Connection settings are checked for their shape
 * only (nothing is dialled here); the clients are built from them in shared/azure/clients.ts.
 */
export function loadSettings(env: Settings = process.env): WritebackSettings {
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
    messageTtlMs: duration(env, 'WRITEBACK_MESSAGE_TTL', 'PT5M', 5_000, 14 * DAY_MS),
    syncWaitMs: duration(env, 'WRITEBACK_SYNC_WAIT', 'PT25S', 0, 120_000),
    heartbeatIntervalMs: duration(env, 'HEARTBEAT_INTERVAL', 'PT5M', 1_000, DAY_MS),
    keyRolloverAfterMs: duration(env, 'KEY_ROLLOVER_AFTER', 'P180D', 60_000, 3 * 365 * DAY_MS),
    keyRolloverSchedule: ncrontab(env, 'KEY_ROLLOVER_SCHEDULE', '0 0 3 * * *'),
    keyVaultUri: requiredHttpsUrl(env, 'KEYVAULT_URI', 'https://my-vault.vault.azure.net'),
    keyProtection: keyProtection(env),
    rateLimits: {
      perUser: parseRateLimit('RATE_LIMIT_PER_USER', env.RATE_LIMIT_PER_USER, DEFAULT_USER_LIMIT),
      changePerUser: parseRateLimit(
        'RATE_LIMIT_CHANGE_PER_USER',
        env.RATE_LIMIT_CHANGE_PER_USER,
        DEFAULT_CHANGE_LIMIT,
      ),
      perTenant: parseRateLimit('RATE_LIMIT_PER_TENANT', env.RATE_LIMIT_PER_TENANT, DEFAULT_TENANT_LIMIT),
    },
    applicationInsightsConnectionString: applicationInsights(env),
  };
}

let cached: WritebackSettings | undefined;

/** The settings of this process, loaded and validated on first use. */
export function settings(): WritebackSettings {
  cached ??= loadSettings();
  return cached;
}
