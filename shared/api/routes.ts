/**
 * Every route of the API. Adding a route here puts it in the OpenAPI document; a function in
 * functions/ binds it to its behaviour.
 */
import { z } from 'zod';
import { defineRoute, type RouteContract } from './contract.js';
import {
  CallerIdentity,
  HealthReport,
  TenantParams,
  WritebackConfiguration,
  WritebackEnabled,
  WritebackStatus,
} from './schemas.js';

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

export const enableWritebackRoute = defineRoute({
  name: 'enableWriteback',
  method: 'PUT',
  route: 'tenants/{tenantId}/writeback',
  summary:
    "Enables password writeback: provisions the tenant's queues, the agent's SAS rules and the Key Vault keys. " +
    "Idempotent: 201 with the agent's connection strings when this request completed the enable, 200 with the " +
    'configuration (no secrets) when writeback was already enabled.',
  tags: ['tenants'],
  auth: 'bearer',
  params: TenantParams,
  responses: {
    200: { description: 'Already enabled: nothing changed.', schema: WritebackConfiguration },
    201: { description: 'Enabled by this request.', schema: WritebackEnabled },
  },
});

export const getWritebackRoute = defineRoute({
  name: 'getWriteback',
  method: 'GET',
  route: 'tenants/{tenantId}/writeback',
  summary: "The tenant's writeback configuration, without secrets.",
  tags: ['tenants'],
  auth: 'bearer',
  params: TenantParams,
  responses: { 200: { description: 'The configuration.', schema: WritebackConfiguration } },
  problems: ['WritebackDisabled'],
});

export const disableWritebackRoute = defineRoute({
  name: 'disableWriteback',
  method: 'DELETE',
  route: 'tenants/{tenantId}/writeback',
  summary:
    "Disables password writeback: operations stop at once, the agent's queues and rules are deleted and " +
    "every version of the tenant's keys is disabled. Idempotent.",
  tags: ['tenants'],
  auth: 'bearer',
  params: TenantParams,
  responses: { 200: { description: 'Disabled.', schema: WritebackConfiguration } },
  problems: ['WritebackDisabled'],
});

export const writebackStatusRoute = defineRoute({
  name: 'writebackStatus',
  method: 'GET',
  route: 'tenants/{tenantId}/writeback/status',
  summary:
    "Whether the tenant's writeback agent is alive: online when an agent's heartbeat is fresher than " +
    '2 × HEARTBEAT_INTERVAL + 1 minute and it has not signed off; disabled when writeback is not enabled.',
  tags: ['tenants'],
  auth: 'bearer',
  params: TenantParams,
  responses: { 200: { description: 'The status.', schema: WritebackStatus } },
});

export const apiRoutes: readonly RouteContract[] = [
  healthRoute,
  openApiRoute,
  whoAmIRoute,
  enableWritebackRoute,
  getWritebackRoute,
  disableWritebackRoute,
  writebackStatusRoute,
];
