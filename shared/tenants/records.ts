/**
 * The `tenants` table (DESIGN.md §6): one row per tenant that was ever enabled, the source of truth
 * for "is writeback enabled". PartitionKey = tenant id, RowKey = `writeback`, so that a tenant's
 * other configuration rows can join it later. Timestamps are ISO-8601 strings (UTC). No secret is
 * ever stored here: the agent's SAS keys live only on the queues' rules, the private keys only in
 * Key Vault.
 */
import { odata, RestError, type TableClient } from '@azure/data-tables';
import { ConcurrencyConflict } from '../errors/index.js';
import { tableClientFromSettings, type Settings } from '../azure/clients.js';
import { tableCreator } from '../azure/tables.js';
import type { z } from 'zod';
import type { Actor as ActorSchema } from '../api/schemas.js';

export const TENANTS_TABLE = 'tenants';
export const WRITEBACK_ROW_KEY = 'writeback';

/**
 * `provisioning`: an enable started and has not finished (a retried PUT completes it);
 * `enabled`: operations are accepted; `disabling`: a disable started (operations are already refused);
 * `disabled`: the agent's queues and rules are gone and its keys disabled.
 */
export type WritebackState = 'provisioning' | 'enabled' | 'disabling' | 'disabled';

export type Actor = z.infer<typeof ActorSchema>;

/** One tenant's writeback configuration, as stored. */
export interface TenantRecord {
  tenantId: string;
  state: WritebackState;
  requestQueue: string;
  repliesQueue: string;
  /** Names of the agent's SAS rules (Listen on the request queue, Send on the replies queue). */
  listenRule: string;
  sendRule: string;
  /** Versioned key ids of `writeback-{t}-enc` and `writeback-{t}-sig`, once provisioned. */
  encryptionKeyId?: string;
  signatureKeyId?: string;
  /** When and by whom the current enablement completed (for `provisioning`: was asked for). */
  enabledAt?: string;
  enabledBy?: Actor;
  disabledAt?: string;
  disabledBy?: Actor;
  updatedAt: string;
}

/** The stored row: flat columns, as Table storage wants them. */
interface TenantEntity {
  partitionKey: string;
  rowKey: string;
  state: WritebackState;
  requestQueue: string;
  repliesQueue: string;
  listenRule: string;
  sendRule: string;
  encryptionKeyId?: string;
  signatureKeyId?: string;
  enabledAt?: string;
  enabledByObjectId?: string;
  enabledByUpn?: string;
  disabledAt?: string;
  disabledByObjectId?: string;
  disabledByUpn?: string;
  updatedAt: string;
}

const STATES: readonly WritebackState[] = ['provisioning', 'enabled', 'disabling', 'disabled'];

function toEntity(record: TenantRecord): TenantEntity {
  const optional = <K extends string>(key: K, value: string | undefined) =>
    value === undefined ? {} : ({ [key]: value } as Record<K, string>);
  return {
    partitionKey: record.tenantId,
    rowKey: WRITEBACK_ROW_KEY,
    state: record.state,
    requestQueue: record.requestQueue,
    repliesQueue: record.repliesQueue,
    listenRule: record.listenRule,
    sendRule: record.sendRule,
    ...optional('encryptionKeyId', record.encryptionKeyId),
    ...optional('signatureKeyId', record.signatureKeyId),
    ...optional('enabledAt', record.enabledAt),
    ...optional('enabledByObjectId', record.enabledBy?.objectId),
    ...optional('enabledByUpn', record.enabledBy?.upn),
    ...optional('disabledAt', record.disabledAt),
    ...optional('disabledByObjectId', record.disabledBy?.objectId),
    ...optional('disabledByUpn', record.disabledBy?.upn),
    updatedAt: record.updatedAt,
  };
}

function actorOf(objectId: string | undefined, upn: string | undefined): Actor | undefined {
  return objectId === undefined ? undefined : { objectId, ...(upn ? { upn } : {}) };
}

function fromEntity(entity: TenantEntity): TenantRecord {
  if (!STATES.includes(entity.state)) throw new Error(`tenants row has an unknown state`);
  const record: TenantRecord = {
    tenantId: entity.partitionKey,
    state: entity.state,
    requestQueue: entity.requestQueue,
    repliesQueue: entity.repliesQueue,
    listenRule: entity.listenRule,
    sendRule: entity.sendRule,
    updatedAt: entity.updatedAt,
  };
  if (entity.encryptionKeyId) record.encryptionKeyId = entity.encryptionKeyId;
  if (entity.signatureKeyId) record.signatureKeyId = entity.signatureKeyId;
  if (entity.enabledAt) record.enabledAt = entity.enabledAt;
  if (entity.disabledAt) record.disabledAt = entity.disabledAt;
  const enabledBy = actorOf(entity.enabledByObjectId, entity.enabledByUpn);
  if (enabledBy) record.enabledBy = enabledBy;
  const disabledBy = actorOf(entity.disabledByObjectId, entity.disabledByUpn);
  if (disabledBy) record.disabledBy = disabledBy;
  return record;
}

export interface StoredTenant {
  record: TenantRecord;
  /** For conditional updates: two admins enabling and disabling at once cannot overwrite each other. */
  etag: string;
}

/** The row changed (or appeared) since it was read. */
export class TenantRowConflict extends ConcurrencyConflict {
  constructor() {
    super('The tenants row changed concurrently.');
    this.name = 'TenantRowConflict';
  }
}

function statusOf(error: unknown): number | undefined {
  return error instanceof RestError ? error.statusCode : undefined;
}

export class TenantRegistry {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ensureTable = tableCreator(table);
  }

  static fromSettings(env: Settings = process.env): TenantRegistry {
    return new TenantRegistry(tableClientFromSettings(TENANTS_TABLE, 'AzureWebJobsStorage', env));
  }

  async get(tenantId: string): Promise<StoredTenant | undefined> {
    await this.ensureTable();
    try {
      const entity = await this.table.getEntity<TenantEntity>(tenantId, WRITEBACK_ROW_KEY);
      return { record: fromEntity(entity), etag: entity.etag };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Every tenant that has a writeback row, whatever its state (for sweeps across tenants). */
  async listTenantIds(): Promise<string[]> {
    await this.ensureTable();
    const ids: string[] = [];
    const rows = this.table.listEntities<{ partitionKey: string }>({
      queryOptions: { filter: odata`RowKey eq ${WRITEBACK_ROW_KEY}`, select: ['PartitionKey'] },
    });
    for await (const row of rows) ids.push(row.partitionKey);
    return ids;
  }

  /** Inserts the first row of a tenant; TenantRowConflict if one appeared meanwhile. */
  async create(record: TenantRecord): Promise<StoredTenant> {
    await this.ensureTable();
    try {
      const response = await this.table.createEntity(toEntity(record));
      return { record, etag: response.etag ?? '*' };
    } catch (error) {
      if (statusOf(error) === 409) throw new TenantRowConflict();
      throw error;
    }
  }

  /** Replaces the row if it is still at `etag`; TenantRowConflict otherwise. */
  async replace(record: TenantRecord, etag: string): Promise<StoredTenant> {
    await this.ensureTable();
    try {
      const response = await this.table.updateEntity(toEntity(record), 'Replace', { etag });
      return { record, etag: response.etag ?? '*' };
    } catch (error) {
      if (statusOf(error) === 412 || statusOf(error) === 404) throw new TenantRowConflict();
      throw error;
    }
  }
}
