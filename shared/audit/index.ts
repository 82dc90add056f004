/** The tenant's audit trail: accepted operations and the audit table, newest first (docs/state.md). */
export {
  AuditTrail,
  auditTrail,
  AUDIT_WINDOWS_MINUTES,
  type AuditActor,
  type AuditEntry,
  type AuditTrailOptions,
  type AuditTrailView,
} from './audit-trail.js';
