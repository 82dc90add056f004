/**
 * One Service Bus sender per tenant request queue, created on first use and reused by every request
 * of the instance (an AMQP link costs a round trip or two to open; a send on an open link is one).
 * All senders share one client, hence one connection per instance.
 *
 * Request queues are session queues, and this is the one place that sets a message's session:
 * the tenant's request session (REQUEST_SESSION_ID), which reaches whichever agent holds it, unless
 * the caller addresses one agent's own session (a key rollover's control message, agentSessionId).
 */
import type { ServiceBusClient, ServiceBusMessage, ServiceBusSender } from '@azure/service-bus';
import { REQUEST_SESSION_ID } from '../wire/index.js';

export class RequestSenders {
  private readonly senders = new Map<string, ServiceBusSender>();

  constructor(private readonly client: ServiceBusClient) {}

  /** Sends one message on `queue`, in its request session or in `session`. */
  async send(
    queue: string,
    message: Omit<ServiceBusMessage, 'sessionId'>,
    session: string = REQUEST_SESSION_ID,
  ): Promise<void> {
    let sender = this.senders.get(queue);
    if (!sender) {
      sender = this.client.createSender(queue);
      this.senders.set(queue, sender);
    }
    try {
      await sender.sendMessages({ ...message, sessionId: session });
    } catch (error) {
      // A sender whose queue was deleted (tenant disabled) or whose link broke for good is not kept.
      if (this.senders.get(queue) === sender) this.senders.delete(queue);
      await sender.close().catch(() => undefined);
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
