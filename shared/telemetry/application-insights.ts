/**
 * The one Telemetry over the official `applicationinsights` package (3.x, OpenTelemetry-based), used
 * unchanged through its classic `TelemetryClient` API. How it is set up, and why:
 *
 * - Isolated providers (`useGlobalProviders: false`): the client gets its own tracer, meter and logger
 *   providers and sends only what is tracked here. `useAzureMonitor()` is never called, so nothing is
 *   registered process-wide: no OpenTelemetry globals, no Azure Functions hooks, no instrumentation of
 *   `http`, the Azure SDKs, console or loggers. Consequences: console output and logs are never
 *   collected (they could carry user data), and no outgoing call is auto-collected, so URLs such as a
 *   SAS-signed storage URL can never reach telemetry; the adapters report their Service Bus, Key Vault
 *   and Table calls with trackDependency, through the redaction of redaction.ts.
 *   (Loading the package makes `console` publish to a diagnostic channel; nothing here subscribes.)
 * - The package is loaded only when telemetry is enabled: it takes most of a second to load, and a
 *   disabled Telemetry must start nothing.
 * - No statsbeat (the SDK's own usage reports to Microsoft, which also probe the Azure metadata
 *   endpoint), no live metrics, no offline storage on disk: items that cannot be sent are dropped.
 * - Its timers are unref'd (OpenTelemetry's batch timers and ours), so it never keeps a process alive.
 */
import { createRequire } from 'node:module';
import type * as AppInsights from 'applicationinsights';
import type * as OtelResources from '@opentelemetry/resources';
import {
  isAllowedEventName,
  isAllowedMetricName,
  redactMeasurements,
  redactTelemetryProperties,
  safeDependencyName,
  safeDependencyType,
  safeRequest,
  safeResultCode,
  safeTarget,
  traceIdOf,
  type SafeProperties,
} from './redaction.js';
import type {
  DependencyItem,
  RequestItem,
  Telemetry,
  TelemetryOptions,
  TelemetryProperties,
} from './types.js';

const require = createRequire(import.meta.url);

export const DEFAULT_CLOUD_ROLE = 'writeback-functions';
export const DEFAULT_EXPORT_DELAY_MS = 5_000;
const CLOUD_ROLE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Read by the exporter when it is built (the name is the SDK's, kept from 2.x). */
const NO_STATSBEAT = 'APPLICATION_INSIGHTS_NO_STATSBEAT';

/** Warns once per kind, without the name itself (it might be the very value that must not leak). */
const warned = new Set<string>();
function warnOnce(kind: 'event' | 'metric'): void {
  if (warned.has(kind)) return;
  warned.add(kind);
  const list = kind === 'event' ? 'TELEMETRY_EVENT_NAMES' : 'TELEMETRY_METRIC_NAMES';
  process.emitWarning(
    `${kind === 'event' ? 'An' : 'A'} ${kind} whose name is not in ${list} (shared/telemetry/vocabulary.ts) was dropped.`,
    {
      code: 'WRITEBACK_TELEMETRY_UNLISTED_NAME',
    },
  );
}

function durationOf(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

export class ApplicationInsightsTelemetry implements Telemetry {
  readonly enabled = true;
  readonly #client: AppInsights.TelemetryClient;
  readonly #exportDelayMs: number;
  #exportTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  /** `connectionString` must already be validated (parseConnectionString). */
  constructor(connectionString: string, options: TelemetryOptions = {}) {
    const sdk = require('applicationinsights') as typeof AppInsights;
    const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof OtelResources;
    const cloudRole =
      options.cloudRole && CLOUD_ROLE.test(options.cloudRole) ? options.cloudRole : DEFAULT_CLOUD_ROLE;
    const delay = options.exportDelayMs;
    this.#exportDelayMs =
      delay !== undefined && Number.isFinite(delay) && delay >= 0 ? delay : DEFAULT_EXPORT_DELAY_MS;

    const client = new sdk.TelemetryClient(connectionString, { useGlobalProviders: false });
    client.config.azureMonitorOpenTelemetryOptions = {
      // ai.cloud.role comes from the resource's service.name.
      resource: resourceFromAttributes({ 'service.name': cloudRole }),
      azureMonitorExporterOptions: {
        connectionString,
        disableOfflineStorage: true,
        ...(options.trustedCaPem ? { tlsOptions: { ca: options.trustedCaPem } } : {}),
        ...(options.credential ? { credential: options.credential } : {}),
      },
      enableLiveMetrics: false,
      enableStandardMetrics: false,
      enablePerformanceCounters: false,
    };
    // What the global mode would collect, off as well in case the client is ever moved to it.
    client.config.enableAutoCollectConsole = false;
    client.config.enableAutoCollectExternalLoggers = false;
    client.config.enableAutoCollectRequests = false;
    client.config.enableAutoCollectDependencies = false;
    client.config.enableAutoCollectExceptions = false;
    client.config.enableAutoCollectPerformance = false;
    client.config.enableSendLiveMetrics = false;
    client.config.enableUseDiskRetryCaching = false;

    // The exporters read the statsbeat switch when initialize() builds them; restore it afterwards so
    // this stays a local decision and not a change to the process's environment.
    const previous = process.env[NO_STATSBEAT];
    process.env[NO_STATSBEAT] = 'true';
    try {
      client.initialize();
    } finally {
      if (previous === undefined) delete process.env[NO_STATSBEAT];
      else process.env[NO_STATSBEAT] = previous;
    }
    this.#client = client;
  }

  trackRequest(item: RequestItem): void {
    this.#track(() => {
      const { name, method, url } = safeRequest(item.name, item.url);
      const properties: SafeProperties = redactTelemetryProperties(item.properties);
      if (item.operationId !== undefined) {
        Object.assign(properties, redactTelemetryProperties({ operationId: item.operationId }));
      }
      // With an HTTP method the exporter records the URL and the status code; other requests (triggers)
      // keep their result code as a dimension, since the exporter would write "0".
      if (method) properties['http.method'] = method;
      else properties.resultCode = safeResultCode(item.resultCode);
      const traceId = traceIdOf(item.traceparent);
      this.#client.trackRequest({
        name,
        ...(url !== undefined ? { url } : {}),
        resultCode: String(item.resultCode),
        duration: durationOf(item.durationMs),
        success: item.success,
        properties,
        // Becomes the item's trace id, i.e. its operation_Id in Application Insights.
        ...(traceId ? { id: traceId } : {}),
      });
    });
  }

  trackDependency(item: DependencyItem): void {
    this.#track(() => {
      const properties: SafeProperties = redactTelemetryProperties(item.properties);
      // The exporter takes a non-HTTP dependency's type from `db.system` (the shim sets it only for
      // SQL-like types) and writes "0" as its result code, so the code also goes in as a dimension.
      properties['db.system'] = safeDependencyType(item.type);
      if (item.resultCode !== undefined) properties.resultCode = safeResultCode(item.resultCode);
      const traceId = traceIdOf(item.traceparent);
      this.#client.trackDependency({
        name: safeDependencyName(item.name),
        target: safeTarget(item.target),
        duration: durationOf(item.durationMs),
        success: item.success,
        properties,
        ...(traceId ? { id: traceId } : {}),
      });
    });
  }

  trackEvent(name: string, properties: TelemetryProperties, measurements?: Record<string, number>): void {
    if (!isAllowedEventName(name)) return warnOnce('event');
    this.#track(() =>
      this.#client.trackEvent({
        name,
        properties: redactTelemetryProperties(properties),
        measurements: redactMeasurements(measurements),
      }),
    );
  }

  trackMetric(name: string, value: number, properties?: TelemetryProperties): void {
    if (!isAllowedMetricName(name)) return warnOnce('metric');
    if (!Number.isFinite(value)) return;
    this.#track(() =>
      this.#client.trackMetric({
        name,
        value,
        // Metrics are aggregated per combination of dimensions: low-cardinality keys only.
        properties: redactTelemetryProperties(properties, { dimensionsOnly: true }),
      }),
    );
  }

  async flush(): Promise<void> {
    this.#cancelExport();
    try {
      await this.#client.flush();
    } catch {
      // Telemetry never fails the caller; the SDK reports its own errors through its diagnostics.
    }
  }

  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    await this.flush();
    this.#stopped = true;
    try {
      await this.#client.shutdown();
    } catch {
      // As in flush().
    }
  }

  /** Tracks through the SDK without ever throwing into the pipeline, then schedules the export. */
  #track(send: () => void): void {
    if (this.#stopped) return;
    try {
      send();
    } catch {
      return;
    }
    this.#scheduleExport();
  }

  #scheduleExport(): void {
    if (this.#exportTimer) return;
    this.#exportTimer = setTimeout(() => {
      this.#exportTimer = undefined;
      void this.flush();
    }, this.#exportDelayMs);
    this.#exportTimer.unref();
  }

  #cancelExport(): void {
    if (this.#exportTimer) clearTimeout(this.#exportTimer);
    this.#exportTimer = undefined;
  }
}
