/**
 * A tenant's Service Bus entities (docs/wire.md), provisioned idempotently through the official
 * ServiceBusAdministrationClient: every step reads what exists and only creates or corrects what
 * differs, so a retried enable resumes where a failed one stopped, and never rotates a SAS key that
 * already exists.
 */
import type {
  AuthorizationRule,
  CreateQueueOptions,
  QueueProperties,
  ServiceBusAdministrationClient,
} from '@azure/service-bus';
import { randomBytes } from 'node:crypto';
import { SHARED_REPLIES_QUEUE } from '../wire/index.js';
import { msToIsoDuration } from '../domain/index.js';

/** Service Bus SAS keys: 32 random bytes, base64 (44 characters), as the service makes them. */
export function newSasKey(): string {
  return randomBytes(32).toString('base64');
}

/** The agent's SAS rules: exactly one right each. */
export const AGENT_LISTEN_RULE = 'writeback-agent-listen';
export const AGENT_SEND_RULE = 'writeback-agent-send';

/** Queue properties the pipeline sets; anything else is left at the namespace's defaults. */
type QueueSettings = Pick<
  CreateQueueOptions,
  | 'lockDuration'
  | 'maxDeliveryCount'
  | 'defaultMessageTimeToLive'
  | 'deadLetteringOnMessageExpiration'
  | 'forwardTo'
  | 'requiresSession'
>;

/**
 * The request queue `writeback-{t}`: requests live for the configured TTL. A session queue: every
 * message is in the one request session, whose lock makes one of the tenant's agents the active one
 * and whose state holds their shared exactly-once record. lockDuration 1 minute: it is also the
 * session lock's, so a standby takes over at most a minute after the active agent's machine went
 * silent (at once when its process died: the broker sees the connection close). maxDeliveryCount 5:
 * the agent deduplicates by operationId, so redeliveries are safe but a poison message must not loop.
 * Expired requests are not dead-lettered: they hold an (encrypted) password and nothing reads the
 * dead-letter queue; the operation's expiry is recorded by the cloud side.
 */
export function requestQueueSettings(messageTtlMs: number): QueueSettings {
  return {
    lockDuration: 'PT1M',
    maxDeliveryCount: 5,
    defaultMessageTimeToLive: msToIsoDuration(messageTtlMs),
    deadLetteringOnMessageExpiration: false,
    requiresSession: true,
  };
}

/** The replies queue `writeback-{t}-replies`: only forwards into the shared queue (nobody receives from it). */
export function repliesQueueSettings(): QueueSettings {
  return {
    lockDuration: 'PT30S',
    maxDeliveryCount: 10,
    defaultMessageTimeToLive: 'P1D',
    deadLetteringOnMessageExpiration: false,
    forwardTo: SHARED_REPLIES_QUEUE,
    requiresSession: false,
  };
}

/** The shared `writeback-replies`, read by the result-correlation function. */
export function sharedRepliesQueueSettings(): QueueSettings {
  return {
    lockDuration: 'PT30S',
    maxDeliveryCount: 10,
    defaultMessageTimeToLive: 'P1D',
    deadLetteringOnMessageExpiration: false,
    requiresSession: false,
  };
}

/** Service Bus answers "not found" and "already exists" with RestErrors (compared by name: the SDK bundles its own copy). */
function httpStatusOf(error: unknown): number | undefined {
  const rest = error as { name?: string; statusCode?: number } | undefined;
  return rest?.name === 'RestError' ? rest.statusCode : undefined;
}

/** The forwardTo the service reports is a full URL (`sb://host/name`); compare names only. */
function entityName(target: string | undefined): string | undefined {
  if (!target) return undefined;
  return (
    target
      .replace(/^[a-z]+:\/\/[^/]+/i, '')
      .replace(/^\/+|\/+$/g, '')
      .toLowerCase() || undefined
  );
}

function sameRights(rule: AuthorizationRule, rights: readonly string[]): boolean {
  const actual = [...(rule.accessRights ?? [])].sort();
  return actual.length === rights.length && [...rights].sort().every((r, i) => r === actual[i]);
}

/**
 * The rule list a queue must have: exactly the agent's one rule. An existing rule of that name with
 * the right rights is kept with its keys (a second enable must not rotate them); anything else goes.
 */
function wantedRules(
  existing: readonly AuthorizationRule[] | undefined,
  ruleName: string | undefined,
  rights: ('Listen' | 'Send')[],
): AuthorizationRule[] {
  if (!ruleName) return [];
  const kept = existing?.find((r) => r.keyName === ruleName && sameRights(r, rights));
  // A new rule gets both keys from us: Service Bus requires PrimaryKey in a rule it is sent (the
  // .NET SDKs generate keys on the client too); the agent starts on the primary key.
  return [
    kept ?? {
      claimType: 'SharedAccessKey',
      keyName: ruleName,
      accessRights: rights,
      primaryKey: newSasKey(),
      secondaryKey: newSasKey(),
    },
  ];
}

function differs(queue: QueueProperties, settings: QueueSettings, rules: AuthorizationRule[]): boolean {
  // Durations are compared as the service reports them: a different spelling costs one harmless update.
  return (
    queue.lockDuration !== settings.lockDuration ||
    queue.maxDeliveryCount !== settings.maxDeliveryCount ||
    queue.defaultMessageTimeToLive !== settings.defaultMessageTimeToLive ||
    queue.deadLetteringOnMessageExpiration !== settings.deadLetteringOnMessageExpiration ||
    entityName(queue.forwardTo) !== entityName(settings.forwardTo) ||
    (queue.authorizationRules ?? []).length !== rules.length ||
    rules.some(
      (rule) =>
        !(queue.authorizationRules ?? []).some(
          (r) => r.keyName === rule.keyName && r.primaryKey === rule.primaryKey,
        ),
    )
  );
}

export interface EnsuredQueue {
  name: string;
  /** The agent's rule on it, with its keys (as the service reports them to a Manage caller). */
  rule: AuthorizationRule | undefined;
}

/**
 * Creates `name` with `settings` and the agent's rule, or brings an existing queue to them. A queue
 * created meanwhile by a concurrent enable (409) is read and corrected like any existing one.
 */
export async function ensureQueue(
  admin: ServiceBusAdministrationClient,
  name: string,
  settings: QueueSettings,
  agentRule?: { name: string; rights: ('Listen' | 'Send')[] },
): Promise<EnsuredQueue> {
  const ruleOf = (queue: QueueProperties) =>
    agentRule ? queue.authorizationRules?.find((r) => r.keyName === agentRule.name) : undefined;
  // updateQueue takes the whole description as getQueue answered it (with its response).
  let existing: Awaited<ReturnType<ServiceBusAdministrationClient['getQueue']>> | undefined;
  try {
    existing = await admin.getQueue(name);
  } catch (error) {
    if (httpStatusOf(error) !== 404) throw error;
  }
  if (!existing) {
    try {
      const created = await admin.createQueue(name, {
        ...settings,
        authorizationRules: wantedRules(undefined, agentRule?.name, agentRule?.rights ?? []),
      });
      return { name, rule: ruleOf(created) };
    } catch (error) {
      if (httpStatusOf(error) !== 409) throw error;
      existing = await admin.getQueue(name);
    }
  }
  const rules = wantedRules(existing.authorizationRules, agentRule?.name, agentRule?.rights ?? []);
  if ((existing.requiresSession ?? false) !== (settings.requiresSession ?? false)) {
    // Service Bus cannot change requiresSession on an existing queue (a leftover of an enable made
    // before request queues had sessions): make it again, with the same rule and keys.
    await admin.deleteQueue(name);
    const created = await admin.createQueue(name, { ...settings, authorizationRules: rules });
    return { name, rule: ruleOf(created) };
  }
  if (!differs(existing, settings, rules)) return { name, rule: ruleOf(existing) };
  const updated = await admin.updateQueue({ ...existing, ...settings, authorizationRules: rules });
  return { name, rule: ruleOf(updated) };
}

/** Deletes a queue, and with it its rules; a queue that is already gone is fine. */
export async function deleteQueueIfExists(
  admin: ServiceBusAdministrationClient,
  name: string,
): Promise<void> {
  try {
    await admin.deleteQueue(name);
  } catch (error) {
    if (httpStatusOf(error) !== 404) throw error;
  }
}
