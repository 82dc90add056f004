/**
 * The telemetry words of the product (docs/security.md). Everything the pipeline reports goes through a
 * `Telemetry`; the one implementation over the `applicationinsights` package is in
 * application-insights.ts, and a no-op stands in when no connection string is set.
 */
import type { TokenCredential } from '@azure/identity';

/** Custom dimensions of an item. Only allow-listed keys are sent (see vocabulary.ts). */
export type TelemetryProperties = Record<string, string | number | boolean | undefined>;

/** An incoming call handled by this app: an HTTP route, or a trigger such as the replies function. */
export interface RequestItem {
  /**
   * For HTTP: `METHOD /api/route-template` as in shared/api/routes.ts, e.g.
   * `POST /api/tenants/{tenantId}/me/password/reset` (or the route's function name, `resetMyPassword`);
   * otherwise one of TELEMETRY_TRIGGER_NAMES, e.g. `replies`. Any other name is sent as `[redacted]`.
   */
  name: string;
  /**
   * The request's path. It is sent as the route template (`/api/tenants/{tenantId}/…`): path values
   * are personal data or caller-typed text, and the query is never sent.
   */
  url?: string;
  resultCode: number;
  durationMs: number;
  success: boolean;
  /** The writeback operation id, when the request created or read one. */
  operationId?: string;
  /** The caller's W3C trace context; its trace id becomes the item's operation id in Application Insights. */
  traceparent?: string;
  properties?: TelemetryProperties;
}

/** A call this app made to something else. */
export interface DependencyItem {
  /** One of TELEMETRY_DEPENDENCY_TYPES: 'Azure Service Bus' | 'Azure Key Vault' | 'Azure Table' | 'HTTP'. */
  type: string;
  /** Host name, optionally with `/entity`: `ns.servicebus.windows.net/writeback-contoso`. No query. */
  target: string;
  /** What was done, e.g. `send`, `encrypt writeback-contoso-enc`, `upsert operations`. */
  name: string;
  durationMs: number;
  success: boolean;
  resultCode?: string | number;
  /** The W3C trace context this call belongs to, so it joins its request in Application Insights. */
  traceparent?: string;
  properties?: TelemetryProperties;
}

export interface Telemetry {
  trackRequest(item: RequestItem): void;
  trackDependency(item: DependencyItem): void;
  /** `name` must be one of TELEMETRY_EVENT_NAMES; other events are dropped. */
  trackEvent(name: string, properties: TelemetryProperties, measurements?: Record<string, number>): void;
  /** `name` must be one of TELEMETRY_METRIC_NAMES; other metrics are dropped. */
  trackMetric(name: string, value: number, properties?: TelemetryProperties): void;
  /** Resolves once everything tracked so far has been sent (or has failed to send). */
  flush(): Promise<void>;
  /** Sends what is pending, then stops the exporters; later calls track nothing. */
  shutdown(): Promise<void>;
  /** False when no connection string is set: nothing is sent, nothing is started. */
  readonly enabled: boolean;
}

export interface TelemetryOptions {
  /** `ai.cloud.role` of every item (Application Map node). Default `writeback-functions`. */
  cloudRole?: string;
  /**
   * At most this long after an item is tracked, everything pending is sent. Default 5000 ms. The SDK's
   * own periods are 5 s for requests, dependencies and events but 60 s for metrics, too long for an
   * instance that Flex Consumption may freeze; one period for all keeps an operation's items together.
   */
  exportDelayMs?: number;
  /**
   * PEM of the CA that signed the ingestion endpoint's certificate, for a local capture endpoint
   * (the SDK only speaks HTTPS). It replaces the default trust store for telemetry only. Processes
   * started with NODE_EXTRA_CA_CERTS do not need it.
   */
  trustedCaPem?: string;
  /**
   * Sends with Entra ID instead of the connection string's key, for an Application Insights resource
   * with local authentication off (APPLICATIONINSIGHTS_AUTHENTICATION_STRING `Authorization=AAD`).
   */
  credential?: TokenCredential;
}
