/**
 * The `audit` table (DESIGN.md §6), for the tenant administration events: PartitionKey = tenant id,
 * RowKey = `{ISO time}-{uuid}` (chronological within a tenant, unique). Columns: action, actorObjectId,
 * actorUpn, target, outcome, at. Never a secret: no key, connection string or password.
 */
import { randomUUID } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { tableClientFromSettings, type Settings } from '../azure/clients.js';
import type { Actor } from './records.js';

export const AUDIT_TABLE = 'audit';

export interface AuditEvent {
  tenantId: string;
  action: 'WritebackEnabled' | 'WritebackDisabled';
  actor: Actor;
  /** What was acted on (here: the tenant's writeback configuration). */
  target: string;
  outcome: 'succeeded';
  at: Date;
}

export class AuditLog {
  private ready: Promise<void> | undefined;

  constructor(private readonly table: TableClient) {}

  static fromSettings(env: Settings = process.env): AuditLog {
    return new AuditLog(tableClientFromSettings(AUDIT_TABLE, 'AzureWebJobsStorage', env));
  }

  async record(event: AuditEvent): Promise<void> {
    this.ready ??= this.table.createTable().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    await this.ready;
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
    });
  }
}
