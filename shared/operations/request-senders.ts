/**
 * One Service Bus sender per tenant request queue, created on first use and reused by every request
 * of the instance (an AMQP link costs a round trip or two to open; a send on an open link is one).
 * All senders share one client, hence one connection per instance.
 *
 * A send ends by its dependency call's deadline, and a failed send says whether the message may have
 * reached the queue. The client does not retry by itself (`SEND_CLIENT_OPTIONS`): the SDK resends a
 * message whose acknowledgement it missed, so a send that timed out could be delivered twice. Here a
 * send is tried again only after a failure that proves nothing was sent (the broker refused it, or no
 * connection could be made), while the deadline allows.
 *
 * Request queues are session queues, and this is the one place that sets a message's session:
 * the tenant's request session (REQUEST_SESSION_ID), which reaches whichever agent holds it, unless
 * the caller addresses one agent's own session (a key rollover's control message, agentSessionId).
 */
import {
  isServiceBusError,
  type ServiceBusClient,
  type ServiceBusClientOptions,
  type ServiceBusMessage,
  type ServiceBusSender,
} from '@azure/service-bus';
import { dependencySignal, serviceBusClientFromSettings } from '../azure/index.js';
import type { Environment } from '../config/index.js';
import { SERVICE_BUS_CONNECTION } from '../tenants/index.js';
import { currentDeadline } from '../domain/index.js';
import { REQUEST_SESSION_ID } from '../wire/index.js';

/** Options of the client the senders share: no SDK retries (see the module comment). */
export const SEND_CLIENT_OPTIONS: ServiceBusClientOptions = { retryOptions: { maxRetries: 0 } };

/** `notSent`: the message is known not to be on the queue; `unknown`: it may be. */
export type Delivery = 'notSent' | 'unknown';

/** A send that failed, and what is known about its message. */
export class SendFailure extends Error {
  constructor(
    readonly delivery: Delivery,
    options: ErrorOptions,
  ) {
    super(delivery === 'notSent' ? 'the message was not sent' : 'the message may have been sent', options);
    this.name = 'SendFailure';
  }
}

/** Answers of the broker that refuse a message: it was not enqueued. */
const REFUSALS = new Set([
  'MessagingEntityNotFound',
  'MessagingEntityDisabled',
  'UnauthorizedAccess',
  'QuotaExceeded',
  'MessageSizeExceeded',
  'ServiceBusy',
]);

function mentionsRefusedConnection(error: unknown): boolean {
  for (
    let e = error as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    depth++
  ) {
    if (e.code === 'ECONNREFUSED' || (typeof e.message === 'string' && e.message.includes('ECONNREFUSED')))
      return true;
    e = e.cause as typeof e;
  }
  return false;
}

/** What one failed attempt tells about its message. */
export function deliveryOf(error: unknown): Delivery {
  if (isServiceBusError(error) && REFUSALS.has(error.code)) return 'notSent';
  // Refused at connect: the message never left this process.
  if (mentionsRefusedConnection(error)) return 'notSent';
  return 'unknown';
}

const RESEND_BACKOFF_MS = [100, 250, 500, 1_000];

export class RequestSenders {
  private readonly senders = new Map<string, ServiceBusSender>();

  constructor(private readonly client: ServiceBusClient) {}

  /** The senders of the app's Service Bus connection. */
  static fromSettings(env: Environment = process.env): RequestSenders {
    return new RequestSenders(serviceBusClientFromSettings(SERVICE_BUS_CONNECTION, env, SEND_CLIENT_OPTIONS));
  }

  /**
   * Sends one message on `queue`, in its request session or in `session`; throws a `SendFailure`
   * that says whether it may have been sent.
   */
  async send(
    queue: string,
    message: Omit<ServiceBusMessage, 'sessionId'>,
    session: string = REQUEST_SESSION_ID,
  ): Promise<void> {
    const signal = dependencySignal();
    for (let attempt = 0; ; attempt++) {
      try {
        await this.sendOnce(queue, { ...message, sessionId: session }, signal);
        return;
      } catch (error) {
        const delivery = signal?.aborted ? 'unknown' : deliveryOf(error);
        const delay = RESEND_BACKOFF_MS[Math.min(attempt, RESEND_BACKOFF_MS.length - 1)] ?? 1_000;
        const left = currentDeadline()?.remainingMs() ?? 0;
        const refusedByBroker =
          isServiceBusError(error) && REFUSALS.has(error.code) && error.code !== 'ServiceBusy';
        if (delivery === 'unknown' || refusedByBroker || left <= delay + 100) {
          throw new SendFailure(delivery, { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private async sendOnce(
    queue: string,
    message: ServiceBusMessage,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let sender = this.senders.get(queue);
    if (!sender) {
      sender = this.client.createSender(queue);
      this.senders.set(queue, sender);
    }
    try {
      await sender.sendMessages(message, signal ? { abortSignal: signal } : {});
    } catch (error) {
      // A sender whose queue was deleted (tenant disabled) or whose link broke for good is not kept.
      if (this.senders.get(queue) === sender) this.senders.delete(queue);
      void sender.close().catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    const senders = [...this.senders.values()];
    this.senders.clear();
    await Promise.all(senders.map((sender) => sender.close().catch(() => undefined)));
    await this.client.close();
  }
}
