/** Tenants: enabling, reading and disabling password writeback (docs/api.md). */
export {
  WritebackTenants,
  writebackTenants,
  SERVICE_BUS_CONNECTION,
  type AgentConnectionStrings,
  type EnableOutcome,
  type WritebackConfiguration,
  type WritebackTenantsOptions,
} from './writeback-tenants.js';
export {
  TenantRegistry,
  TENANTS_TABLE,
  WRITEBACK_ROW_KEY,
  type Actor,
  type TenantRecord,
  type WritebackState,
} from './tenant-registry.js';
export { AuditLog, AUDIT_TABLE, type AuditEvent } from './audit.js';
export { AGENT_LISTEN_RULE, AGENT_SEND_RULE } from './queues.js';
export { disableTenantKeys, ensureTenantKeys, type KeyProtection, type TenantKeyIds } from './keys.js';
export { type StoredTenant } from './tenant-registry.js';
export * from './rollover-policy.js';
export * from './rollover-view.js';
export { type AuditAction } from './audit.js';
export { newSasKey } from './queues.js';
export { type ReplacedKey, type SasKeySlot, TenantRowConflict } from './tenant-registry.js';
