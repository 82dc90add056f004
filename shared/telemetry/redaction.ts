/**
 * The safety net between call sites and the SDK: every string that leaves through telemetry passes one
 * of these functions. Property keys, measurement names, event and metric names, request names and
 * dependency types are closed lists (vocabulary.ts): a value nobody declared is never sent. Values of
 * listed keys, dependency names and targets are only shape-checked (no spaces or punctuation beyond
 * what identifiers, host names and entity names use); a shape cannot tell a bare alphanumeric password
 * from an identifier, so those must be built from constants, ids and entity names, never from input.
 */
import type { TelemetryProperties } from './types.js';
import {
  TELEMETRY_DEPENDENCY_TYPES,
  TELEMETRY_EVENT_NAMES,
  TELEMETRY_HTTP_ROUTES,
  TELEMETRY_MEASUREMENT_KEYS,
  TELEMETRY_METRIC_NAMES,
  TELEMETRY_PROPERTY_RULES,
  TELEMETRY_TRIGGER_NAMES,
} from './vocabulary.js';

/** Stands in for a value of an allow-listed key, or a name, that did not have the expected shape. */
export const REDACTED = '[redacted]';

export type SafeProperties = Record<string, string | number | boolean>;

/**
 * Keeps the allow-listed keys of TELEMETRY_PROPERTY_RULES (with `dimensionsOnly`, only those that may
 * be metric dimensions); drops every other key and undefined or non-finite values; replaces a string
 * value that does not have its key's shape by `[redacted]`.
 */
export function redactTelemetryProperties(
  properties: TelemetryProperties | undefined,
  options: { dimensionsOnly?: boolean } = {},
): SafeProperties {
  const safe: SafeProperties = {};
  if (!properties) return safe;
  for (const [key, value] of Object.entries(properties)) {
    if (!Object.hasOwn(TELEMETRY_PROPERTY_RULES, key)) continue;
    const rule = TELEMETRY_PROPERTY_RULES[key];
    if (!rule || (options.dimensionsOnly && !rule.dimension)) continue;
    if (typeof value === 'boolean') safe[key] = value;
    else if (typeof value === 'number') {
      if (Number.isFinite(value)) safe[key] = value;
    } else if (typeof value === 'string') safe[key] = rule.shape.test(value) ? value : REDACTED;
  }
  return safe;
}

/** Keeps the allow-listed measurement names with finite values. */
export function redactMeasurements(measurements: Record<string, number> | undefined): Record<string, number> {
  const safe: Record<string, number> = {};
  if (!measurements) return safe;
  for (const [key, value] of Object.entries(measurements)) {
    if (TELEMETRY_MEASUREMENT_KEYS.has(key) && typeof value === 'number' && Number.isFinite(value)) {
      safe[key] = value;
    }
  }
  return safe;
}

export function isAllowedEventName(name: string): boolean {
  return TELEMETRY_EVENT_NAMES.has(name);
}

export function isAllowedMetricName(name: string): boolean {
  return TELEMETRY_METRIC_NAMES.has(name);
}

const DEPENDENCY_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._:/{}-]{0,127}$/;
const TARGET = /^[A-Za-z0-9.-]{1,253}(?::\d{1,5})?(?:\/[A-Za-z0-9._/-]{0,260})?$/;
const RESULT_CODE = TELEMETRY_PROPERTY_RULES.resultCode?.shape ?? /^$/;

export interface SafeRequest {
  name: string;
  /** For an HTTP route: its method, so the exporter records URL and status code. */
  method?: string;
  url?: string;
}

/** Whether `path` (no query) is an instance of the route template `template`. */
function matchesTemplate(path: string, template: string): boolean {
  const segments = path.replace(/\/+$/, '').split('/');
  const expected = template.split('/');
  return (
    segments.length === expected.length &&
    expected.every((part, index) => {
      const segment = segments[index] ?? '';
      return /^\{[^}]+\}$/.test(part) ? segment.length > 0 : part.toLowerCase() === segment.toLowerCase();
    })
  );
}

/**
 * A request's name must be a listed route (`METHOD /api/route` or its function name) or trigger
 * function, else it is redacted. Its URL is sent as the route template: the values in a path are
 * personal data (UPNs) or whatever a caller typed there, and the ones that matter (tenantId,
 * operationId) go as properties. A URL that is not an instance of its route is redacted; the query is
 * never looked at.
 */
export function safeRequest(name: string, url: string | undefined): SafeRequest {
  const route = TELEMETRY_HTTP_ROUTES.get(name);
  if (!route) return { name: TELEMETRY_TRIGGER_NAMES.has(name) ? name : REDACTED };
  if (url === undefined) return { name, method: route.method };
  let path = url.split(/[?#]/, 1)[0] ?? '';
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(path);
  if (origin) path = path.slice(origin[0].length);
  return { name, method: route.method, url: matchesTemplate(path, route.path) ? route.path : REDACTED };
}

export function safeDependencyName(name: string): string {
  return DEPENDENCY_NAME.test(name) ? name : REDACTED;
}

export function safeDependencyType(type: string): string {
  return TELEMETRY_DEPENDENCY_TYPES.has(type) ? type : REDACTED;
}

/** `host[:port][/entity]`; a URL is reduced to that (its query dropped); anything else is redacted. */
export function safeTarget(target: string): string {
  const withoutScheme = target.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const withoutQuery = withoutScheme.split(/[?#]/, 1)[0] ?? '';
  const trimmed = withoutQuery.replace(/\/+$/, '');
  return TARGET.test(trimmed) ? trimmed : REDACTED;
}

export function safeResultCode(code: string | number): string {
  const text = String(code);
  return RESULT_CODE.test(text) ? text : REDACTED;
}

/** The trace id of a caller's traceparent (shared/wire's one parser), or undefined. */
export { traceIdOf } from '../wire/index.js';
