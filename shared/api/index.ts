/** The HTTP API contract: the routes, their schemas and the OpenAPI document made of them. */
export {
  apiRoutes,
  auditRoute,
  changeMyPasswordRoute,
  disableWritebackRoute,
  enableWritebackRoute,
  getOperationRoute,
  getWritebackRoute,
  healthRoute,
  openApiRoute,
  resetMyPasswordRoute,
  resetUserPasswordRoute,
  rolloverKeysRoute,
  unlockMeRoute,
  unlockUserRoute,
  whoAmIRoute,
  writebackStatusRoute,
} from './routes.js';
export { API_VERSION, buildOpenApiDocument } from './openapi.js';
export {
  type Actor,
  type AgentCredentialsView,
  type KeyRolloverView,
  TenantId,
  UserPrincipalName,
  type WritebackConfiguration,
} from './schemas.js';
export { DEFAULT_ROUTE_BUDGET_MS, requiresToken, type RouteAccess, type RouteContract } from './contract.js';
