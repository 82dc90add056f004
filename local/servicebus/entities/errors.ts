/**
 * Errors of the broker, each carrying the AMQP error condition the SDK maps to a `ServiceBusError.code`
 * (core-amqp's ConditionErrorNameMapper): the AMQP layer sends the condition as it is.
 */
export const Condition = {
  notFound: 'amqp:not-found',
  unauthorized: 'amqp:unauthorized-access',
  detachForced: 'amqp:link:detach-forced',
  messageSizeExceeded: 'amqp:link:message-size-exceeded',
  resourceLimitExceeded: 'amqp:resource-limit-exceeded',
  entityDisabled: 'com.microsoft:entity-disabled',
  messageLockLost: 'com.microsoft:message-lock-lost',
  sessionLockLost: 'com.microsoft:session-lock-lost',
  sessionCannotBeLocked: 'com.microsoft:session-cannot-be-locked',
  messageNotFound: 'com.microsoft:message-not-found',
  argumentError: 'com.microsoft:argument-error',
  notAllowed: 'amqp:not-allowed',
  notImplemented: 'amqp:not-implemented',
  timeout: 'com.microsoft:timeout',
  internalError: 'amqp:internal-error',
  decodeError: 'amqp:decode-error',
} as const;

export type ConditionName = (typeof Condition)[keyof typeof Condition];

/** HTTP-like status codes the management link replies with, per condition. */
export const STATUS_OF_CONDITION: Record<ConditionName, number> = {
  'amqp:not-found': 404,
  'amqp:unauthorized-access': 401,
  'amqp:link:detach-forced': 410,
  'amqp:link:message-size-exceeded': 413,
  'amqp:resource-limit-exceeded': 403,
  'com.microsoft:entity-disabled': 400,
  'com.microsoft:message-lock-lost': 410,
  'com.microsoft:session-lock-lost': 410,
  'com.microsoft:session-cannot-be-locked': 410,
  'com.microsoft:message-not-found': 404,
  'com.microsoft:argument-error': 400,
  'amqp:not-allowed': 400,
  'amqp:not-implemented': 501,
  'com.microsoft:timeout': 408,
  'amqp:internal-error': 500,
  'amqp:decode-error': 400,
};

export class BrokerError extends Error {
  constructor(
    readonly condition: ConditionName,
    description: string,
  ) {
    super(description);
    this.name = 'BrokerError';
  }
}

/** The description the SDK recognises as "entity not found" (core-amqp matches this wording). */
export function entityNotFound(entity: string): BrokerError {
  return new BrokerError(Condition.notFound, `The messaging entity '${entity}' could not be found.`);
}
