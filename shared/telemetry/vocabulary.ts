/**
 * Everything telemetry may carry, as allow-lists. docs/security.md: a plaintext password may never reach
 * telemetry. Rather than trusting every call site (and every property someone adds later), the wrapper
 * sends only what is listed here: a property whose key is not listed is dropped, a listed key whose
 * string value does not have the listed shape is replaced by `[redacted]`, an event or metric whose name
 * is not listed is not sent. Free text (messages, error texts, AD's answers) has no key here on purpose.
 *
 * To report something new, add it here: that one reviewed line is the decision that it is not secret.
 * Numbers and booleans of a listed key are always kept; the shapes only constrain strings.
 */

import { UUID_PATTERN } from '../domain/index.js';
import { apiRoutes } from '../api/index.js';

/** Words of the domain: codes, outcomes, states, kinds, reasons (`PasswordPolicy`, `tooShort`, `pending`). */
const TOKEN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const UUID = UUID_PATTERN;
/** Tenant ids (docs/wire.md) (Entra tenant GUIDs match too). */
const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;
/** `self` / `admin`, or a route template such as `/api/tenants/{tenantId}/me/unlock`. */
const ROUTE = /^[A-Za-z0-9/{}._-]{1,200}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$/;
const BOOLEAN = /^(true|false)$/;
const INTEGER = /^\d{1,9}$/;

export interface PropertyRule {
  /** What a string value must look like. */
  readonly shape: RegExp;
  /**
   * May be a dimension of a metric. Metrics are aggregated per combination of dimensions, so only
   * low-cardinality keys qualify (no operation or user ids).
   */
  readonly dimension: boolean;
}

/** The allow-list of custom dimensions. */
export const TELEMETRY_PROPERTY_RULES: Readonly<Record<string, PropertyRule>> = Object.freeze({
  tenantId: { shape: TENANT_ID, dimension: true },
  operationId: { shape: UUID, dimension: false },
  operationKind: { shape: /^(reset|change|unlock)$/, dimension: true },
  outcome: { shape: TOKEN, dimension: true },
  status: { shape: TOKEN, dimension: true },
  code: { shape: TOKEN, dimension: true },
  reason: { shape: TOKEN, dimension: true },
  route: { shape: ROUTE, dimension: true },
  replyType: { shape: TOKEN, dimension: true },
  agentId: { shape: NAME, dimension: true },
  agentVersion: { shape: VERSION, dimension: true },
  requesterObjectId: { shape: UUID, dimension: false },
  keyVersion: { shape: /^[A-Za-z0-9]{1,64}$/, dimension: false },
  /** Service Bus queue or Table name a dependency touched. */
  queue: { shape: /^[A-Za-z0-9][A-Za-z0-9._/-]{0,259}$/, dimension: true },
  table: { shape: /^[A-Za-z][A-Za-z0-9]{2,62}$/, dimension: true },
  /** A dependency's or non-HTTP request's result code (the exporter only maps HTTP status codes). */
  resultCode: { shape: /^-?[A-Za-z0-9._-]{1,32}$/, dimension: true },
  /** An SDK error's code (`ServiceTimeout`, `MessagingEntityNotFound`), never its message. */
  errorCode: { shape: TOKEN, dimension: true },
  httpMethod: { shape: /^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)$/, dimension: true },
  httpStatus: { shape: /^\d{3}$/, dimension: true },
  retryAfterSeconds: { shape: INTEGER, dimension: false },
  idempotentReplay: { shape: BOOLEAN, dimension: true },
  generatedPassword: { shape: BOOLEAN, dimension: true },
  /** Which key a rollover rolled. */
  key: { shape: /^(encryption|signature|agentCredentials)$/, dimension: true },
});

/** The allow-list of measurement names of events (numbers only). */
export const TELEMETRY_MEASUREMENT_KEYS: ReadonlySet<string> = new Set([
  'durationMs',
  'syncWaitMs',
  'messageBytes',
  'attempts',
  'ageMs',
  'retryAfterSeconds',
]);

/** An HTTP route as requests report it. */
export interface TelemetryHttpRoute {
  method: string;
  /** The route template under `/api`, e.g. `/api/tenants/{tenantId}/me/password/reset`. */
  path: string;
}

/**
 * The names a request may have: every route of the API (shared/api/routes.ts), by `METHOD /api/route`
 * or by its function name, so a new route is listed by being added there.
 */
export const TELEMETRY_HTTP_ROUTES: ReadonlyMap<string, TelemetryHttpRoute> = new Map(
  apiRoutes.flatMap((route) => {
    const entry = { method: route.method, path: `/api/${route.route}` };
    return [
      [`${entry.method} ${entry.path}`, entry],
      [route.name, entry],
    ] as const;
  }),
);

/** The names of requests that are not HTTP: the functions with other triggers. */
export const TELEMETRY_TRIGGER_NAMES: ReadonlySet<string> = new Set([
  /** Service Bus trigger on `writeback-replies`: results and heartbeats. */
  'replies',
  /** Timer: operations past their expiry end as WritebackExpired. */
  'operationsExpiry',
  /** Timer: key rollover (docs/key-rollover.md). */
  'keyRollover',
]);

/** The custom events the product sends. */
export const TELEMETRY_EVENT_NAMES: ReadonlySet<string> = new Set([
  /** An operation reached its final state (one per operation: its outcome). */
  'writeback.operation.completed',
  /** An operation was refused before anything was sent (disabled, offline, rate limited, …). */
  'writeback.operation.refused',
  /** A reply was dropped: bad signature, unknown key, another tenant's operation. */
  'writeback.reply.rejected',
  'writeback.tenant.enabled',
  'writeback.tenant.disabled',
  'writeback.keys.rolled',
]);

/** The custom metrics the product sends (aggregated per export period). */
export const TELEMETRY_METRIC_NAMES: ReadonlySet<string> = new Set([
  /** From accepting an operation to its final state, per kind and outcome. */
  'writeback.operation.durationMs',
  /** How long an HTTP call waited for the agent before answering 200 or 202. */
  'writeback.operation.syncWaitMs',
  /** Size of a request message on the wire (body and application properties). */
  'writeback.request.messageBytes',
]);

/** The dependency types the product reports. */
export const TELEMETRY_DEPENDENCY_TYPES: ReadonlySet<string> = new Set([
  'Azure Service Bus',
  'Azure Key Vault',
  'Azure Table',
  'HTTP',
]);
