/**
 * Service Bus queue (and topic subscription) triggers through @azure/service-bus, the way the Service
 * Bus extension runs them:
 * - peek-lock; complete when the function succeeds, abandon when it fails (the broker's max delivery
 *   count then dead-letters the message); with `autoCompleteMessages: false` the host settles nothing;
 * - the lock is renewed while the function runs, up to host.json
 *   `extensions.serviceBus.maxAutoLockRenewalDuration` (default 00:05:00);
 * - at most `maxConcurrentCalls` invocations per function at a time. `prefetchCount` has no counterpart
 *   in the JavaScript SDK (it grants link credit per concurrent call) and is ignored;
 * - `clientRetryOptions` (mode, maxRetries, delay, maxDelay, tryTimeout; the extension's defaults) are
 *   the client's retry options; a listener that loses its link reconnects with capped, jittered
 *   backoff from `delay` up to `maxDelay` (FunctionListener), without a restart of the host;
 * - past host.json `functionTimeout` the invocation is abandoned and so is the message (invoke.ts);
 * - the connection: binding `connection` names a setting (default `AzureWebJobsServiceBus`); `X` is a
 *   connection string, or `X__fullyQualifiedNamespace` a namespace reached with a credential (see
 *   shared/azure/clients.ts). `AzureWebJobsX` is tried when `X` is absent, as the host does;
 * - `%Setting%` in queueName/topicName/subscriptionName is resolved from settings.
 *
 * What the function receives, as from the real host to the Node.js worker:
 * - the body as a string (UTF-8), which the library turns into an object when it is JSON; with
 *   `dataType: 'binary'` the body's bytes, which the library turns into a Buffer;
 * - trigger metadata named as the extension's binding data (the library camel-cases the names):
 *   MessageId, DeliveryCount, EnqueuedTimeUtc/EnqueuedTime, ExpiresAtUtc/ExpiresAt, SequenceNumber,
 *   LockToken, ContentType, CorrelationId, Subject and Label, To, ReplyTo, SessionId, DeadLetterSource,
 *   ApplicationProperties and UserProperties, and `sys`. DeliveryCount is 1 on the first delivery, as
 *   the .NET client reports it (it adds one to the AMQP header's count; the JavaScript SDK does not).
 */
import { randomUUID } from 'node:crypto';
import type {
  MessageHandlers,
  ProcessErrorArgs,
  ServiceBusClient,
  ServiceBusReceivedMessage,
  ServiceBusReceiver,
} from '@azure/service-bus';
import { serviceBusClientFromSettings } from '../../shared/azure/clients.js';
import type { RegisteredFunction, WorkerApp } from './core-api.js';
import type { RpcBindingInfo, RpcTypedData } from './core-types.js';
import { HostStartError, type HostJson, resolveSettingExpressions } from './config.js';
import { invokeFunction, describeError } from './invoke.js';
import type { HostLogger } from './log.js';

export interface ServiceBusFunction {
  fn: RegisteredFunction;
  bindingName: string;
  connection: string;
  /** Queue name, or topic name when `subscriptionName` is set. */
  entityName: string;
  subscriptionName: string | undefined;
  binary: boolean;
}

export function isServiceBusTrigger(binding: RpcBindingInfo): boolean {
  return binding.direction === 'in' && String(binding.type).toLowerCase() === 'servicebustrigger';
}

function resolveConnectionName(name: string, env: NodeJS.ProcessEnv): string {
  const present = (n: string): boolean => Boolean(env[n] || env[`${n}__fullyQualifiedNamespace`]);
  if (!present(name) && present(`AzureWebJobs${name}`)) return `AzureWebJobs${name}`;
  return name;
}

export function buildServiceBusFunctions(
  functions: Iterable<RegisteredFunction>,
  env: NodeJS.ProcessEnv,
): ServiceBusFunction[] {
  const out: ServiceBusFunction[] = [];
  for (const fn of functions) {
    const trigger = Object.entries(fn.metadata.bindings).find(([, b]) => isServiceBusTrigger(b));
    if (!trigger) continue;
    const [bindingName, b] = trigger;
    const where = `Function '${fn.metadata.name}'`;
    if (b.isSessionsEnabled === true)
      throw new HostStartError(`${where}: session-enabled triggers are not supported by the local host`);
    if (b.cardinality === 'many')
      throw new HostStartError(`${where}: cardinality 'many' is not supported by the local host`);
    const text = (v: unknown): string | undefined =>
      typeof v === 'string' && v !== '' ? resolveSettingExpressions(v, env, where) : undefined;
    const queueName = text(b.queueName);
    const topicName = text(b.topicName);
    const subscriptionName = text(b.subscriptionName);
    const entityName = queueName ?? topicName;
    if (!entityName)
      throw new HostStartError(
        `${where}: the Service Bus trigger needs a queueName (or topicName and subscriptionName)`,
      );
    if (!queueName && !subscriptionName)
      throw new HostStartError(`${where}: a topic trigger needs a subscriptionName`);
    const connection = resolveConnectionName(
      typeof b.connection === 'string' && b.connection ? b.connection : 'AzureWebJobsServiceBus',
      env,
    );
    if (!env[connection] && !env[`${connection}__fullyQualifiedNamespace`]) {
      throw new HostStartError(
        `${where}: the Service Bus connection '${connection}' is not set; set ${connection} to a connection ` +
          `string or ${connection}__fullyQualifiedNamespace to a namespace`,
      );
    }
    out.push({
      fn,
      bindingName,
      connection,
      entityName,
      subscriptionName: queueName ? undefined : subscriptionName,
      binary: b.dataType === 'binary',
    });
  }
  return out;
}

function json(value: unknown): RpcTypedData {
  return { json: JSON.stringify(value) };
}

function numberLike(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value && typeof (value as { toNumber?: unknown }).toNumber === 'function') {
    return (value as { toNumber(): number }).toNumber();
  }
  return undefined;
}

/** The trigger input: a string, or bytes with dataType 'binary'. */
export function messageBody(message: ServiceBusReceivedMessage, binary: boolean): RpcTypedData {
  const body: unknown = message.body;
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
    return binary ? { bytes: body } : { string: Buffer.from(body).toString('utf8') };
  }
  if (typeof body === 'string') return binary ? { bytes: Buffer.from(body, 'utf8') } : { string: body };
  if (body === undefined || body === null) return binary ? { bytes: Buffer.alloc(0) } : { string: '' };
  const text = JSON.stringify(body);
  return binary ? { bytes: Buffer.from(text, 'utf8') } : { string: text };
}

export function messageTriggerMetadata(
  message: ServiceBusReceivedMessage,
  functionName: string,
): Record<string, RpcTypedData> {
  const meta: Record<string, RpcTypedData> = {};
  const str = (key: string, value: unknown): void => {
    if (typeof value === 'string') meta[key] = { string: value };
    else if (typeof value === 'number') meta[key] = { string: String(value) };
  };
  const date = (key: string, value: Date | undefined): void => {
    if (value instanceof Date && !Number.isNaN(value.getTime())) meta[key] = json(value.toISOString());
  };
  meta.DeliveryCount = { int: (message.deliveryCount ?? 0) + 1 };
  str('DeadLetterSource', message.deadLetterSource);
  str('LockToken', message.lockToken);
  date('ExpiresAtUtc', message.expiresAtUtc);
  date('ExpiresAt', message.expiresAtUtc);
  date('EnqueuedTimeUtc', message.enqueuedTimeUtc);
  date('EnqueuedTime', message.enqueuedTimeUtc);
  str('MessageId', message.messageId);
  str('ContentType', message.contentType);
  str('ReplyTo', message.replyTo);
  const sequence = numberLike(message.sequenceNumber);
  if (sequence !== undefined) meta.SequenceNumber = { int: sequence };
  str('To', message.to);
  str('Label', message.subject);
  str('Subject', message.subject);
  str('CorrelationId', message.correlationId);
  str('SessionId', message.sessionId);
  const props = message.applicationProperties ?? {};
  meta.ApplicationProperties = json(props);
  meta.UserProperties = json(props);
  meta.sys = json({ MethodName: functionName, UtcNow: new Date().toISOString(), RandGuid: randomUUID() });
  return meta;
}

/** Longest wait for the Service Bus links to close when the host stops. */
const CLOSE_TIMEOUT_MS = 3000;

/**
 * The wait before reconnecting attempt `attempt` (1, 2, …): exponential from `baseMs`, capped at `capMs`,
 * with "equal jitter" (a random half of it), so that listeners that lost the broker together do not
 * come back in step.
 */
export function reconnectDelayMs(attempt: number, baseMs: number, capMs: number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Settles within `ms` whatever `work` does (closing links on a dead connection can take the SDK's whole retry schedule). */
function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  return Promise.race([
    work.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => setTimeout(resolve, ms).unref()),
  ]);
}

/** One receiver and its subscription. A reconnect starts a new one; the old one closes once its messages are settled. */
interface Generation {
  receiver: ServiceBusReceiver;
  subscription: { close(): Promise<void> };
  /** Ends the SDK's own endless retry loop of this subscription. */
  abort: AbortController;
  inFlight: Set<Promise<void>>;
}

/**
 * The listener of one function. The SDK's subscription retries a lost link forever, but at a fixed
 * `retryDelayInMs` whatever the mode (@azure/service-bus 7.9: `retryForever` reads
 * `RetryMode.Exponential`, which is 0, as "no mode" and writes Fixed into the client's retry options).
 * So at its first receive error the listener ends that subscription and subscribes anew on a new
 * receiver after `reconnectDelayMs`, from clientRetryOptions `delay` up to `maxDelay`, until the link
 * is up again. The old receiver stays open until its messages are settled (through `$management` when
 * its link is gone).
 */
class FunctionListener {
  #current: Generation | undefined;
  readonly #retiring = new Set<Promise<void>>();
  /** Failed attempts since the link was last up, and when the first of them failed. */
  #attempt = 0;
  #failingSince = 0;
  #lastError: string | undefined;

  constructor(
    readonly sb: ServiceBusFunction,
    readonly client: ServiceBusClient,
    readonly owner: ServiceBusListeners,
  ) {}

  get #where(): string {
    return `Service Bus listener for '${this.sb.fn.metadata.name}' (${this.sb.entityName})`;
  }

  subscribe(): void {
    const { sb, client, owner } = this;
    const receiverOptions = {
      receiveMode: 'peekLock' as const,
      maxAutoLockRenewalDurationInMs: owner.options.maxAutoLockRenewalDurationMs,
      skipParsingBodyAsJson: true,
      skipConvertingDate: true,
    };
    const receiver = sb.subscriptionName
      ? client.createReceiver(sb.entityName, sb.subscriptionName, receiverOptions)
      : client.createReceiver(sb.entityName, receiverOptions);
    const generation: Generation = {
      receiver,
      abort: new AbortController(),
      inFlight: new Set(),
      subscription: { close: async () => undefined },
    };
    // `postInitialize` is not in the SDK's public types: 7.x calls it once the link is attached, before
    // giving credit (see agent/bus-connection.ts). Without it, the first message says the link is up.
    const handlers: MessageHandlers & { postInitialize(): Promise<void> } = {
      processMessage: (message) => {
        this.#linkUp();
        const work = owner.process(sb, receiver, message);
        generation.inFlight.add(work);
        void work.finally(() => generation.inFlight.delete(work));
        return owner.track(work);
      },
      processError: async (args) => this.#failed(generation, args),
      postInitialize: async () => this.#linkUp(),
    };
    generation.subscription = receiver.subscribe(handlers, {
      // Settlement is ours: the SDK must not complete or abandon on its own.
      autoCompleteMessages: false,
      maxConcurrentCalls: owner.options.maxConcurrentCalls,
      abortSignal: generation.abort.signal,
    });
    this.#current = generation;
  }

  #linkUp(): void {
    if (this.#attempt === 0) return;
    const seconds = ((Date.now() - this.#failingSince) / 1000).toFixed(1);
    this.owner.logger.system(
      'information',
      `${this.#where} is receiving again, ${seconds}s after the link was lost (${this.#attempt} reconnect attempt${this.#attempt === 1 ? '' : 's'}).`,
    );
    this.#attempt = 0;
    this.#lastError = undefined;
  }

  async #failed(generation: Generation, args: ProcessErrorArgs): Promise<void> {
    if (this.owner.stopping || generation.abort.signal.aborted) return;
    // The SDK keeps reporting while it retries; say it once per distinct error rather than on every attempt.
    const text = `${args.errorSource}: ${args.error.message}`;
    if (this.#lastError !== text) {
      this.#lastError = text;
      this.owner.logger.system('warning', `${this.#where}: ${text}`);
    }
    // Errors of one message (settling, lock renewal, the handler) leave the link as it is.
    // While a reconnect waits there is no current generation, so the old one's errors stop here.
    if (args.errorSource !== 'receive' || generation !== this.#current) return;
    if (this.#attempt === 0) this.#failingSince = Date.now();
    this.#attempt++;
    this.#current = undefined;
    this.#retire(generation);
    const { retryDelayInMs, maxRetryDelayInMs } = this.owner.options.retryOptions;
    const delay = reconnectDelayMs(this.#attempt, retryDelayInMs, maxRetryDelayInMs);
    this.owner.logger.system(
      'warning',
      `${this.#where}: reconnecting in ${delay} ms (attempt ${this.#attempt}).`,
    );
    await pause(delay, this.owner.stopSignal);
    if (!this.owner.stopping) this.subscribe();
  }

  /** Ends a generation's subscription now, and closes its receiver once its messages are settled. */
  #retire(generation: Generation): void {
    generation.abort.abort();
    const closing = (async () => {
      await bounded(generation.subscription.close(), CLOSE_TIMEOUT_MS);
      await Promise.allSettled([...generation.inFlight]);
      await bounded(generation.receiver.close(), CLOSE_TIMEOUT_MS);
    })();
    this.#retiring.add(closing);
    void closing.finally(() => this.#retiring.delete(closing));
  }

  /** Closes the current generation and waits for the retiring ones. */
  async close(): Promise<void> {
    if (this.#current) this.#retire(this.#current);
    await Promise.allSettled([...this.#retiring]);
  }
}

export class ServiceBusListeners {
  readonly #clients = new Map<string, ServiceBusClient>();
  readonly #listeners: FunctionListener[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #stop = new AbortController();

  constructor(
    readonly app: WorkerApp,
    readonly functions: ServiceBusFunction[],
    readonly options: HostJson['serviceBus'],
    readonly env: NodeJS.ProcessEnv,
    readonly logger: HostLogger,
    /** host.json functionTimeout: past it the message is abandoned, so the broker delivers it again. */
    readonly functionTimeoutMs: number | undefined,
  ) {}

  get stopping(): boolean {
    return this.#stop.signal.aborted;
  }

  get stopSignal(): AbortSignal {
    return this.#stop.signal;
  }

  #client(connection: string): ServiceBusClient {
    let client = this.#clients.get(connection);
    if (!client) {
      try {
        // A copy: the SDK writes into the object it is given (the mode, see FunctionListener).
        client = serviceBusClientFromSettings(connection, this.env, {
          retryOptions: { ...this.options.retryOptions },
        });
      } catch (err) {
        throw new HostStartError(`Service Bus connection '${connection}': ${(err as Error).message}`);
      }
      this.#clients.set(connection, client);
    }
    return client;
  }

  start(): void {
    for (const sb of this.functions) {
      const listener = new FunctionListener(sb, this.#client(sb.connection), this);
      listener.subscribe();
      this.#listeners.push(listener);
    }
  }

  track(work: Promise<void>): Promise<void> {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
    return work;
  }

  async process(
    sb: ServiceBusFunction,
    receiver: ServiceBusReceiver,
    message: ServiceBusReceivedMessage,
  ): Promise<void> {
    if (this.stopping) {
      // Delivered while stopping: hand it back at once rather than after the lock expires.
      await receiver.abandonMessage(message).catch(() => undefined);
      return;
    }
    const name = sb.fn.metadata.name;
    const result = await invokeFunction(
      this.app,
      sb.fn,
      {
        inputData: [{ name: sb.bindingName, data: messageBody(message, sb.binary) }],
        triggerMetadata: messageTriggerMetadata(message, name),
      },
      this.logger,
      this.functionTimeoutMs,
    );
    if (!this.options.autoCompleteMessages) return;
    try {
      if (result.succeeded) await receiver.completeMessage(message);
      else await receiver.abandonMessage(message);
    } catch (err) {
      this.logger.system(
        'warning',
        `Could not ${result.succeeded ? 'complete' : 'abandon'} message ${message.messageId ?? ''} for '${name}': ${describeError(err)}`,
      );
    }
  }

  /** Stops taking messages, waits up to `graceMs` for running invocations, then closes the links. */
  async stop(graceMs: number): Promise<void> {
    this.#stop.abort();
    if (this.#inFlight.size > 0) {
      await Promise.race([
        Promise.allSettled([...this.#inFlight]),
        new Promise((r) => setTimeout(r, graceMs).unref()),
      ]);
    }
    // Closing waits for the links; against an unreachable namespace that can take the SDK's whole retry
    // schedule, so it is bounded too.
    await bounded(
      (async () => {
        await Promise.allSettled(this.#listeners.map((l) => l.close()));
        await Promise.allSettled([...this.#clients.values()].map((c) => c.close()));
      })(),
      CLOSE_TIMEOUT_MS,
    );
  }
}
