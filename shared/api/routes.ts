/**
 * Every route of the API. Adding a route here puts it in the OpenAPI document; a function in
 * functions/ binds it to its behaviour.
 */
import { z } from 'zod';
import { ADMIN_ROLE } from '../domain/index.js';
import { ADMIN_CHANGE_BUDGET_MS, defineRoute, type RouteContract } from './contract.js';
import {
  AuditQuery,
  AuditTrail,
  CallerIdentity,
  ChangeMyPasswordBody,
  HealthReport,
  IdempotencyHeaders,
  NoBody,
  OperationParams,
  OperationPending,
  OperationQuery,
  OperationStatus,
  OperationSucceeded,
  ResetMyPasswordBody,
  ResetUserPasswordBody,
  RolloverRequest,
  RolloverStarted,
  TenantParams,
  UserParams,
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
  access: { kind: 'anonymous' },
  responses: { 200: { description: 'The API is running.', schema: HealthReport } },
});

export const openApiRoute = defineRoute({
  name: 'openapi',
  method: 'GET',
  route: 'openapi.json',
  summary: 'This OpenAPI 3.1 document.',
  tags: ['service'],
  access: { kind: 'anonymous' },
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
  access: { kind: 'tenant' },
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
  access: { kind: 'role', role: ADMIN_ROLE },
  budgetMs: ADMIN_CHANGE_BUDGET_MS,
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
  access: { kind: 'role', role: ADMIN_ROLE },
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
  access: { kind: 'role', role: ADMIN_ROLE },
  budgetMs: ADMIN_CHANGE_BUDGET_MS,
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
  access: { kind: 'tenant' },
  params: TenantParams,
  responses: { 200: { description: 'The status.', schema: WritebackStatus } },
});

export const rolloverKeysRoute = defineRoute({
  name: 'rolloverKeys',
  method: 'POST',
  route: 'tenants/{tenantId}/writeback/keys/rollover',
  summary:
    'Rolls every key of the tenant now (role Writeback.Admin), e.g. after a suspected compromise: new versions of ' +
    'writeback-{tenantId}-enc and -sig, and new SAS keys sent to the agent in a sealed control message. The ' +
    'replaced versions keep working through their grace; the old SAS keys until the agent acknowledges.',
  tags: ['tenants'],
  access: { kind: 'role', role: ADMIN_ROLE },
  budgetMs: ADMIN_CHANGE_BUDGET_MS,
  params: TenantParams,
  body: RolloverRequest,
  responses: {
    200: {
      description: 'Rolled; the SAS part completes when the agent acknowledges.',
      schema: RolloverStarted,
    },
  },
  problems: ['WritebackDisabled'],
});

/** Problems every password route can answer with, besides the common ones. */
const PASSWORD_PROBLEMS = [
  'WritebackDisabled',
  'WritebackOffline',
  'RateLimited',
  'UserNotFound',
  'ProtectedAccount',
  'AccountDisabled',
  'WritebackExpired',
  'AgentFailure',
] as const;

const PASSWORD_RESPONSES = {
  200: { description: 'The agent applied it.', schema: OperationSucceeded },
  202: {
    description:
      'The agent has not answered within WRITEBACK_SYNC_WAIT; Location names the operation and Retry-After says when to ask.',
    schema: OperationPending,
  },
};

export const resetMyPasswordRoute = defineRoute({
  name: 'resetMyPassword',
  method: 'POST',
  route: 'tenants/{tenantId}/me/password/reset',
  summary:
    "Self-service password reset of the caller's on-premises account (identified by onprem_sid, else upn), " +
    'after the portal has verified the user.',
  tags: ['passwords'],
  access: { kind: 'tenant' },
  params: TenantParams,
  headers: IdempotencyHeaders,
  body: ResetMyPasswordBody,
  responses: PASSWORD_RESPONSES,
  problems: [...PASSWORD_PROBLEMS, 'PasswordPolicy'],
});

export const changeMyPasswordRoute = defineRoute({
  name: 'changeMyPassword',
  method: 'POST',
  route: 'tenants/{tenantId}/me/password/change',
  summary: 'The caller changes their own password; AD checks the current password and the password history.',
  tags: ['passwords'],
  access: { kind: 'tenant' },
  params: TenantParams,
  headers: IdempotencyHeaders,
  body: ChangeMyPasswordBody,
  responses: PASSWORD_RESPONSES,
  problems: [...PASSWORD_PROBLEMS, 'PasswordPolicy', 'CurrentPasswordIncorrect'],
});

export const unlockMeRoute = defineRoute({
  name: 'unlockMe',
  method: 'POST',
  route: 'tenants/{tenantId}/me/unlock',
  summary: "Unlocks the caller's on-premises account without changing its password.",
  tags: ['passwords'],
  access: { kind: 'tenant' },
  params: TenantParams,
  headers: IdempotencyHeaders,
  body: NoBody,
  responses: PASSWORD_RESPONSES,
  problems: PASSWORD_PROBLEMS,
});

export const resetUserPasswordRoute = defineRoute({
  name: 'resetUserPassword',
  method: 'POST',
  route: 'tenants/{tenantId}/users/{upn}/password/reset',
  summary:
    "Admin reset of a user's on-premises password (role Writeback.Admin). Without newPassword a strong temporary " +
    'password is generated and returned once.',
  tags: ['passwords'],
  access: { kind: 'role', role: ADMIN_ROLE },
  params: UserParams,
  headers: IdempotencyHeaders,
  body: ResetUserPasswordBody,
  responses: PASSWORD_RESPONSES,
  problems: [...PASSWORD_PROBLEMS, 'PasswordPolicy'],
});

export const unlockUserRoute = defineRoute({
  name: 'unlockUser',
  method: 'POST',
  route: 'tenants/{tenantId}/users/{upn}/unlock',
  summary: "Admin unlock of a user's on-premises account (role Writeback.Admin).",
  tags: ['passwords'],
  access: { kind: 'role', role: ADMIN_ROLE },
  params: UserParams,
  headers: IdempotencyHeaders,
  body: NoBody,
  responses: PASSWORD_RESPONSES,
  problems: PASSWORD_PROBLEMS,
});

export const getOperationRoute = defineRoute({
  name: 'getOperation',
  method: 'GET',
  route: 'tenants/{tenantId}/operations/{operationId}',
  summary:
    "An operation's state, for its requester or an admin, waiting up to waitSeconds (at most 60) for a pending " +
    'one to finish. A failed operation carries the problem its password route answers with.',
  tags: ['passwords'],
  access: { kind: 'tenant' },
  params: OperationParams,
  query: OperationQuery,
  responses: { 200: { description: 'The operation.', schema: OperationStatus } },
  problems: ['NotFound'],
});

export const auditRoute = defineRoute({
  name: 'getAudit',
  method: 'GET',
  route: 'tenants/{tenantId}/audit',
  summary:
    "The tenant's recent audit trail, newest first (role Writeback.Admin): accepted password operations, " +
    'refused attempts and admin actions (enable, disable, key rollover), from at most the last 90 days. Never a secret.',
  tags: ['tenants'],
  access: { kind: 'role', role: ADMIN_ROLE },
  params: TenantParams,
  query: AuditQuery,
  responses: { 200: { description: 'The entries.', schema: AuditTrail } },
});

export const apiRoutes: readonly RouteContract[] = [
  healthRoute,
  openApiRoute,
  whoAmIRoute,
  enableWritebackRoute,
  getWritebackRoute,
  disableWritebackRoute,
  writebackStatusRoute,
  rolloverKeysRoute,
  resetMyPasswordRoute,
  changeMyPasswordRoute,
  unlockMeRoute,
  resetUserPasswordRoute,
  unlockUserRoute,
  getOperationRoute,
  auditRoute,
];
