/**
 * The `tenants` table (docs/state.md): one row per tenant that was ever enabled, the source of truth
 * for "is writeback enabled". PartitionKey = tenant id, RowKey = `writeback`, so that a tenant's
 * other configuration rows can join it later. Timestamps are ISO-8601 strings (UTC). No secret is
 * ever stored here: the agent's SAS keys live only on the queues' rules, the private keys only in
 * Key Vault.
 */
import { odata, RestError, type TableClient } from '@azure/data-tables';
import { ConcurrencyConflict } from '../errors/index.js';
import { tableClientFromSettings } from '../azure/index.js';
import { tableCreator } from '../azure/index.js';
import type { z } from 'zod';
import type { Actor as ActorSchema } from '../api/index.js';
import type { Environment } from '../config/index.js';

export const TENANTS_TABLE = 'tenants';
export const WRITEBACK_ROW_KEY = 'writeback';

/**
 * `provisioning`: an enable started and has not finished (a retried PUT completes it);
 * `enabled`: operations are accepted; `disabling`: a disable started (operations are already refused);
 * `disabled`: the agent's queues and rules are gone and its keys disabled.
 */
export type WritebackState = 'provisioning' | 'enabled' | 'disabling' | 'disabled';

export type Actor = z.infer<typeof ActorSchema>;

/** Which of a SAS rule's two keys: the agent uses one, a rollover regenerates the other. */
export type SasKeySlot = 'primary' | 'secondary';

/** A key version a rollover replaced: it stays enabled until its grace has passed, then is disabled. */
export interface ReplacedKey {
  /** Versioned key id. */
  keyId: string;
  replacedAt: string;
}

/** A SAS rollover waiting for the agent's acknowledgement. */
export interface PendingCredentials {
  /** The control message's operation id. */
  rolloverId: string;
  /** The slot regenerated for the agent; the other one is retired once the agent acknowledges. */
  slot: SasKeySlot;
  since: string;
  /** When the control message was last sent (absent: the keys may not be regenerated yet). */
  sentAt?: string;
  /**
   * The agents it was last sent to, one message in each one's own session (absent or empty: it went
   * to the request session). The old slot is retired once every agent still seen acknowledged.
   */
  agents?: string[];
  /** The agents that acknowledged so far. */
  acknowledgedBy?: string[];
}

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
  /** Creation and expiry of the current versions (Key Vault's attributes, as ISO strings). */
  encryptionKeyCreatedAt?: string;
  encryptionKeyExpiresAt?: string;
  signatureKeyCreatedAt?: string;
  signatureKeyExpiresAt?: string;
  /** Versions of either key replaced by a rollover and still enabled (in grace). */
  replacedKeys?: ReplacedKey[];
  /** A rollover under way: claimed by one instance so that two timers roll a tenant once. */
  rolling?: { rolloverId: string; since: string };
  /** The last completed rollover of the keys. */
  keysRolledAt?: string;
  /** The SAS key slot the agent's connection strings use (primary until the first SAS roll). */
  agentKeySlot?: SasKeySlot;
  credentialsRolledAt?: string;
  pendingCredentials?: PendingCredentials;
  /** When and by whom the current enablement completed (for `provisioning`: was asked for). */
  enabledAt?: string;
  enabledBy?: Actor;
  disabledAt?: string;
  disabledBy?: Actor;
  updatedAt: string;
}

/** Optional text columns stored exactly as the record holds them. */
const PLAIN_COLUMNS = [
  'encryptionKeyId',
  'signatureKeyId',
  'encryptionKeyCreatedAt',
  'encryptionKeyExpiresAt',
  'signatureKeyCreatedAt',
  'signatureKeyExpiresAt',
  'keysRolledAt',
  'credentialsRolledAt',
  'enabledAt',
  'disabledAt',
] as const satisfies readonly (keyof TenantRecord)[];
type PlainColumn = (typeof PLAIN_COLUMNS)[number];

/** The stored row: flat columns, as Table storage wants them (nested parts spelled out). */
interface TenantEntity
  extends
    Pick<TenantRecord, 'state' | 'requestQueue' | 'repliesQueue' | 'listenRule' | 'sendRule' | 'updatedAt'>,
    Partial<Record<PlainColumn, string>> {
  partitionKey: string;
  rowKey: string;
  /** JSON of ReplacedKey[] (a handful of entries at most). */
  replacedKeys?: string;
  rollingId?: string;
  rollingSince?: string;
  agentKeySlot?: SasKeySlot;
  pendingRolloverId?: string;
  pendingSlot?: SasKeySlot;
  pendingSince?: string;
  pendingSentAt?: string;
  /** JSON of PendingCredentials.agents and .acknowledgedBy (agent ids, a few at most). */
  pendingAgents?: string;
  pendingAcknowledgedBy?: string;
  enabledByObjectId?: string;
  enabledByUpn?: string;
  disabledByObjectId?: string;
  disabledByUpn?: string;
}

const STATES: readonly WritebackState[] = ['provisioning', 'enabled', 'disabling', 'disabled'];

/** A list of agent ids as a column (undefined when there is none). */
function jsonList(list: string[] | undefined): string | undefined {
  return list && list.length > 0 ? JSON.stringify(list) : undefined;
}

/** `{ [key]: ids }` from a column, or nothing when it is absent or not a list of strings. */
function listOf<K extends string>(key: K, column: string | undefined): Partial<Record<K, string[]>> {
  if (!column) return {};
  try {
    const list: unknown = JSON.parse(column);
    if (Array.isArray(list) && list.every((id) => typeof id === 'string')) {
      return { [key]: list } as Record<K, string[]>;
    }
  } catch {
    // A column that does not parse counts as absent.
  }
  return {};
}

function toEntity(record: TenantRecord): TenantEntity {
  const optional = <K extends string>(key: K, value: string | undefined) =>
    value === undefined ? {} : ({ [key]: value } as Record<K, string>);
  const entity: TenantEntity = {
    partitionKey: record.tenantId,
    rowKey: WRITEBACK_ROW_KEY,
    state: record.state,
    requestQueue: record.requestQueue,
    repliesQueue: record.repliesQueue,
    listenRule: record.listenRule,
    sendRule: record.sendRule,
    ...optional(
      'replacedKeys',
      record.replacedKeys?.length ? JSON.stringify(record.replacedKeys) : undefined,
    ),
    ...optional('rollingId', record.rolling?.rolloverId),
    ...optional('rollingSince', record.rolling?.since),
    ...(record.agentKeySlot ? { agentKeySlot: record.agentKeySlot } : {}),
    ...optional('pendingRolloverId', record.pendingCredentials?.rolloverId),
    ...(record.pendingCredentials ? { pendingSlot: record.pendingCredentials.slot } : {}),
    ...optional('pendingSince', record.pendingCredentials?.since),
    ...optional('pendingSentAt', record.pendingCredentials?.sentAt),
    ...optional('pendingAgents', jsonList(record.pendingCredentials?.agents)),
    ...optional('pendingAcknowledgedBy', jsonList(record.pendingCredentials?.acknowledgedBy)),
    ...optional('enabledByObjectId', record.enabledBy?.objectId),
    ...optional('enabledByUpn', record.enabledBy?.upn),
    ...optional('disabledByObjectId', record.disabledBy?.objectId),
    ...optional('disabledByUpn', record.disabledBy?.upn),
    updatedAt: record.updatedAt,
  };
  for (const column of PLAIN_COLUMNS) {
    const value = record[column];
    if (value !== undefined) entity[column] = value;
  }
  return entity;
}

function actorOf(objectId: string | undefined, upn: string | undefined): Actor | undefined {
  return objectId === undefined ? undefined : { objectId, ...(upn ? { upn } : {}) };
}

function parseReplacedKeys(json: string): ReplacedKey[] {
  const parsed = JSON.parse(json) as unknown;
  if (!Array.isArray(parsed)) throw new Error('tenants row has malformed replacedKeys');
  return parsed.filter(
    (item): item is ReplacedKey =>
      typeof (item as ReplacedKey)?.keyId === 'string' &&
      typeof (item as ReplacedKey)?.replacedAt === 'string',
  );
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
  for (const column of PLAIN_COLUMNS) {
    const value = entity[column];
    if (value) record[column] = value;
  }
  if (entity.replacedKeys) record.replacedKeys = parseReplacedKeys(entity.replacedKeys);
  if (entity.rollingId && entity.rollingSince) {
    record.rolling = { rolloverId: entity.rollingId, since: entity.rollingSince };
  }
  if (entity.agentKeySlot === 'primary' || entity.agentKeySlot === 'secondary') {
    record.agentKeySlot = entity.agentKeySlot;
  }
  if (
    entity.pendingRolloverId &&
    entity.pendingSince &&
    (entity.pendingSlot === 'primary' || entity.pendingSlot === 'secondary')
  ) {
    record.pendingCredentials = {
      rolloverId: entity.pendingRolloverId,
      slot: entity.pendingSlot,
      since: entity.pendingSince,
      ...(entity.pendingSentAt ? { sentAt: entity.pendingSentAt } : {}),
      ...listOf('agents', entity.pendingAgents),
      ...listOf('acknowledgedBy', entity.pendingAcknowledgedBy),
    };
  }
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

/**
 * How long an instance reuses an enabled tenant's row on the hot paths (`recent`). A change made
 * elsewhere is seen that much later at most: a disable, by a send that fails (the queue is gone, the
 * caller gets 503 "not sent", the next call 409); a key rollover, by nothing at all (the replaced
 * versions stay usable through their grace, and a reply signed with a version the cached row does not
 * know reads the row again before it is refused).
 */
export const TENANT_ROW_CACHE_MS = 10_000;

/** Enabled rows read for the hot paths, per process, by table and tenant (shared by every registry). */
const recentRows = new Map<string, { at: number; stored: StoredTenant }>();

export class TenantRegistry {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ensureTable = tableCreator(table);
  }

  private cacheKey(tenantId: string): string {
    return `${this.table.url}|${tenantId}`;
  }

  /**
   * The tenant's row as of at most TENANT_ROW_CACHE_MS ago when it was enabled then, else as it is now:
   * for the password routes and the replies, which read it on every call. Anything deciding on a change
   * of the row reads it with `get`.
   */
  async recent(tenantId: string, now = Date.now()): Promise<StoredTenant | undefined> {
    const key = this.cacheKey(tenantId);
    const cached = recentRows.get(key);
    if (cached && now - cached.at < TENANT_ROW_CACHE_MS) return cached.stored;
    const stored = await this.get(tenantId);
    if (stored?.record.state === 'enabled') recentRows.set(key, { at: now, stored });
    else recentRows.delete(key);
    return stored;
  }

  /** Forgets the cached row of `tenantId` (a write here, or a sign that it changed elsewhere). */
  forget(tenantId: string): void {
    recentRows.delete(this.cacheKey(tenantId));
  }

  static fromSettings(env: Environment = process.env): TenantRegistry {
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

  /** Every tenant's row (for the rollover timer), read in pages of the table's own size. */
  async *listAll(): AsyncIterable<StoredTenant> {
    await this.ensureTable();
    const rows = this.table.listEntities<TenantEntity>({
      queryOptions: { filter: odata`RowKey eq ${WRITEBACK_ROW_KEY}` },
    });
    for await (const entity of rows) yield { record: fromEntity(entity), etag: entity.etag };
  }

  /** Inserts the first row of a tenant; TenantRowConflict if one appeared meanwhile. */
  async create(record: TenantRecord): Promise<StoredTenant> {
    await this.ensureTable();
    this.forget(record.tenantId);
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
    this.forget(record.tenantId);
    try {
      const response = await this.table.updateEntity(toEntity(record), 'Replace', { etag });
      return { record, etag: response.etag ?? '*' };
    } catch (error) {
      if (statusOf(error) === 412 || statusOf(error) === 404) throw new TenantRowConflict();
      throw error;
    }
  }
}
