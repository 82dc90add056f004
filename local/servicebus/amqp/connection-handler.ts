/**
 * One client connection: the tokens it has put on `$cbs`, and its links, routed by address —
 * `$cbs` and `<entity>/$management` request/response pairs, senders into queues and receivers on
 * queues, dead-letter sub-queues and sessions.
 */
import { randomUUID } from 'node:crypto';
import type { Connection, Delivery, EventContext, Message, Receiver, Sender } from 'rhea';
import type { EntraAccess } from '../auth/entra-access.js';
import { grantAllows, type AccessRight, type Grant } from '../auth/sas.js';
import { BrokerError, Condition, entityNotFound } from '../entities/errors.js';
import type { ReceiveMode } from '../entities/message-queue.js';
import type { Namespace } from '../entities/namespace.js';
import type { QueueEntity } from '../entities/queue.js';
import { MAX_MESSAGE_SIZE_BYTES } from '../entities/queue-properties.js';
import { CBS_ADDRESS, parseEntityAddress, type EntityAddress } from './addresses.js';
import { handlePutToken } from './cbs.js';
import { bodyBytesOf, decodeTransfer, dotNetTicks } from './codec.js';
import { guarded, toAmqpError } from './errors.js';
import { acceptedOutcome, rejectedOutcome } from './rhea-extras.js';
import { handleManagementRequest } from './management-link.js';
import { QueueConsumer } from './queue-consumer.js';
import { UNAUTHORIZED } from '../stats/broker-stats.js';

const SESSION_FILTER = 'com.microsoft:session-filter';
const DEFAULT_ACCEPT_SESSION_TIMEOUT_MS = 60_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Fields of rhea links and contexts that its typings leave out. */
interface LinkInternals {
  local: { attach: Record<string, unknown> };
  remote: { attach?: Record<string, unknown> };
}
interface TransferContext extends EventContext {
  format?: number;
}

function internals(link: Sender | Receiver): LinkInternals {
  return link as unknown as LinkInternals;
}

function settle(delivery: Delivery | undefined, error?: unknown): void {
  if (!delivery) return;
  const state = error === undefined ? acceptedOutcome() : rejectedOutcome(toAmqpError(error));
  delivery.update(true, state);
}

/** What a queue link needs for as long as it is attached. */
interface LinkClaim {
  path: string;
  right: AccessRight;
}

export class ConnectionHandler {
  private grants: Grant[] = [];
  /**
   * The queue links of this connection and the claim each needs. Service Bus checks a token when a link
   * attaches and lets the link live while a token for it is valid: a key changed meanwhile does not
   * close it, but once its token expires without a renewal (a put-token the broker accepted) the link is
   * force-detached, as Service Bus does (`amqp:link:detach-forced`, "Code: RenewToken").
   */
  private readonly claims = new Map<Sender | Receiver, LinkClaim>();
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Broker senders by link name: where `$cbs` and `$management` replies go (the request's reply_to). */
  private readonly replyLinks = new Map<string, Sender>();
  /** Queue receivers of this connection by link name (for `associated-link-name`). */
  private readonly consumers = new Map<string, QueueConsumer>();
  private readonly queueLinks = new Map<Sender | Receiver, QueueEntity>();
  private readonly onQueueDeleted = (queue: QueueEntity) => this.queueDeleted(queue);
  /** The rules this connection has authenticated with (each counted once as a connection). */
  private readonly identities = new Set<string>();

  constructor(
    private readonly connection: Connection,
    private readonly namespace: Namespace,
    /** Checks Entra ID tokens put on `$cbs`; undefined when the emulator accepts none. */
    private readonly entra?: EntraAccess,
  ) {
    namespace.events.on('queueDeleted', this.onQueueDeleted);
    connection.on('sender_open', (context) => guarded(() => this.senderOpened(context.sender!)));
    connection.on('receiver_open', (context) => guarded(() => this.receiverOpened(context.receiver!)));
    connection.on('sender_close', (context) => this.linkClosed(context.sender!));
    connection.on('receiver_close', (context) => this.linkClosed(context.receiver!));
    connection.on('sender_error', () => undefined);
    connection.on('receiver_error', () => undefined);
    connection.on('session_error', () => undefined);
    connection.on('connection_error', () => undefined);
    connection.on('connection_close', () => this.dispose());
    connection.on('disconnected', () => this.dispose());
  }

  // ---- authorization ------------------------------------------------------------------------

  private allows(path: string, right: AccessRight): boolean {
    const now = Date.now();
    return this.grants.some((grant) => grantAllows(grant, path, right, now));
  }

  private requireRight(address: EntityAddress, right: AccessRight): void {
    if (!this.allows(address.path, right)) {
      throw new BrokerError(
        Condition.unauthorized,
        `Unauthorized access. '${right}' claim(s) are required to perform this operation. Resource: '${address.path}'.`,
      );
    }
  }

  /** Who an operation on `path` is counted for: the rule of the token that allows it. */
  private identityFor(path: string, right?: AccessRight): string {
    const now = Date.now();
    const rights: AccessRight[] = right ? [right] : ['Manage', 'Send', 'Listen'];
    const grant = this.grants.find((g) => rights.some((r) => grantAllows(g, path, r, now)));
    return grant?.keyName ?? UNAUTHORIZED;
  }

  private addGrant(grant: Grant): void {
    if (!this.identities.has(grant.keyName)) {
      this.identities.add(grant.keyName);
      this.namespace.stats.count(grant.keyName, undefined, 'connections');
    }
    this.grants = [...this.grants.filter((g) => g.scope !== grant.scope && g.expiresAt > Date.now()), grant];
    this.scheduleExpiryCheck();
  }

  private claim(link: Sender | Receiver, address: EntityAddress, right: AccessRight): void {
    this.claims.set(link, { path: address.path, right });
    this.scheduleExpiryCheck();
  }

  /** Wake up when the next token runs out, if a link may depend on it. */
  private scheduleExpiryCheck(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    if (this.claims.size === 0) return;
    const now = Date.now();
    const next = Math.min(...this.grants.map((g) => g.expiresAt).filter((at) => at > now));
    if (!Number.isFinite(next)) return;
    // setTimeout takes at most 2^31 - 1 ms (24.8 days); a later expiry is checked again then.
    const wait = Math.min(next - now + 1, MAX_TIMER_MS);
    this.expiryTimer = setTimeout(() => guarded(() => this.detachUnauthorized()), wait);
    this.expiryTimer.unref();
  }

  /** Force-detach the links no valid token covers any more. */
  private detachUnauthorized(): void {
    this.expiryTimer = undefined;
    for (const [link, { path, right }] of [...this.claims]) {
      if (this.allows(path, right)) continue;
      this.claims.delete(link);
      this.queueLinks.delete(link);
      const error = {
        condition: Condition.detachForced,
        description: `The link '${link.name}' is force detached. Code: RenewToken. Details: Unauthorized access. '${right}' claim(s) are required to perform this operation. Resource: '${path}'.`,
      };
      const consumer = this.consumers.get(link.name);
      if (consumer?.link === link) consumer.close(error);
      else if (link.is_open()) link.close(error);
    }
    this.grants = this.grants.filter((g) => g.expiresAt > Date.now());
    this.scheduleExpiryCheck();
  }

  // ---- attach -------------------------------------------------------------------------------

  /** Echo the client's terminus and settle modes, so the attach reply says what the client asked. */
  private echo(link: Sender | Receiver): void {
    const local = internals(link).local.attach;
    const remote = internals(link).remote.attach ?? {};
    link.set_source((remote.source ?? {}) as never);
    link.set_target((remote.target ?? {}) as never);
    local.snd_settle_mode = remote.snd_settle_mode;
    local.rcv_settle_mode = remote.rcv_settle_mode;
  }

  private refuse(link: Sender | Receiver, error: unknown, withoutTerminus = false): void {
    if (withoutTerminus) {
      // Service Bus answers a refused attach with a null terminus and then detaches with the reason.
      internals(link).local.attach.source = null;
      internals(link).local.attach.target = null;
    }
    link.close(toAmqpError(error));
  }

  /** The client attached a sender: the broker receives on `$cbs`, `$management` or a queue. */
  private receiverOpened(link: Receiver): void {
    this.echo(link);
    const address = (internals(link).remote.attach?.target as { address?: string } | undefined)?.address;
    if (address === CBS_ADDRESS) {
      link.on('message', (context) => guarded(() => this.cbsRequest(context)));
      return;
    }
    const entityAddress = parseEntityAddress(address);
    try {
      if (!entityAddress) throw entityNotFound(String(address));
      const entity = this.namespace.requireQueue(entityAddress.queue);
      if (entityAddress.management) {
        link.on('message', (context) => guarded(() => this.managementRequest(context, entityAddress)));
        return;
      }
      if (entityAddress.subQueue !== '') {
        throw new BrokerError(Condition.notAllowed, 'Messages cannot be sent to a dead-letter queue.');
      }
      this.requireRight(entityAddress, 'Send');
      entity.assertCanSend();
      internals(link).local.attach.max_message_size = MAX_MESSAGE_SIZE_BYTES;
      this.queueLinks.set(link, entity);
      this.claim(link, entityAddress, 'Send');
      this.namespace.stats.count(this.identityFor(entityAddress.path, 'Send'), entity.name, 'sendLinks');
      link.on('message', (context) =>
        guarded(() => this.incomingMessage(context as TransferContext, entityAddress)),
      );
    } catch (error) {
      this.refuse(link, error);
    }
  }

  /** The client attached a receiver: the broker sends replies, or a queue's messages. */
  private senderOpened(link: Sender): void {
    this.echo(link);
    const source = internals(link).remote.attach?.source as
      { address?: string; filter?: Record<string, unknown> } | undefined;
    const address = source?.address;
    if (address === CBS_ADDRESS) {
      this.replyLinks.set(link.name, link);
      return;
    }
    const entityAddress = parseEntityAddress(address);
    if (entityAddress?.management) {
      this.replyLinks.set(link.name, link);
      return;
    }
    const sessionRequested =
      typeof source?.filter === 'object' && source.filter !== null && SESSION_FILTER in source.filter;
    try {
      if (!entityAddress) throw entityNotFound(String(address));
      const entity = this.namespace.requireQueue(entityAddress.queue);
      this.requireRight(entityAddress, 'Listen');
      entity.assertCanReceive();
      const queue = entity.subQueue(entityAddress.subQueue)!;
      const remote = internals(link).remote.attach ?? {};
      const mode: ReceiveMode = remote.snd_settle_mode === 1 ? 'receiveAndDelete' : 'peekLock';
      if (queue.sessionful !== sessionRequested) {
        throw new BrokerError(
          Condition.notAllowed,
          queue.sessionful
            ? `It is not possible for an entity that requires sessions to create a non-sessionful message receiver.`
            : `It is not possible for an entity that does not support sessions to create a session receiver.`,
        );
      }
      const identity = this.identityFor(entityAddress.path, 'Listen');
      const stats = this.namespace.stats;
      const consumer = new QueueConsumer(link, queue, mode, (counter, amount) =>
        stats.count(identity, entity.name, counter, amount),
      );
      this.queueLinks.set(link, entity);
      this.claim(link, entityAddress, 'Listen');
      stats.count(identity, entity.name, 'receiveLinks');
      if (!sessionRequested) {
        this.consumers.set(link.name, consumer);
        queue.addConsumer(consumer);
        return;
      }
      const requested = source!.filter![SESSION_FILTER];
      const properties = (remote.properties ?? {}) as Record<string, unknown>;
      if (typeof requested === 'string') {
        const lockedUntil = queue.acceptSession(requested, consumer);
        this.sessionAttached(link, consumer, requested, lockedUntil);
        return;
      }
      const timeout = Number(properties['com.microsoft:timeout'] ?? DEFAULT_ACCEPT_SESSION_TIMEOUT_MS);
      // The attach reply waits until a session is locked (or the wait runs out), as in Service Bus.
      internals(link).local.attach.source = null;
      this.deferAttach(link);
      queue.acceptNextSession(consumer, timeout > 0 ? timeout : DEFAULT_ACCEPT_SESSION_TIMEOUT_MS).then(
        ({ sessionId, lockedUntil }) => {
          if (!link.is_remote_open()) {
            queue.removeConsumer(consumer);
            return;
          }
          this.sessionAttached(link, consumer, sessionId, lockedUntil);
          link.open();
        },
        (error: unknown) => {
          link.open();
          this.refuse(link, error, true);
        },
      );
    } catch (error) {
      this.refuse(link, error, sessionRequested);
    }
  }

  private sessionAttached(
    link: Sender,
    consumer: QueueConsumer,
    sessionId: string,
    lockedUntil: number,
  ): void {
    const remoteSource = (internals(link).remote.attach?.source ?? {}) as Record<string, unknown>;
    link.set_source({ ...remoteSource, filter: { [SESSION_FILTER]: sessionId } } as never);
    internals(link).local.attach.properties = { 'com.microsoft:locked-until-utc': dotNetTicks(lockedUntil) };
    this.consumers.set(link.name, consumer);
    consumer.queue.dispatch();
  }

  /**
   * rhea sends our attach reply on its next turn; to answer an accept-next-session only once a session
   * is locked, the link's local open is held back until then.
   */
  private deferAttach(link: Sender): void {
    const state = (link as unknown as { state: { local_open: boolean; open_requests: number } }).state;
    state.local_open = false;
    state.open_requests = Math.max(0, state.open_requests - 1);
  }

  private linkClosed(link: Sender | Receiver): void {
    this.queueLinks.delete(link);
    this.claims.delete(link);
    if (this.replyLinks.get(link.name) === link) this.replyLinks.delete(link.name);
    const consumer = this.consumers.get(link.name);
    if (consumer && consumer.link === link) {
      this.consumers.delete(link.name);
      consumer.detached();
    }
  }

  private queueDeleted(queue: QueueEntity): void {
    for (const [link, entity] of [...this.queueLinks]) {
      if (entity !== queue) continue;
      this.queueLinks.delete(link);
      this.claims.delete(link);
      const gone = { condition: Condition.notFound, description: entityNotFound(queue.name).message };
      const consumer = this.consumers.get(link.name);
      if (consumer?.link === link) consumer.close(gone);
      else if (link.is_open()) link.close(gone);
    }
  }

  private dispose(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.claims.clear();
    this.namespace.events.off('queueDeleted', this.onQueueDeleted);
    for (const consumer of this.consumers.values()) consumer.detached();
    this.consumers.clear();
    this.replyLinks.clear();
    this.queueLinks.clear();
  }

  // ---- messages and requests ----------------------------------------------------------------

  private incomingMessage(context: TransferContext, address: EntityAddress): void {
    const delivery = context.delivery;
    try {
      this.requireRight(address, 'Send');
      const entity = this.namespace.requireQueue(address.queue);
      const payload = context.message as Message | Buffer | undefined;
      if (!payload) throw new BrokerError(Condition.decodeError, 'The transfer carried no message.');
      const messages = decodeTransfer(payload, context.format);
      for (const { size } of messages) {
        if (size > MAX_MESSAGE_SIZE_BYTES) {
          throw new BrokerError(
            Condition.messageSizeExceeded,
            `The received message (size ${size} bytes) exceeds the limit (${MAX_MESSAGE_SIZE_BYTES} bytes).`,
          );
        }
      }
      const identity = this.identityFor(address.path, 'Send');
      const stats = this.namespace.stats;
      for (const { message, size } of messages) {
        // Service Bus gives every message an id; the SDK relies on one to settle.
        if (message.message_id === undefined || message.message_id === null) {
          message.message_id = randomUUID().replaceAll('-', '');
        }
        const forwardTo = entity.properties.forwardTo;
        entity.accept(message, size);
        stats.count(identity, entity.name, 'sends');
        stats.count(identity, entity.name, 'sendBytes', size);
        stats.count(identity, entity.name, 'sendBodyBytes', bodyBytesOf(message));
        if (forwardTo) {
          stats.count(undefined, entity.name, 'forwardedOut');
          stats.count(undefined, forwardTo, 'forwardedIn');
        }
      }
      settle(delivery);
    } catch (error) {
      if (!(error instanceof BrokerError) && error instanceof Error) {
        settle(
          delivery,
          new BrokerError(Condition.decodeError, `The message could not be decoded: ${error.message}`),
        );
        return;
      }
      settle(delivery, error);
    }
  }

  private reply(request: Message, applicationProperties: Record<string, unknown>, body?: unknown): void {
    const replyTo = request.reply_to;
    const link = replyTo ? this.replyLinks.get(replyTo) : undefined;
    if (!link) return;
    link.send({
      correlation_id: request.message_id,
      to: replyTo,
      application_properties: applicationProperties,
      body: body ?? null,
    });
  }

  private cbsRequest(context: EventContext): void {
    const request = context.message;
    settle(context.delivery);
    if (!request) return;
    // Checking an Entra ID token may fetch the issuer's keys: the reply follows when it is done.
    void handlePutToken(request, this.namespace, this.entra)
      .catch((error: unknown) => {
        console.error('[servicebus] put-token failed:', error);
        return { status: 500, description: 'The broker failed to check the token.', grant: undefined };
      })
      .then((result) => {
        if (result.grant && this.connection.is_open()) this.addGrant(result.grant);
        this.namespace.stats.count(result.grant?.keyName ?? UNAUTHORIZED, undefined, 'putTokens');
        this.reply(request, { 'status-code': result.status, 'status-description': result.description });
      });
  }

  private managementRequest(context: EventContext, address: EntityAddress): void {
    const request = context.message;
    settle(context.delivery);
    if (!request) return;
    const entity = this.namespace.queue(address.queue);
    const operation = String(request.application_properties?.operation ?? '');
    this.namespace.stats.count(this.identityFor(address.path), address.queue, `management:${operation}`);
    const reply = entity
      ? handleManagementRequest(request, {
          entity,
          queue: entity.subQueue(address.subQueue)!,
          requireRight: (right) => this.requireRight(address, right),
          consumerNamed: (name) => (name ? this.consumers.get(name) : undefined),
          maxMessageSize: MAX_MESSAGE_SIZE_BYTES,
        })
      : {
          statusCode: 404,
          statusDescription: `The messaging entity '${address.queue}' could not be found.`,
          errorCondition: Condition.notFound,
        };
    const properties: Record<string, unknown> = {
      statusCode: reply.statusCode,
      statusDescription: reply.statusDescription,
    };
    if (reply.errorCondition) properties.errorCondition = reply.errorCondition;
    this.reply(request, properties, reply.body);
  }
}
