/** The time a message takes from send to a peek-lock receiver, one at a time (Service Bus emulator benches). */
import type { ServiceBusClient } from '@azure/service-bus';

/**
 * `count` round trips of `body` through `queue` (after `warmUp` unmeasured ones): each sent only once
 * the previous one arrived. Milliseconds, in order. Messages are completed as they arrive.
 */
export async function roundTripsMs(
  client: ServiceBusClient,
  queue: string,
  body: Buffer,
  count: number,
  warmUp = 50,
): Promise<number[]> {
  const sender = client.createSender(queue);
  // The bodies are binary, as the pipeline's are: the SDK need not try them as JSON.
  const receiver = client.createReceiver(queue, { skipParsingBodyAsJson: true });
  let arrived: (() => void) | undefined;
  const subscription = receiver.subscribe(
    {
      async processMessage() {
        arrived?.();
      },
      async processError(args) {
        console.error('round-trip receiver error:', args.error);
      },
    },
    { autoCompleteMessages: true, maxConcurrentCalls: 1 },
  );
  const samples: number[] = [];
  try {
    for (let i = 0; i < count + warmUp; i++) {
      const got = new Promise<void>((resolve) => (arrived = resolve));
      const start = performance.now();
      await sender.sendMessages({ body });
      await got;
      if (i >= warmUp) samples.push(performance.now() - start);
    }
  } finally {
    await subscription.close();
    await receiver.close();
    await sender.close();
  }
  return samples;
}
