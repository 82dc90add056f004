/**
 * One generation of the agent's Service Bus connection: a client and a peek-lock receiver on the
 * request queue (Listen-only connection string), a client and a sender on the replies queue
 * (Send-only), and the messages in flight on that receiver. A key rollover builds a new one on the
 * new strings, proves it, switches to it, and retires the old one once its messages have settled.
 *
 * Knowing that new keys work:
 * - `verify()` proves both keys on a short-lived pair of clients of their own, with no retries: it
 *   peeks one message through the request queue's `$management` node (the SDK first puts a SAS
 *   token signed with the Listen key on the connection, CBS), then opens a sender link on the
 *   replies queue (`createMessageBatch()` attaches it to learn the maximum message size), which
 *   proves the Send key without sending anything. Not on the connection that will be kept: the SDK
 *   counts UnauthorizedAccess as retryable ("credentials may have been rotated"), so a wrong key
 *   there costs maxRetries × retryDelay (30 s by default) before it fails; here it fails in one
 *   round trip, and a transient fault only means the rollover is retried when the broker
 *   redelivers its control message.
 * - `start()` subscribes and resolves once the receive link of the kept connection is attached, so
 *   the old subscription can stop with no gap in receiving. The SDK connects lazily and its public
 *   API has no "link up" event: `@azure/service-bus` (7.x) calls a `postInitialize` handler after
 *   attaching the link and before giving credit (`InternalMessageHandlers`, not in its public
 *   types). It is used when present; a receive error first rejects; if neither comes within the
 *   timeout (an SDK that no longer calls it), the result says "unconfirmed" and the caller goes on,
 *   covered by `verify()`: a slow attach then only delays messages, which wait on the queue.
 * - The kept sender's first message is the rollover's acknowledgement: it goes out on the new
 *   Send key, or the rollover fails and is retried (the agent then acknowledges again).
 */
import {
  ServiceBusClient,
  type MessageHandlers,
  type ProcessErrorArgs,
  type ServiceBusClientOptions,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
  type ServiceBusSender,
} from '@azure/service-bus';

export interface ConnectionStrings {
  /** Listen-only, the request queue. */
  requests: string;
  /** Send-only, the replies queue. */
  replies: string;
}

export interface ReceiveHandlers {
  processMessage(message: ServiceBusReceivedMessage, receiver: ServiceBusReceiver): Promise<void>;
  processError(args: ProcessErrorArgs): Promise<void>;
}

/** Whether the receive link was seen attached, or only its keys verified (see the module comment). */
export type LinkState = 'attached' | 'unconfirmed';

/**
 * The connection string with its `SharedAccessKey` replaced, every other part as written. Throws
 * (without quoting the string) when it has none, e.g. a SharedAccessSignature string.
 */
export function withSharedAccessKey(connectionString: string, key: string): string {
  let found = 0;
  const parts = connectionString.split(';').map((part) => {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === 'SharedAccessKey') {
      found++;
      return `${part.slice(0, eq)}=${key}`;
    }
    return part;
  });
  if (found !== 1) throw new Error('the connection string does not have exactly one SharedAccessKey');
  return parts.join(';');
}

export class BusConnection {
  /** Messages being handled that this receiver delivered (they settle on it). */
  readonly inFlight = new Set<Promise<void>>();
  private subscription: { close(): Promise<void> } | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly strings: ConnectionStrings,
    private readonly requestsBus: ServiceBusClient,
    private readonly repliesBus: ServiceBusClient,
    readonly receiver: ServiceBusReceiver,
    readonly sender: ServiceBusSender,
  ) {}

  /** Builds the clients; nothing connects until used. */
  static create(
    strings: ConnectionStrings,
    queues: { requestQueue: string; repliesQueue: string },
    options: ServiceBusClientOptions,
  ): BusConnection {
    const requestsBus = new ServiceBusClient(strings.requests, options);
    const repliesBus = new ServiceBusClient(strings.replies, options);
    const receiver = requestsBus.createReceiver(queues.requestQueue, {
      receiveMode: 'peekLock',
      maxAutoLockRenewalDurationInMs: 5 * 60_000,
      // The header's expiresAt is an AMQP timestamp; by default the SDK turns Dates in application
      // properties into numbers, and the envelope's check (which wants the Date back) would refuse it.
      skipConvertingDate: true,
    });
    const sender = repliesBus.createSender(queues.repliesQueue);
    return new BusConnection(strings, requestsBus, repliesBus, receiver, sender);
  }

  /**
   * Proves that `strings` open both queues: a peek on the request queue (Listen), a sender link on
   * the replies queue (Send), on clients of their own without retries (see the module comment).
   * Throws the SDK's error (UnauthorizedAccess for a wrong key).
   */
  static async verify(
    strings: ConnectionStrings,
    queues: { requestQueue: string; repliesQueue: string },
    options: ServiceBusClientOptions,
  ): Promise<void> {
    const timeoutInMs = Math.min(options.retryOptions?.timeoutInMs ?? 60_000, 30_000);
    const once = { ...options, retryOptions: { ...options.retryOptions, maxRetries: 0, timeoutInMs } };
    const requestsBus = new ServiceBusClient(strings.requests, once);
    const repliesBus = new ServiceBusClient(strings.replies, once);
    try {
      await requestsBus.createReceiver(queues.requestQueue).peekMessages(1);
      await repliesBus.createSender(queues.repliesQueue).createMessageBatch();
    } finally {
      await Promise.allSettled([requestsBus.close(), repliesBus.close()]);
    }
  }

  /**
   * Starts receiving with `handlers` (`autoCompleteMessages: false`). Resolves when the receive link
   * is attached (or "unconfirmed" after `attachTimeoutMs`); rejects on a receive error before that.
   */
  start(handlers: ReceiveHandlers, maxConcurrentCalls: number, attachTimeoutMs: number): Promise<LinkState> {
    return new Promise<LinkState>((resolve, reject) => {
      let settled = false;
      const settle = (done: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        done();
      };
      const timer = setTimeout(() => settle(() => resolve('unconfirmed')), attachTimeoutMs);
      timer.unref();
      const receiver = this.receiver;
      const subscribed: MessageHandlers & { postInitialize(): Promise<void> } = {
        processMessage: async (message) => {
          const work = handlers.processMessage(message, receiver);
          this.inFlight.add(work);
          try {
            await work;
          } finally {
            this.inFlight.delete(work);
          }
        },
        processError: async (args) => {
          if (args.errorSource === 'receive') settle(() => reject(args.error));
          await handlers.processError(args);
        },
        postInitialize: async () => settle(() => resolve('attached')),
      };
      this.subscription = receiver.subscribe(subscribed, {
        autoCompleteMessages: false,
        maxConcurrentCalls,
      });
    });
  }

  /** Stops taking new messages (the link stays open: those in flight can still settle). */
  async stopReceiving(): Promise<void> {
    await this.subscription?.close();
  }

  /** Resolves when no message of this receiver is in flight. */
  async drained(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Closes receiver, sender and clients. Idempotent; throws the first error after trying every step. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      const steps = [
        () => this.stopReceiving(),
        () => this.receiver.close(),
        () => this.sender.close(),
        () => this.requestsBus.close(),
        () => this.repliesBus.close(),
      ];
      let first: unknown;
      for (const step of steps) {
        try {
          await step();
        } catch (error) {
          first ??= error;
        }
      }
      if (first !== undefined) throw first;
    })());
  }
}
