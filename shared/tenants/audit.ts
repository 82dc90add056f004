/**
 * The `audit` table (docs/state.md): who did what to whom, when, with what outcome. PartitionKey =
 * tenant id, RowKey = `{ISO time}-{uuid}` (chronological within a tenant, unique). Columns: action,
 * actorObjectId, actorUpn, target, outcome, at, and for password operations operationId, code,
 * reason, requestedAt, flags. Never a secret: no key, connection string or password.
 */
import { randomUUID } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { tableClientFromSettings } from '../azure/index.js';
import { tableCreator } from '../azure/index.js';
import type { Actor } from './tenant-registry.js';
import type { Environment } from '../config/index.js';

export const AUDIT_TABLE = 'audit';

export type AuditAction =
  | 'WritebackEnabled'
  | 'WritebackDisabled'
  | 'PasswordReset'
  | 'PasswordChange'
  | 'AccountUnlock'
  /** A key rollover: one row per key (encryption, signature, the agent's SAS credentials). */
  | 'KeyRolledOver';

export interface AuditEvent {
  tenantId: string;
  action: AuditAction;
  actor: Actor;
  /** What was acted on: the tenant's writeback configuration, or the user (`upn:…` / `sid:…`). */
  target: string;
  /** `refused`: turned away before an operation was accepted (disabled, offline, rate limited). */
  outcome: 'succeeded' | 'failed' | 'expired' | 'refused';
  at: Date;
  operationId?: string;
  /** The problem code of a failed, expired or refused operation. */
  code?: string;
  reason?: string;
  /** When the operation was asked for (`at` is when it ended). */
  requestedAt?: Date;
  /** Self-service (`me/`) or an admin route. */
  route?: 'self' | 'admin';
  /** Reset flags and whether the password was generated, e.g. `forceChangeAtNextLogon,unlock`. */
  flags?: string;
  /** A rollover: the replaced and the new key version (or SAS key slot); never key material. */
  previousVersion?: string;
  newVersion?: string;
  /** Free text an admin gave (the reason of a manual rollover). */
  note?: string;
}

export class AuditLog {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ensureTable = tableCreator(table);
  }

  static fromSettings(env: Environment = process.env): AuditLog {
    return new AuditLog(tableClientFromSettings(AUDIT_TABLE, 'AzureWebJobsStorage', env));
  }

  async record(event: AuditEvent): Promise<void> {
    await this.ensureTable();
    const at = event.at.toISOString();
    await this.table.createEntity({
      partitionKey: event.tenantId,
      rowKey: `${at}-${randomUUID()}`,
      action: event.action,
      actorObjectId: event.actor.objectId,
      ...(event.actor.upn ? { actorUpn: event.actor.upn } : {}),
      target: event.target,
      outcome: event.outcome,
      at,
      ...(event.operationId ? { operationId: event.operationId } : {}),
      ...(event.code ? { code: event.code } : {}),
      ...(event.reason ? { reason: event.reason } : {}),
      ...(event.requestedAt ? { requestedAt: event.requestedAt.toISOString() } : {}),
      ...(event.route ? { route: event.route } : {}),
      ...(event.flags ? { flags: event.flags } : {}),
      ...(event.previousVersion ? { previousVersion: event.previousVersion } : {}),
      ...(event.newVersion ? { newVersion: event.newVersion } : {}),
      ...(event.note ? { note: event.note } : {}),
    });
  }
}
