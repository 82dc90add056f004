/**
 * Binds a route contract to its behaviour. The returned options go straight into `app.http`, so a
 * function file only registers and delegates: parsing, authentication and error mapping live here.
 */
import type { HttpFunctionOptions, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { z } from 'zod';
import { InvalidRequestError } from '../errors/index.js';
import {
  DEFAULT_ROUTE_BUDGET_MS,
  requiresToken,
  type RouteAccess,
  type RouteContract,
} from '../api/index.js';
import { withinBudget } from '../domain/index.js';
import { defaultTokenValidator, requireRole, type Caller } from '../auth/index.js';
import { problemResponse } from './problem.js';
import { telemetry } from '../telemetry/index.js';
import { traceparentOf } from '../wire/index.js';

/** Request bodies of this API are a few hundred bytes; anything near this is not a real request. */
export const MAX_BODY_BYTES = 16 * 1024;

export interface Authenticator {
  authenticate(authorization: string | null | undefined, routeTenantId: string): Promise<Caller>;
}

type Parsed<T> = T extends z.ZodType ? z.output<T> : undefined;

interface RequestInput<P, Q, B, H> {
  params: Parsed<P>;
  query: Parsed<Q>;
  body: Parsed<B>;
  headers: Parsed<H>;
  /** The caller's W3C trace context, when it sent a well-formed one. */
  traceparent: string | undefined;
  request: HttpRequest;
  context: InvocationContext;
}

/** A handler's input: the validated request, and the caller on every route that requires a token. */
export type EndpointInput<P, Q, B, H = undefined, A extends RouteAccess = RouteAccess> = RequestInput<
  P,
  Q,
  B,
  H
> &
  (A extends { kind: 'anonymous' } ? unknown : { caller: Caller });

function issuesOf(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((issue) => ({ path: issue.path.join('.') || '(root)', message: issue.message }));
}

function validate<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = issuesOf(result.error).map((i) => ({
      ...i,
      path: `${where}.${i.path}`.replace(/\.\(root\)$/, ''),
    }));
    throw new InvalidRequestError(
      `The ${where} is not valid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}.`,
      issues,
    );
  }
  return result.data;
}

/** The JSON body; undefined when the request has none (the route's schema decides whether that is allowed). */
async function readJsonBody(request: HttpRequest): Promise<unknown> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) {
    throw new InvalidRequestError(`The body is larger than ${MAX_BODY_BYTES} bytes.`);
  }
  const contentType = request.headers.get('content-type') ?? '';
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.byteLength === 0 && !contentType) return undefined;
  if (!/^application\/([a-z.+-]*\+)?json\b/i.test(contentType)) {
    throw new InvalidRequestError('The body must be JSON, sent with content-type application/json.');
  }
  if (bytes.byteLength > MAX_BODY_BYTES) {
    throw new InvalidRequestError(`The body is larger than ${MAX_BODY_BYTES} bytes.`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InvalidRequestError('The body is not valid UTF-8.');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Never echo the body: it may hold a password.
    throw new InvalidRequestError('The body is not valid JSON.');
  }
}

/**
 * A portal on another origin may read only the response headers listed here (CORS), and Azure's
 * platform CORS lists none: a 202's Location and a 429's or 503's Retry-After are for the portal too.
 */
const EXPOSED_HEADERS = 'Location, Retry-After';

/**
 * `app.http` options for a contract. Bearer routes use the process-wide token validator unless one is
 * given; it is built here, at registration, so a bad AUTH_* setting stops the app at start-up.
 */
export function httpTrigger<
  P extends z.ZodType,
  Q extends z.ZodType,
  B extends z.ZodType,
  H extends z.ZodType = z.ZodType,
  A extends RouteAccess = RouteAccess,
>(
  contract: RouteContract<P, Q, B, H, A>,
  handler: (input: EndpointInput<P, Q, B, H, A>) => Promise<HttpResponseInit>,
  authenticator?: Authenticator,
): HttpFunctionOptions {
  const access: RouteAccess = contract.access;
  const validator = requiresToken(access) ? (authenticator ?? defaultTokenValidator()) : undefined;
  return {
    methods: [contract.method],
    route: contract.route,
    // Callers authenticate with Entra ID tokens, validated below; function keys are not used.
    authLevel: 'anonymous',
    handler: async (request, context) => {
      const started = performance.now();
      const traceparent = traceparentOf(request.headers.get('traceparent'));
      // Every dependency call of the request, the token's keys included, ends by the route's deadline.
      const answered = await withinBudget(contract.budgetMs ?? DEFAULT_ROUTE_BUDGET_MS, () =>
        respond(request, context, traceparent),
      );
      const headers = new Headers(answered.headers);
      headers.set('access-control-expose-headers', EXPOSED_HEADERS);
      const response: HttpResponseInit = { ...answered, headers };
      // Requests are reported by their route template: path values (UPNs) and queries never are.
      const body = response.jsonBody as { operationId?: unknown } | undefined;
      telemetry().trackRequest({
        name: `${contract.method} /api/${contract.route}`,
        url: `/api/${contract.route}`,
        resultCode: response.status ?? 200,
        durationMs: performance.now() - started,
        success: (response.status ?? 200) < 500,
        ...(typeof body?.operationId === 'string' ? { operationId: body.operationId } : {}),
        ...(traceparent ? { traceparent } : {}),
      });
      return response;
    },
  };

  async function respond(
    request: HttpRequest,
    context: InvocationContext,
    traceparent: string | undefined,
  ): Promise<HttpResponseInit> {
    try {
      const params = (
        contract.params ? validate(contract.params, request.params, 'route') : undefined
      ) as Parsed<P>;
      // Who may call is checked before anything else of the request is read.
      const caller = validator
        ? await validator.authenticate(
            request.headers.get('authorization'),
            String(request.params.tenantId ?? ''),
          )
        : undefined;
      if (caller && access.kind === 'role') requireRole(caller, access.role);
      const query = (
        contract.query
          ? validate(contract.query, Object.fromEntries(request.query.entries()), 'query')
          : undefined
      ) as Parsed<Q>;
      const headers = (
        contract.headers
          ? validate(contract.headers, Object.fromEntries(request.headers.entries()), 'headers')
          : undefined
      ) as Parsed<H>;
      const body = (
        contract.body ? validate(contract.body, await readJsonBody(request), 'body') : undefined
      ) as Parsed<B>;
      const input: RequestInput<P, Q, B, H> = { params, query, body, headers, traceparent, request, context };
      // The type of the handler's input has `caller` exactly when the route requires a token.
      return await handler((caller ? { ...input, caller } : input) as EndpointInput<P, Q, B, H, A>);
    } catch (error) {
      return problemResponse(error, context.invocationId, context);
    }
  }
}
