/**
 * One generation of the agent's Service Bus connection: a client on the request queue (Listen-only
 * connection string), through which the agent accepts sessions (session-lease.ts), and a client and a
 * sender on the replies queue (Send-only). A new generation replaces the current one when a key
 * rollover brings new SAS keys, and when the current one stays broken after an outage
 * (service-bus-link.ts): a new ServiceBusClient opens a new AMQP connection, which is what a restart
 * did. Every call made here has a deadline (deadline.ts).
 *
 * Knowing that new keys work: `verify()` proves both keys on a short-lived pair of clients of their
 * own, with no retries: it peeks one message through the request queue's `$management` node (the SDK
 * first puts a SAS token signed with the Listen key on the connection, CBS), then opens a sender link
 * on the replies queue (`createMessageBatch()` attaches it to learn the maximum message size), which
 * proves the Send key without sending anything. Not on the connection that will be kept: the SDK
 * counts UnauthorizedAccess as retryable ("credentials may have been rotated"), so a wrong key there
 * costs maxRetries × retryDelay (30 s by default) before it fails; here it fails in one round trip,
 * and a transient fault only means the rollover is retried when the broker redelivers its control
 * message.
 */
import {
  ServiceBusClient,
  type ServiceBusClientOptions,
  type ServiceBusMessage,
  type ServiceBusSender,
  type ServiceBusSessionReceiver,
} from '@azure/service-bus';
import { withDeadline } from './deadline.js';

export interface ConnectionStrings {
  /** Listen-only, the request queue. */
  requests: string;
  /** Send-only, the replies queue. */
  replies: string;
}

export interface Queues {
  requestQueue: string;
  repliesQueue: string;
}

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
  /** Sends begun on this generation's sender and not finished. */
  private readonly sending = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;

  private constructor(
    readonly strings: ConnectionStrings,
    readonly queues: Queues,
    /** 1 for the first connection of a process, +1 for each replacement. */
    readonly generation: number,
    private readonly requestsBus: ServiceBusClient,
    private readonly repliesBus: ServiceBusClient,
    private readonly sender: ServiceBusSender,
  ) {}

  /** Builds the clients; nothing connects until used. */
  static create(
    strings: ConnectionStrings,
    queues: Queues,
    options: ServiceBusClientOptions,
    generation: number,
  ): BusConnection {
    const requestsBus = new ServiceBusClient(strings.requests, options);
    const repliesBus = new ServiceBusClient(strings.replies, options);
    const sender = repliesBus.createSender(queues.repliesQueue);
    return new BusConnection(strings, queues, generation, requestsBus, repliesBus, sender);
  }

  /**
   * Proves that `strings` open both queues: a peek on the request queue (Listen), a sender link on
   * the replies queue (Send), on clients of their own without retries (see the module comment).
   * Throws the SDK's error (UnauthorizedAccess for a wrong key).
   */
  static async verify(
    strings: ConnectionStrings,
    queues: Queues,
    options: ServiceBusClientOptions,
    deadlineMs: number,
  ): Promise<void> {
    const timeoutInMs = Math.min(options.retryOptions?.timeoutInMs ?? 60_000, deadlineMs);
    const once = { ...options, retryOptions: { ...options.retryOptions, maxRetries: 0, timeoutInMs } };
    const requestsBus = new ServiceBusClient(strings.requests, once);
    const repliesBus = new ServiceBusClient(strings.replies, once);
    try {
      await withDeadline('verifying the Listen key', deadlineMs, (abortSignal) =>
        requestsBus.createReceiver(queues.requestQueue).peekMessages(1, { abortSignal }),
      );
      await withDeadline('verifying the Send key', deadlineMs, (abortSignal) =>
        repliesBus.createSender(queues.repliesQueue).createMessageBatch({ abortSignal }),
      );
    } finally {
      void Promise.allSettled([requestsBus.close(), repliesBus.close()]);
    }
  }

  /**
   * Locks session `sessionId` of the request queue for this agent (peek-lock; the lease renews the
   * lock itself). Throws the SDK's error: SessionCannotBeLocked while another agent holds it.
   */
  async acceptSession(sessionId: string, deadlineMs: number): Promise<ServiceBusSessionReceiver> {
    let accepting: Promise<ServiceBusSessionReceiver> | undefined;
    try {
      return await withDeadline('accepting the request session', deadlineMs, (abortSignal) => {
        accepting = this.requestsBus.acceptSession(this.queues.requestQueue, sessionId, {
          receiveMode: 'peekLock',
          maxAutoLockRenewalDurationInMs: 0,
          // The header's expiresAt is an AMQP timestamp; by default the SDK turns Dates in application
          // properties into numbers, and the envelope's check (which wants the Date back) would refuse it.
          skipConvertingDate: true,
          abortSignal,
        });
        return accepting;
      });
    } catch (error) {
      // Accepted after the deadline: let go at once, or the lock would sit unused until it lapses.
      void accepting?.then((late) => late.close()).catch(() => undefined);
      throw error;
    }
  }

  /** Sends one message on the replies queue. */
  async send(message: ServiceBusMessage, deadlineMs: number): Promise<void> {
    const sending = withDeadline('sending on the replies queue', deadlineMs, (abortSignal) =>
      this.sender.sendMessages(message, { abortSignal }),
    );
    this.sending.add(sending);
    try {
      await sending;
    } finally {
      this.sending.delete(sending);
    }
  }

  /** Opens the replies link (nothing is sent): proves this generation reaches Service Bus. */
  async probe(deadlineMs: number): Promise<void> {
    await withDeadline('opening the replies link', deadlineMs, (abortSignal) =>
      this.sender.createMessageBatch({ abortSignal }),
    );
  }

  /** Resolves when the sends begun on this generation have finished, one way or the other. */
  async sendsSettled(): Promise<void> {
    while (this.sending.size > 0) await Promise.allSettled([...this.sending]);
  }

  /**
   * Closes sender and clients, waiting at most `deadlineMs`: a client whose peer hangs may never
   * finish closing, and is then left to its sockets' fate. Idempotent; never throws.
   */
  close(deadlineMs: number): Promise<void> {
    return (this.closing ??= withDeadline('closing a Service Bus connection', deadlineMs, async () => {
      await Promise.allSettled([this.sender.close()]);
      await Promise.allSettled([this.requestsBus.close(), this.repliesBus.close()]);
    }).catch(() => undefined));
  }
}
