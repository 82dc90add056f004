/**
 * One Service Bus sender per tenant request queue, created on first use and reused by every request
 * of the instance (an AMQP link costs a round trip or two to open; a send on an open link is one).
 * All senders share one client, hence one connection per instance.
 */
import type { ServiceBusClient, ServiceBusMessage, ServiceBusSender } from '@azure/service-bus';

export class RequestSenders {
  private readonly senders = new Map<string, ServiceBusSender>();

  constructor(private readonly client: ServiceBusClient) {}

  /** Sends one message on `queue`. */
  async send(queue: string, message: ServiceBusMessage): Promise<void> {
    let sender = this.senders.get(queue);
    if (!sender) {
      sender = this.client.createSender(queue);
      this.senders.set(queue, sender);
    }
    try {
      await sender.sendMessages(message);
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
