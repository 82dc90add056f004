/**
 * Every route of the API. Adding a route here puts it in the OpenAPI document; a function in
 * functions/ binds it to its behaviour.
 */
import { z } from 'zod';
import { defineRoute, type RouteContract } from './contract.js';
import { CallerIdentity, HealthReport, TenantParams } from './schemas.js';

export const healthRoute = defineRoute({
  name: 'health',
  method: 'GET',
  route: 'health',
  summary: 'Liveness of the API.',
  tags: ['service'],
  auth: 'anonymous',
  responses: { 200: { description: 'The API is running.', schema: HealthReport } },
});

export const openApiRoute = defineRoute({
  name: 'openapi',
  method: 'GET',
  route: 'openapi.json',
  summary: 'This OpenAPI 3.1 document.',
  tags: ['service'],
  auth: 'anonymous',
  responses: {
    200: { description: 'The OpenAPI document.', schema: z.record(z.string(), z.unknown()) },
  },
});

export const whoAmIRoute = defineRoute({
  name: 'whoAmI',
  method: 'GET',
  route: 'tenants/{tenantId}/me',
  summary: 'The caller as the API sees them: the identity taken from the token.',
  tags: ['identity'],
  auth: 'bearer',
  params: TenantParams,
  responses: { 200: { description: 'The caller.', schema: CallerIdentity } },
});

export const apiRoutes: readonly RouteContract[] = [healthRoute, openApiRoute, whoAmIRoute];
