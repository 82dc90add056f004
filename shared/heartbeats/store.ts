/**
 * The `heartbeats` table (docs/state.md): one row per tenant and agent, PartitionKey = tenant id,
 * RowKey = agent id. A row holds the agent's last verified heartbeat: its signed `now` (not the time
 * it was received), version, startedAt, state and the directory's password policy. Rows only move
 * forward: a heartbeat older than (or as old as) the stored one changes nothing, settled by the row's
 * ETag so that two instances handling two heartbeats at once cannot put an older one last.
 */
import { RestError, type TableClient } from '@azure/data-tables';
import { tableClientFromSettings } from '../azure/index.js';
import { tableCreator } from '../azure/index.js';
import type { DirectoryPolicy } from '../domain/index.js';
import type { AgentState, HeartbeatReply } from '../wire/index.js';
import type { Environment } from '../config/index.js';

export const HEARTBEATS_TABLE = 'heartbeats';

/** One agent's last heartbeat, as stored. */
export interface HeartbeatRecord {
  tenantId: string;
  agentId: string;
  agentVersion: string;
  startedAt: Date;
  /** The heartbeat's signed `now`. */
  lastHeartbeatAt: Date;
  state: AgentState;
  policy: DirectoryPolicy;
  /** The versioned signature key id that signed it. */
  keyId: string;
  /** When the cloud recorded it (its own clock, unlike `lastHeartbeatAt`). */
  receivedAt?: Date;
}

interface HeartbeatEntity {
  partitionKey: string;
  rowKey: string;
  agentVersion: string;
  startedAt: string;
  lastHeartbeatAt: string;
  state: AgentState;
  minLength: number;
  complexity: boolean;
  historyLength: number;
  minimumAgeSeconds: number;
  lockoutThreshold: number;
  keyId: string;
  receivedAt: string;
}

/** `recorded`: the row now holds this heartbeat; `older`: the row already held a newer (or the same) one. */
export type HeartbeatWrite = 'recorded' | 'older';

const MAX_ATTEMPTS = 5;

function statusOf(error: unknown): number | undefined {
  return error instanceof RestError ? error.statusCode : undefined;
}

function toEntity(record: HeartbeatRecord, receivedAt: Date): HeartbeatEntity {
  return {
    partitionKey: record.tenantId,
    rowKey: record.agentId,
    agentVersion: record.agentVersion,
    startedAt: record.startedAt.toISOString(),
    lastHeartbeatAt: record.lastHeartbeatAt.toISOString(),
    state: record.state,
    minLength: record.policy.minLength,
    complexity: record.policy.complexity,
    historyLength: record.policy.historyLength,
    minimumAgeSeconds: record.policy.minimumAgeSeconds,
    lockoutThreshold: record.policy.lockoutThreshold,
    keyId: record.keyId,
    receivedAt: receivedAt.toISOString(),
  };
}

function fromEntity(entity: HeartbeatEntity): HeartbeatRecord {
  return {
    tenantId: entity.partitionKey,
    agentId: entity.rowKey,
    agentVersion: entity.agentVersion,
    startedAt: new Date(entity.startedAt),
    lastHeartbeatAt: new Date(entity.lastHeartbeatAt),
    state: entity.state === 'going-offline' || entity.state === 'standby' ? entity.state : 'online',
    policy: {
      minLength: entity.minLength,
      complexity: entity.complexity,
      historyLength: entity.historyLength,
      minimumAgeSeconds: entity.minimumAgeSeconds,
      lockoutThreshold: entity.lockoutThreshold,
    },
    keyId: entity.keyId,
    receivedAt: new Date(entity.receivedAt),
  };
}

export class HeartbeatStore {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ensureTable = tableCreator(table);
  }

  static fromSettings(env: Environment = process.env): HeartbeatStore {
    return new HeartbeatStore(tableClientFromSettings(HEARTBEATS_TABLE, 'AzureWebJobsStorage', env));
  }

  /** Records a verified heartbeat unless the agent's row already holds a newer one. */
  async record(
    heartbeat: HeartbeatReply,
    keyId: string,
    receivedAt: Date = new Date(),
  ): Promise<HeartbeatWrite> {
    await this.ensureTable();
    const entity = toEntity(
      {
        tenantId: heartbeat.tenantId,
        agentId: heartbeat.agentId,
        agentVersion: heartbeat.agentVersion,
        startedAt: heartbeat.startedAt,
        lastHeartbeatAt: heartbeat.now,
        state: heartbeat.state,
        policy: heartbeat.policy,
        keyId,
      },
      receivedAt,
    );
    for (let attempt = 1; ; attempt++) {
      let stored: (HeartbeatEntity & { etag: string }) | undefined;
      try {
        stored = await this.table.getEntity<HeartbeatEntity>(entity.partitionKey, entity.rowKey);
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
      }
      try {
        if (!stored) {
          await this.table.createEntity(entity);
          return 'recorded';
        }
        if (new Date(stored.lastHeartbeatAt).getTime() >= heartbeat.now.getTime()) return 'older';
        await this.table.updateEntity(entity, 'Replace', { etag: stored.etag });
        return 'recorded';
      } catch (error) {
        // Another instance wrote the row between our read and our write: read it again and compare.
        const status = statusOf(error);
        if ((status === 409 || status === 412) && attempt < MAX_ATTEMPTS) continue;
        throw error;
      }
    }
  }

  /** Every agent row of the tenant (one partition query). */
  async list(tenantId: string): Promise<HeartbeatRecord[]> {
    await this.ensureTable();
    const rows: HeartbeatRecord[] = [];
    const escaped = tenantId.replaceAll("'", "''");
    for await (const entity of this.table.listEntities<HeartbeatEntity>({
      queryOptions: { filter: `PartitionKey eq '${escaped}'` },
    })) {
      rows.push(fromEntity(entity));
    }
    return rows;
  }
}
