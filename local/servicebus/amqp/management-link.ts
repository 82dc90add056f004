/**
 * The entity's request/response node (`<entity>/$management`): peek, lock renewal, scheduling,
 * deferred messages, settlement by lock token and session operations. Replies carry the camelCase
 * application properties the SDK reads (statusCode, statusDescription, errorCondition).
 */
import rhea, { type Message } from 'rhea';
import type { AccessRight } from '../auth/sas.js';
import { BrokerError, Condition, STATUS_OF_CONDITION, type ConditionName } from '../entities/errors.js';
import type { Consumer, MessageQueue, ReceiveMode, Settlement } from '../entities/message-queue.js';
import type { QueueEntity } from '../entities/queue.js';
import { decodeMessage } from './rhea-extras.js';
import { encodeOutgoing, lockTokenHex, sequenceNumberOf } from './codec.js';

export interface ManagementContext {
  entity: QueueEntity;
  queue: MessageQueue;
  /** Throws BrokerError(unauthorized) unless the connection holds `right` on the entity. */
  requireRight(right: AccessRight): void;
  /** The receiver link a request names in `associated-link-name`, if it is one of this connection's. */
  consumerNamed(linkName: string | undefined): Consumer | undefined;
  maxMessageSize: number;
}

export interface ManagementReply {
  statusCode: number;
  statusDescription: string;
  errorCondition?: string;
  body?: unknown;
}

type RequestBody = Record<string, unknown>;

const ok = (body?: unknown): ManagementReply => ({ statusCode: 200, statusDescription: 'OK', body });

function plain(value: unknown): unknown {
  // Values the SDK wraps (wrap_int, wrap_long, ...) arrive either decoded or as typed values.
  if (value && typeof value === 'object' && !Buffer.isBuffer(value) && 'value' in value && 'type' in value) {
    return (value as { value: unknown }).value;
  }
  return value;
}

function listOf(value: unknown): unknown[] {
  const unwrapped = plain(value);
  if (Array.isArray(unwrapped)) return unwrapped.map(plain);
  if (unwrapped === undefined || unwrapped === null) return [];
  return [unwrapped];
}

function stringOrUndefined(value: unknown): string | undefined {
  const unwrapped = plain(value);
  return unwrapped === undefined || unwrapped === null ? undefined : String(unwrapped);
}

function argument(description: string): BrokerError {
  return new BrokerError(Condition.argumentError, description);
}

function lockTokensOf(body: RequestBody): string[] {
  const tokens = listOf(body['lock-tokens']).map(lockTokenHex);
  if (tokens.length === 0 || tokens.some((token) => token === undefined))
    throw argument('lock-tokens is invalid.');
  return tokens as string[];
}

function sessionIdOf(body: RequestBody): string {
  const id = stringOrUndefined(body['session-id']);
  if (id === undefined || id === '') throw argument('session-id is required.');
  return id;
}

function settlementFromStatus(body: RequestBody): Settlement {
  const status = stringOrUndefined(body['disposition-status']);
  const properties = plain(body['properties-to-modify']) as Record<string, unknown> | undefined;
  switch (status) {
    case 'completed':
      return { kind: 'complete' };
    case 'abandoned':
      return { kind: 'abandon', propertiesToModify: properties };
    case 'defered':
    case 'deferred':
      return { kind: 'defer', propertiesToModify: properties };
    case 'suspended':
      return {
        kind: 'deadLetter',
        reason: stringOrUndefined(body['deadletter-reason']),
        description: stringOrUndefined(body['deadletter-description']),
        propertiesToModify: properties,
      };
    default:
      throw argument(`Unknown disposition-status '${status}'.`);
  }
}

function execute(
  operation: string,
  body: RequestBody,
  request: Message,
  context: ManagementContext,
): ManagementReply {
  const { queue, entity } = context;
  const associated = context.consumerNamed(
    stringOrUndefined(request.application_properties?.['associated-link-name']),
  );
  switch (operation) {
    case 'com.microsoft:peek-message': {
      context.requireRight('Listen');
      const from = sequenceNumberOf(plain(body['from-sequence-number']));
      const count = Number(plain(body['message-count']) ?? 1);
      const sessionId = stringOrUndefined(body['session-id']);
      const found = queue.peek(from, count, sessionId);
      if (found.length === 0) return { statusCode: 204, statusDescription: 'No messages' };
      return ok({
        messages: found.map((m) => ({
          message: encodeOutgoing(m, { includeLock: false, deliveryCount: m.deliveryCount }),
        })),
      });
    }
    case 'com.microsoft:renew-lock': {
      context.requireRight('Listen');
      entity.assertCanReceive();
      const expirations = lockTokensOf(body).map((token) => new Date(queue.renewLock(token)));
      return ok({ expirations });
    }
    case 'com.microsoft:schedule-message': {
      context.requireRight('Send');
      const entries = listOf(body.messages) as Array<Record<string, unknown>>;
      const sequenceNumbers: number[] = [];
      for (const entry of entries) {
        const encoded = plain(entry.message);
        if (!Buffer.isBuffer(encoded)) throw argument('messages[].message must be an encoded message.');
        if (encoded.length > context.maxMessageSize) {
          throw new BrokerError(
            Condition.messageSizeExceeded,
            'The message is larger than the maximum size.',
          );
        }
        const brokered = entity.accept(decodeMessage(encoded), encoded.length);
        if (brokered) sequenceNumbers.push(brokered.sequenceNumber);
      }
      return ok({ 'sequence-numbers': sequenceNumbers.map((n) => rhea.types.wrap_long(n)) });
    }
    case 'com.microsoft:cancel-scheduled-message': {
      context.requireRight('Send');
      queue.cancelScheduled(listOf(body['sequence-numbers']).map(sequenceNumberOf));
      return ok();
    }
    case 'com.microsoft:receive-by-sequence-number': {
      context.requireRight('Listen');
      entity.assertCanReceive();
      const mode: ReceiveMode =
        Number(plain(body['receiver-settle-mode'])) === 0 ? 'receiveAndDelete' : 'peekLock';
      const messages = queue.receiveDeferred(
        listOf(body['sequence-numbers']).map(sequenceNumberOf),
        mode,
        stringOrUndefined(body['session-id']),
      );
      return ok({
        messages: messages.map((m) => {
          const entry: Record<string, unknown> = {
            message: encodeOutgoing(m, { includeLock: true, deliveryCount: m.deliveryCount - 1 }),
          };
          if (m.lock) entry['lock-token'] = rhea.types.wrap_uuid(Buffer.from(m.lock.token, 'hex'));
          return entry;
        }),
      });
    }
    case 'com.microsoft:update-disposition': {
      context.requireRight('Listen');
      const settlement = settlementFromStatus(body);
      for (const token of lockTokensOf(body)) queue.settle(token, undefined, settlement);
      return ok();
    }
    case 'com.microsoft:renew-session-lock': {
      context.requireRight('Listen');
      return ok({ expiration: new Date(queue.renewSessionLock(sessionIdOf(body), associated)) });
    }
    case 'com.microsoft:set-session-state': {
      context.requireRight('Listen');
      const state = plain(body['session-state']);
      const bytes =
        state === null || state === undefined
          ? undefined
          : Buffer.isBuffer(state)
            ? state
            : Buffer.from(String(state));
      // Session state is bounded like a message (256 KB on the standard tier).
      if (bytes && bytes.length > context.maxMessageSize) {
        throw new BrokerError(
          Condition.messageSizeExceeded,
          `The session state (${bytes.length} bytes) exceeds the limit (${context.maxMessageSize} bytes).`,
        );
      }
      queue.setSessionState(sessionIdOf(body), associated, bytes);
      return ok();
    }
    case 'com.microsoft:get-session-state': {
      context.requireRight('Listen');
      return ok({ 'session-state': queue.getSessionState(sessionIdOf(body), associated) ?? null });
    }
    case 'com.microsoft:get-message-sessions': {
      context.requireRight('Listen');
      const since = plain(body['last-updated-time']);
      const sinceMs = since instanceof Date ? since.getTime() : 0;
      const skip = Number(plain(body.skip) ?? 0);
      const top = Number(plain(body.top) ?? 100);
      const ids = queue.listSessions(sinceMs, skip, top);
      if (ids.length === 0) return { statusCode: 204, statusDescription: 'No sessions' };
      return ok({ skip: rhea.types.wrap_int(skip + ids.length), 'sessions-ids': ids });
    }
    default:
      throw new BrokerError(
        Condition.notImplemented,
        `The operation '${operation}' is not supported by the emulator.`,
      );
  }
}

/** Answer one management request. */
export function handleManagementRequest(request: Message, context: ManagementContext): ManagementReply {
  const operation = String(request.application_properties?.operation ?? '');
  const body = (plain(request.body) ?? {}) as RequestBody;
  try {
    if (typeof body !== 'object' || body === null || Buffer.isBuffer(body))
      throw argument('The request body must be a map.');
    return execute(operation, body, request, context);
  } catch (error) {
    if (error instanceof BrokerError) {
      return {
        statusCode: STATUS_OF_CONDITION[error.condition as ConditionName] ?? 500,
        statusDescription: error.message,
        errorCondition: error.condition,
      };
    }
    if (error instanceof Error && /sequence number|not a/.test(error.message)) {
      return { statusCode: 400, statusDescription: error.message, errorCondition: Condition.argumentError };
    }
    console.error('[servicebus] management request failed:', error);
    return { statusCode: 500, statusDescription: 'Internal error', errorCondition: Condition.internalError };
  }
}
