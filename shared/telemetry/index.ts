/**
 * Telemetry of the product (docs/security.md): requests, dependencies, a custom event per
 * operation outcome and metrics, sent to Application Insights through the official `applicationinsights`
 * package; off when APPLICATIONINSIGHTS_CONNECTION_STRING is not set. Every item passes the allow-lists
 * of vocabulary.ts, so nothing secret can be sent, whatever a call site puts in.
 */
import { parseConnectionString, settings } from '../config/index.js';
import { ConfigurationError } from '../errors/index.js';
import { ApplicationInsightsTelemetry } from './application-insights.js';
import { ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import type { Telemetry, TelemetryOptions } from './types.js';

export type {
  DependencyItem,
  RequestItem,
  Telemetry,
  TelemetryOptions,
  TelemetryProperties,
} from './types.js';
export { DEFAULT_CLOUD_ROLE, DEFAULT_EXPORT_DELAY_MS } from './application-insights.js';
export {
  CONNECTION_STRING_SETTING,
  parseConnectionString,
  type ApplicationInsightsConnection,
} from '../config/index.js';
export { REDACTED, redactMeasurements, redactTelemetryProperties } from './redaction.js';
export {
  TELEMETRY_DEPENDENCY_TYPES,
  TELEMETRY_EVENT_NAMES,
  TELEMETRY_HTTP_ROUTES,
  TELEMETRY_MEASUREMENT_KEYS,
  TELEMETRY_METRIC_NAMES,
  TELEMETRY_PROPERTY_RULES,
  TELEMETRY_TRIGGER_NAMES,
} from './vocabulary.js';
export type { PropertyRule, TelemetryHttpRoute } from './vocabulary.js';

/** Sends nothing and starts nothing: no SDK loaded, no timer, no socket. */
const DISABLED: Telemetry = Object.freeze({
  enabled: false,
  trackRequest: () => undefined,
  trackDependency: () => undefined,
  trackEvent: () => undefined,
  trackMetric: () => undefined,
  flush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
});

/**
 * The Telemetry for a connection string: disabled when it is undefined or blank. A malformed one throws
 * a ConfigurationError naming APPLICATIONINSIGHTS_CONNECTION_STRING (the SDK would silently drop
 * everything instead).
 */
export function createTelemetry(
  connectionString: string | undefined,
  options: TelemetryOptions = {},
): Telemetry {
  const text = connectionString?.trim();
  if (!text) return DISABLED;
  parseConnectionString(text);
  return new ApplicationInsightsTelemetry(text, options);
}

let processTelemetry: Telemetry | undefined;

/**
 * The process's Telemetry, built once from the settings. On Azure its cloud role is the app's name
 * (WEBSITE_SITE_NAME, set by the platform), the role the Functions host uses for its own telemetry, so
 * both meet in one Application Map node.
 */
export function telemetry(): Telemetry {
  const credential = entraCredential(process.env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING);
  processTelemetry ??= createTelemetry(settings().applicationInsightsConnectionString, {
    ...(process.env.WEBSITE_SITE_NAME ? { cloudRole: process.env.WEBSITE_SITE_NAME } : {}),
    ...(credential ? { credential } : {}),
  });
  return processTelemetry;
}

/**
 * The credential of APPLICATIONINSIGHTS_AUTHENTICATION_STRING (`Authorization=AAD;ClientId=…`), the
 * setting the Functions host reads for its own telemetry: the app's own items then go with the same
 * managed identity (the Bicep template turns Application Insights' local authentication off).
 */
export function entraCredential(authentication: string | undefined): TokenCredential | undefined {
  if (!authentication || !/(^|;)\s*Authorization=AAD\s*(;|$)/i.test(authentication)) return undefined;
  const clientId = /(?:^|;)\s*ClientId=([^;\s]+)/i.exec(authentication)?.[1];
  return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
}

/**
 * The process's Telemetry, or the disabled one when the settings cannot be loaded: for code that
 * reports dependencies from anywhere (also from tools and tests without app settings). The host itself
 * never runs with bad settings: they stop it at start-up.
 */
export function telemetryIfConfigured(): Telemetry {
  try {
    return telemetry();
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    // Remembered: settings that cannot be loaded are not loaded again for every dependency call.
    processTelemetry = DISABLED;
    return DISABLED;
  }
}
