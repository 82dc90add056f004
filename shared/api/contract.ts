/**
 * A route contract: everything about a route that is not its behaviour. Functions register from it
 * (method, route, auth level), requests are validated by it, and the OpenAPI document is made of it.
 */
import type { z } from 'zod';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * Who may call a route: anyone (`anonymous`), any caller with a valid token of the route's tenant
 * (`tenant`), or such a caller holding an application role (`role`). The HTTP binding enforces it
 * before the handler runs, and the OpenAPI document publishes it.
 */
export type RouteAccess = { kind: 'anonymous' } | { kind: 'tenant' } | { kind: 'role'; role: string };

export interface ResponseContract {
  description: string;
  schema?: z.ZodType;
  contentType?: string;
}

export interface RouteContract<
  Params extends z.ZodType = z.ZodType,
  Query extends z.ZodType = z.ZodType,
  Body extends z.ZodType = z.ZodType,
  Headers extends z.ZodType = z.ZodType,
  Access extends RouteAccess = RouteAccess,
> {
  /** The OpenAPI operationId; also the Azure Function's name. */
  name: string;
  method: HttpMethod;
  /** Route under the `api` prefix, in the host's template syntax without constraints (`tenants/{tenantId}/…`). */
  route: string;
  summary: string;
  tags: string[];
  /** Who may call: see RouteAccess. Every kind but `anonymous` requires an Entra ID (or development) token. */
  access: Access;
  params?: Params;
  query?: Query;
  /** The JSON body; a schema that accepts undefined makes the body optional. */
  body?: Body;
  /** Request headers the route reads, keyed by lower-case name (e.g. `idempotency-key`). */
  headers?: Headers;
  /** Success responses; the problem responses come from `problems`. */
  responses: Record<number, ResponseContract>;
  /** Problem codes this route can answer with, besides the ones every route has. */
  problems?: readonly string[];
  /**
   * How long the route may take to answer, every dependency call included (default
   * DEFAULT_ROUTE_BUDGET_MS). The password routes and the operation's long poll take theirs from the
   * synchronous wait and the requested wait instead (shared/operations).
   */
  budgetMs?: number;
}

/** What a route that reads or writes a few rows may take, stalls included: a few seconds. */
export const DEFAULT_ROUTE_BUDGET_MS = 5_000;
/** The admin routes that create or roll keys and queues: several Key Vault and Service Bus calls. */
export const ADMIN_CHANGE_BUDGET_MS = 30_000;

export function defineRoute<
  P extends z.ZodType,
  Q extends z.ZodType,
  B extends z.ZodType,
  H extends z.ZodType = z.ZodType,
  A extends RouteAccess = RouteAccess,
>(contract: RouteContract<P, Q, B, H, A>): RouteContract<P, Q, B, H, A> {
  return contract;
}

/** Whether a route requires a token (every access but `anonymous`). */
export function requiresToken(access: RouteAccess): boolean {
  return access.kind !== 'anonymous';
}
