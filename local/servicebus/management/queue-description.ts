/**
 * `QueueDescription` of the management API (api-version 2021-05) to and from the emulator's queue
 * properties, including shared access rules and the runtime counts that GET returns with it.
 */
import type { AccessRight, AuthorizationRule } from '../auth/sas.js';
import type { QueueEntity } from '../entities/queue.js';
import {
  ENTITY_STATUSES,
  InvalidQueuePropertyError,
  type QueueProperties,
} from '../entities/queue-properties.js';
import { formatDuration, parseDuration } from './durations.js';
import { element, parent } from './xml.js';

const ACCESS_RIGHTS: readonly AccessRight[] = ['Manage', 'Send', 'Listen'];
const SERVICEBUS_NS = 'http://schemas.microsoft.com/netservices/2010/10/servicebus/connect';
const INSTANCE_NS = 'http://www.w3.org/2001/XMLSchema-instance';
const COUNT_NS = 'http://schemas.microsoft.com/netservices/2011/06/servicebus';

type Raw = Record<string, unknown>;

function text(raw: Raw, key: string): string | undefined {
  const value = raw[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'object') {
    const inner = (value as Raw)._;
    return inner === undefined ? undefined : String(inner);
  }
  return String(value);
}

function bool(raw: Raw, key: string, fallback: boolean): boolean {
  const value = text(raw, key);
  if (value === undefined) return fallback;
  if (value !== 'true' && value !== 'false')
    throw new InvalidQueuePropertyError(`${key} must be true or false`);
  return value === 'true';
}

function int(raw: Raw, key: string, fallback: number): number {
  const value = text(raw, key);
  if (value === undefined) return fallback;
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidQueuePropertyError(`${key} must be an integer`);
  return Number(value);
}

function duration(raw: Raw, key: string, fallback: number): number {
  const value = text(raw, key);
  if (value === undefined) return fallback;
  try {
    return parseDuration(value, key);
  } catch (error) {
    throw new InvalidQueuePropertyError((error as Error).message);
  }
}

/** A forwarding target given as a name or as `sb://host/name`: the queue name. */
export function entityNameOf(target: string | undefined): string | undefined {
  if (!target?.trim()) return undefined;
  const withoutHost = target.trim().replace(/^[a-z]+:\/\/[^/]+/i, '');
  return withoutHost.replace(/^\/+|\/+$/g, '') || undefined;
}

/** Service Bus takes SAS keys of exactly 44 ASCII characters of base64 (a 32-byte key is 44). */
const SAS_KEY = /^(?=.{44}$)[A-Za-z0-9+/]+={0,2}$/;
const MAX_KEY_NAME_LENGTH = 256;

/**
 * A rule's key as the request gives it. Service Bus stores the keys it is sent and never makes one up:
 * the PrimaryKey is required (the official SDKs generate keys on the client when a rule is built
 * without them), a SecondaryKey is optional and a rule sent without one has none afterwards. So an
 * update that echoes the keys getQueue returned keeps them, and one that leaves a key out does not
 * quietly get a new one.
 */
function ruleKey(item: Raw, field: 'PrimaryKey' | 'SecondaryKey', keyName: string): string | undefined {
  const value = text(item, field);
  if (value === undefined || value.trim() === '') {
    if (field === 'PrimaryKey') {
      throw new InvalidQueuePropertyError(
        `SharedAccessAuthorizationRule '${keyName}' requires a PrimaryKey: Service Bus does not generate keys.`,
      );
    }
    return undefined;
  }
  if (!SAS_KEY.test(value)) {
    throw new InvalidQueuePropertyError(
      `SharedAccessAuthorizationRule '${keyName}': ${field} must be 44 characters of base64, as a 32-byte key is.`,
    );
  }
  return value;
}

function parseRules(raw: unknown): AuthorizationRule[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'string') return [];
  const list = (raw as Raw).AuthorizationRule;
  const items = (Array.isArray(list) ? list : list === undefined ? [] : [list]) as Raw[];
  return items.map((item) => {
    const keyName = text(item, 'KeyName');
    if (!keyName) throw new InvalidQueuePropertyError('AuthorizationRule.KeyName is required');
    if (keyName.length > MAX_KEY_NAME_LENGTH || !/^[A-Za-z0-9._*()!-]+$/.test(keyName)) {
      throw new InvalidQueuePropertyError(
        `AuthorizationRule.KeyName '${keyName}' must be at most 256 letters, digits and . _ - * ( ) !`,
      );
    }
    const rightsRaw = ((item.Rights ?? {}) as Raw).AccessRights;
    const rights = (Array.isArray(rightsRaw) ? rightsRaw : rightsRaw === undefined ? [] : [rightsRaw]).map(
      String,
    );
    for (const right of rights) {
      if (!ACCESS_RIGHTS.includes(right as AccessRight)) {
        throw new InvalidQueuePropertyError(
          `AccessRights '${right}' is not one of ${ACCESS_RIGHTS.join(', ')}`,
        );
      }
    }
    if (rights.includes('Manage') && !(rights.includes('Send') && rights.includes('Listen'))) {
      throw new InvalidQueuePropertyError('A rule with Manage rights must also have Send and Listen');
    }
    const primaryKey = ruleKey(item, 'PrimaryKey', keyName)!;
    const secondaryKey = ruleKey(item, 'SecondaryKey', keyName);
    return {
      keyName,
      primaryKey,
      ...(secondaryKey !== undefined ? { secondaryKey } : {}),
      rights: rights as AccessRight[],
    };
  });
}

/** Apply the fields present in a request's QueueDescription on top of `base`. */
export function queuePropertiesFromXml(raw: Raw, base: QueueProperties): QueueProperties {
  const status = text(raw, 'Status');
  if (status !== undefined && !ENTITY_STATUSES.includes(status as QueueProperties['status'])) {
    throw new InvalidQueuePropertyError(`Status must be one of ${ENTITY_STATUSES.join(', ')}`);
  }
  const forwardTo = text(raw, 'ForwardTo');
  const forwardDead = text(raw, 'ForwardDeadLetteredMessagesTo');
  return {
    lockDurationMs: duration(raw, 'LockDuration', base.lockDurationMs),
    maxSizeInMegabytes: int(raw, 'MaxSizeInMegabytes', base.maxSizeInMegabytes),
    requiresDuplicateDetection: bool(raw, 'RequiresDuplicateDetection', base.requiresDuplicateDetection),
    requiresSession: bool(raw, 'RequiresSession', base.requiresSession),
    defaultMessageTimeToLiveMs: duration(raw, 'DefaultMessageTimeToLive', base.defaultMessageTimeToLiveMs),
    deadLetteringOnMessageExpiration: bool(
      raw,
      'DeadLetteringOnMessageExpiration',
      base.deadLetteringOnMessageExpiration,
    ),
    duplicateDetectionHistoryTimeWindowMs: duration(
      raw,
      'DuplicateDetectionHistoryTimeWindow',
      base.duplicateDetectionHistoryTimeWindowMs,
    ),
    maxDeliveryCount: int(raw, 'MaxDeliveryCount', base.maxDeliveryCount),
    enableBatchedOperations: bool(raw, 'EnableBatchedOperations', base.enableBatchedOperations),
    status: (status as QueueProperties['status'] | undefined) ?? base.status,
    forwardTo: forwardTo === undefined ? base.forwardTo : entityNameOf(forwardTo),
    forwardDeadLetteredMessagesTo:
      forwardDead === undefined ? base.forwardDeadLetteredMessagesTo : entityNameOf(forwardDead),
    userMetadata: text(raw, 'UserMetadata') ?? base.userMetadata,
    autoDeleteOnIdleMs: duration(raw, 'AutoDeleteOnIdle', base.autoDeleteOnIdleMs),
    enablePartitioning: bool(raw, 'EnablePartitioning', base.enablePartitioning),
    enableExpress: bool(raw, 'EnableExpress', base.enableExpress),
    maxMessageSizeInKilobytes: int(raw, 'MaxMessageSizeInKilobytes', base.maxMessageSizeInKilobytes),
    authorizationRules: parseRules(raw.AuthorizationRules) ?? base.authorizationRules,
  };
}

function rulesXml(rules: readonly AuthorizationRule[], at: string): string {
  return parent(
    'AuthorizationRules',
    rules.map((rule) =>
      parent(
        'AuthorizationRule',
        [
          element('ClaimType', 'SharedAccessKey'),
          element('ClaimValue', 'None'),
          parent(
            'Rights',
            rule.rights.map((right) => element('AccessRights', right)),
          ),
          element('CreatedTime', at),
          element('ModifiedTime', at),
          element('KeyName', rule.keyName),
          element('PrimaryKey', rule.primaryKey),
          element('SecondaryKey', rule.secondaryKey),
        ],
        ' i:type="SharedAccessAuthorizationRule"',
      ),
    ),
  );
}

/** The QueueDescription element of a GET or PUT response; `endpoint` is `sb://host:port/`. */
export function queueDescriptionXml(queue: QueueEntity, endpoint: string): string {
  const p = queue.properties;
  const counts = queue.runtimeCounts();
  const forward = (name: string | undefined) => (name ? `${endpoint}${name}` : undefined);
  return parent(
    'QueueDescription',
    [
      element('LockDuration', formatDuration(p.lockDurationMs)),
      element('MaxSizeInMegabytes', p.maxSizeInMegabytes),
      element('RequiresDuplicateDetection', p.requiresDuplicateDetection),
      element('RequiresSession', p.requiresSession),
      element('DefaultMessageTimeToLive', formatDuration(p.defaultMessageTimeToLiveMs)),
      element('DeadLetteringOnMessageExpiration', p.deadLetteringOnMessageExpiration),
      element('DuplicateDetectionHistoryTimeWindow', formatDuration(p.duplicateDetectionHistoryTimeWindowMs)),
      element('MaxDeliveryCount', p.maxDeliveryCount),
      element('EnableBatchedOperations', p.enableBatchedOperations),
      element('SizeInBytes', counts.sizeInBytes),
      element('MessageCount', counts.totalMessageCount),
      element('IsAnonymousAccessible', false),
      rulesXml(p.authorizationRules, queue.createdAt.toISOString()),
      element('Status', p.status),
      element('ForwardTo', forward(p.forwardTo)),
      element('UserMetadata', p.userMetadata),
      element('CreatedAt', queue.createdAt.toISOString()),
      element('UpdatedAt', queue.updatedAt.toISOString()),
      element('AccessedAt', queue.accessedAt.toISOString()),
      element('SupportOrdering', true),
      parent(
        'CountDetails',
        [
          element('d2p1:ActiveMessageCount', counts.activeMessageCount),
          element('d2p1:DeadLetterMessageCount', counts.deadLetterMessageCount),
          element('d2p1:ScheduledMessageCount', counts.scheduledMessageCount),
          element('d2p1:TransferMessageCount', 0),
          element('d2p1:TransferDeadLetterMessageCount', 0),
        ],
        ` xmlns:d2p1="${COUNT_NS}"`,
      ),
      element('AutoDeleteOnIdle', formatDuration(p.autoDeleteOnIdleMs)),
      element('EnablePartitioning', p.enablePartitioning),
      element('EntityAvailabilityStatus', 'Available'),
      element('ForwardDeadLetteredMessagesTo', forward(p.forwardDeadLetteredMessagesTo)),
      element('EnableExpress', p.enableExpress),
      element('MaxMessageSizeInKilobytes', p.maxMessageSizeInKilobytes),
    ],
    ` xmlns="${SERVICEBUS_NS}" xmlns:i="${INSTANCE_NS}"`,
  );
}
