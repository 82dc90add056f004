/** What the API shows of a tenant's rollover: versions, grace, the next roll and whether it is late. */
import type { z } from 'zod';
import type {
  AgentCredentialsView as AgentCredentialsSchema,
  KeyRolloverView as KeyRolloverSchema,
} from '../api/index.js';
import type { TenantRecord } from './tenant-registry.js';
import { parseKeyId } from '../wire/index.js';
import { inGrace, nextRolloverAt, OVERDUE_AFTER_MS, type RolloverPolicy } from './rollover-policy.js';

export type KeyRolloverView = z.infer<typeof KeyRolloverSchema>;
export type AgentCredentialsView = z.infer<typeof AgentCredentialsSchema>;
export type RolloverState = KeyRolloverView['state'];

function keyNameOf(keyId: string): string | undefined {
  try {
    return parseKeyId(keyId).name;
  } catch {
    return undefined;
  }
}

export function keysState(record: TenantRecord, policy: RolloverPolicy, now: Date): RolloverState {
  const next = nextRolloverAt(record, policy.periodMs);
  if (next && now.getTime() - next.getTime() > OVERDUE_AFTER_MS) return 'overdue';
  return record.rolling ? 'rolling' : 'current';
}

export function credentialsState(record: TenantRecord, policy: RolloverPolicy, now: Date): RolloverState {
  const pending = record.pendingCredentials;
  if (!pending) return 'current';
  return now.getTime() - Date.parse(pending.since) > policy.credentialsOverdueMs ? 'overdue' : 'rolling';
}

/** The `keys` and `agentCredentials` parts of GET …/writeback (an enabled tenant). */
export function rolloverView(
  record: TenantRecord,
  policy: RolloverPolicy,
  now: Date,
): { keys?: KeyRolloverView; agentCredentials: AgentCredentialsView } {
  const replaced = inGrace(record, policy.graceMs, now);
  const versionView = (keyId: string | undefined, createdAt?: string, expiresAt?: string) => {
    const name = keyId ? keyNameOf(keyId) : undefined;
    return {
      keyId: keyId ?? '',
      ...(createdAt ? { createdAt } : {}),
      ...(expiresAt ? { expiresAt } : {}),
      replaced: replaced
        .filter((k) => name !== undefined && keyNameOf(k.keyId) === name)
        .map((k) => ({
          ...k,
          disableAfter: new Date(Date.parse(k.replacedAt) + policy.graceMs).toISOString(),
        })),
    };
  };
  const next = nextRolloverAt(record, policy.periodMs);
  const pending = record.pendingCredentials;
  return {
    ...(record.encryptionKeyId && record.signatureKeyId
      ? {
          keys: {
            encryption: versionView(
              record.encryptionKeyId,
              record.encryptionKeyCreatedAt,
              record.encryptionKeyExpiresAt,
            ),
            signature: versionView(
              record.signatureKeyId,
              record.signatureKeyCreatedAt,
              record.signatureKeyExpiresAt,
            ),
            nextRolloverAt: next?.toISOString() ?? null,
            ...(record.keysRolledAt ? { lastRolledAt: record.keysRolledAt } : {}),
            state: keysState(record, policy, now),
          },
        }
      : {}),
    agentCredentials: {
      keySlot: record.agentKeySlot ?? 'primary',
      ...(record.credentialsRolledAt ? { rolledAt: record.credentialsRolledAt } : {}),
      ...(pending
        ? {
            pending: {
              rolloverId: pending.rolloverId,
              since: pending.since,
              ...(pending.sentAt ? { sentAt: pending.sentAt } : {}),
              ...(pending.agents?.length ? { agents: pending.agents } : {}),
              ...(pending.acknowledgedBy?.length ? { acknowledgedBy: pending.acknowledgedBy } : {}),
            },
          }
        : {}),
      state: credentialsState(record, policy, now),
    },
  };
}
