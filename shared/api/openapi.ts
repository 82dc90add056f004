/** The OpenAPI 3.1 document, generated from the route contracts and their zod schemas. */
import { z } from 'zod';
import {
  createDocument,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponseObject,
} from 'zod-openapi';
import { PROBLEM_CATALOGUE } from '../domain/index.js';
import { requiresToken, type RouteContract } from './contract.js';
import { apiRoutes } from './routes.js';
import { ProblemDetails } from './schemas.js';

export const API_VERSION = '0.1.0';
const ROUTE_PREFIX = '/api';

function problemResponse(codes: readonly string[]): ZodOpenApiResponseObject {
  return {
    description: `Problem: ${codes.join(', ')}.`,
    content: { 'application/problem+json': { schema: ProblemDetails } },
  };
}

function operationOf(contract: RouteContract): ZodOpenApiOperationObject {
  const access = contract.access;
  const responses: Record<string, ZodOpenApiResponseObject> = {};
  for (const [status, response] of Object.entries(contract.responses)) {
    responses[status] = {
      description: response.description,
      ...(response.schema
        ? { content: { [response.contentType ?? 'application/json']: { schema: response.schema } } }
        : {}),
    };
  }
  // Group the route's possible problems by status, as one response per status.
  const codes = [
    ...(contract.params || contract.query || contract.body ? ['InvalidRequest'] : []),
    ...(requiresToken(contract.access) ? ['Unauthenticated', 'Forbidden', 'ServiceUnavailable'] : []),
    ...(contract.problems ?? []),
    'InternalError',
  ];
  const byStatus = new Map<number, string[]>();
  for (const code of codes) {
    const status = PROBLEM_CATALOGUE[code as keyof typeof PROBLEM_CATALOGUE].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, statusCodes] of byStatus) responses[String(status)] = problemResponse(statusCodes);

  const requestParams: ZodOpenApiOperationObject['requestParams'] = {};
  if (contract.params instanceof z.ZodObject) requestParams.path = contract.params;
  if (contract.query instanceof z.ZodObject) requestParams.query = contract.query;
  if (contract.headers instanceof z.ZodObject) requestParams.header = contract.headers;

  return {
    operationId: contract.name,
    summary: contract.summary,
    ...(access.kind === 'role'
      ? { description: `Requires the application role ${access.role} in the caller's token.` }
      : access.kind === 'tenant'
        ? { description: "Any caller with a valid token of the route's tenant." }
        : {}),
    tags: contract.tags,
    // OpenAPI's http bearer scheme takes no scopes: the role is published as x-required-role.
    ...(requiresToken(access) ? { security: [{ bearer: [] }] } : { security: [] }),
    ...(access.kind === 'role' ? { 'x-required-role': access.role } : {}),
    requestParams,
    ...(contract.body
      ? {
          requestBody: {
            required: !contract.body.safeParse(undefined).success,
            content: { 'application/json': { schema: contract.body } },
          },
        }
      : {}),
    responses: responses as ZodOpenApiOperationObject['responses'],
  };
}

export function buildOpenApiDocument(
  routes: readonly RouteContract[] = apiRoutes,
): ReturnType<typeof createDocument> {
  const paths: ZodOpenApiPathsObject = {};
  for (const contract of routes) {
    const path = `${ROUTE_PREFIX}/${contract.route}`;
    const method = contract.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete';
    paths[path] = { ...paths[path], [method]: operationOf(contract) };
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Password writeback API',
      version: API_VERSION,
      description:
        'Reset, change or unlock on-premises Active Directory passwords through the tenant writeback agent. ' +
        'Every error is application/problem+json (RFC 9457) with a stable `code`.',
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      },
    },
    paths,
  });
}
