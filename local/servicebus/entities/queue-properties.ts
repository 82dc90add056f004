/**
 * A queue's description: the properties Service Bus lets you set, with its defaults and limits.
 * Durations are milliseconds here; the management API and Config.json speak ISO-8601.
 */
import type { AuthorizationRule } from '../auth/sas.js';

export type EntityStatus = 'Active' | 'Disabled' | 'SendDisabled' | 'ReceiveDisabled';

export const ENTITY_STATUSES: readonly EntityStatus[] = [
  'Active',
  'Disabled',
  'SendDisabled',
  'ReceiveDisabled',
];

export interface QueueProperties {
  lockDurationMs: number;
  maxSizeInMegabytes: number;
  requiresDuplicateDetection: boolean;
  requiresSession: boolean;
  defaultMessageTimeToLiveMs: number;
  deadLetteringOnMessageExpiration: boolean;
  duplicateDetectionHistoryTimeWindowMs: number;
  maxDeliveryCount: number;
  enableBatchedOperations: boolean;
  status: EntityStatus;
  forwardTo: string | undefined;
  forwardDeadLetteredMessagesTo: string | undefined;
  userMetadata: string | undefined;
  autoDeleteOnIdleMs: number;
  enablePartitioning: boolean;
  enableExpress: boolean;
  maxMessageSizeInKilobytes: number;
  authorizationRules: AuthorizationRule[];
}

/** TimeSpan.MaxValue, which Service Bus uses for "never". */
export const MAX_DURATION_MS = 922_337_203_685_477;

export const MAX_MESSAGE_SIZE_BYTES = 256 * 1024;

export function defaultQueueProperties(): QueueProperties {
  return {
    lockDurationMs: 60_000,
    maxSizeInMegabytes: 1024,
    requiresDuplicateDetection: false,
    requiresSession: false,
    defaultMessageTimeToLiveMs: MAX_DURATION_MS,
    deadLetteringOnMessageExpiration: false,
    duplicateDetectionHistoryTimeWindowMs: 10 * 60_000,
    maxDeliveryCount: 10,
    enableBatchedOperations: true,
    status: 'Active',
    forwardTo: undefined,
    forwardDeadLetteredMessagesTo: undefined,
    userMetadata: undefined,
    autoDeleteOnIdleMs: MAX_DURATION_MS,
    enablePartitioning: false,
    enableExpress: false,
    maxMessageSizeInKilobytes: 256,
    authorizationRules: [],
  };
}

export class InvalidQueuePropertyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidQueuePropertyError';
  }
}

/** Check the limits Service Bus enforces; throws InvalidQueuePropertyError naming the property. */
export function validateQueueProperties(p: QueueProperties): void {
  const fail = (message: string): never => {
    throw new InvalidQueuePropertyError(message);
  };
  if (!(p.lockDurationMs >= 1000 && p.lockDurationMs <= 5 * 60_000)) {
    // Service Bus allows 5 s to 5 min; the emulator accepts 1 s so that tests stay quick.
    fail('LockDuration must be between 1 second and 5 minutes');
  }
  if (!(p.maxDeliveryCount >= 1)) fail('MaxDeliveryCount must be at least 1');
  if (!(p.defaultMessageTimeToLiveMs >= 1000)) fail('DefaultMessageTimeToLive must be at least 1 second');
  if (!(
    p.duplicateDetectionHistoryTimeWindowMs >= 1000 &&
    p.duplicateDetectionHistoryTimeWindowMs <= 7 * 86_400_000
  )) {
    fail('DuplicateDetectionHistoryTimeWindow must be between 1 second and 7 days');
  }
  if (!(p.maxSizeInMegabytes >= 1 && p.maxSizeInMegabytes <= 81_920))
    fail('MaxSizeInMegabytes is out of range');
  if (!ENTITY_STATUSES.includes(p.status)) fail(`Status must be one of ${ENTITY_STATUSES.join(', ')}`);
}

/** Queue names as Service Bus accepts them (letters, digits, periods, hyphens, underscores, slashes). */
export function isValidQueueName(name: string): boolean {
  return (
    /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,258}[A-Za-z0-9_])?$/.test(name) &&
    !name.includes('//') &&
    !name.startsWith('$')
  );
}
