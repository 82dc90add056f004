/**
 * Service Bus queue (and topic subscription) triggers through @azure/service-bus, the way the Service
 * Bus extension runs them:
 * - peek-lock; complete when the function succeeds, abandon when it fails (the broker's max delivery
 *   count then dead-letters the message); with `autoCompleteMessages: false` the host settles nothing;
 * - the lock is renewed while the function runs, up to host.json
 *   `extensions.serviceBus.maxAutoLockRenewalDuration` (default 00:05:00);
 * - at most `maxConcurrentCalls` invocations per function at a time. `prefetchCount` has no counterpart
 *   in the JavaScript SDK (it grants link credit per concurrent call) and is ignored;
 * - the connection: binding `connection` names a setting (default `AzureWebJobsServiceBus`); `X` is a
 *   connection string, or `X__fullyQualifiedNamespace` a namespace reached with a credential (see
 *   shared/azure/clients.ts). `AzureWebJobsX` is tried when `X` is absent, as the host does;
 * - `%Setting%` in queueName/topicName/subscriptionName is resolved from settings;
 * - host.json `clientRetryOptions` (mode, tryTimeout, delay, maxDelay, maxRetries) set the client's
 *   retries, which also space the listener's attempts to reconnect after an outage.
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
import {
  RetryMode,
  type ServiceBusClient,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
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

interface Listener {
  sb: ServiceBusFunction;
  receiver: ServiceBusReceiver;
  close(): Promise<void>;
}

export class ServiceBusListeners {
  readonly #clients = new Map<string, ServiceBusClient>();
  readonly #listeners: Listener[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #stopping = false;

  constructor(
    readonly app: WorkerApp,
    readonly functions: ServiceBusFunction[],
    readonly options: HostJson['serviceBus'],
    readonly env: NodeJS.ProcessEnv,
    readonly logger: HostLogger,
  ) {}

  #client(connection: string): ServiceBusClient {
    let client = this.#clients.get(connection);
    if (!client) {
      try {
        const { mode, ...retry } = this.options.clientRetryOptions;
        client = serviceBusClientFromSettings(connection, this.env, {
          retryOptions: { ...retry, mode: mode === 'fixed' ? RetryMode.Fixed : RetryMode.Exponential },
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
      const client = this.#client(sb.connection);
      const receiverOptions = {
        receiveMode: 'peekLock' as const,
        maxAutoLockRenewalDurationInMs: this.options.maxAutoLockRenewalDurationMs,
        skipParsingBodyAsJson: true,
        skipConvertingDate: true,
      };
      const receiver = sb.subscriptionName
        ? client.createReceiver(sb.entityName, sb.subscriptionName, receiverOptions)
        : client.createReceiver(sb.entityName, receiverOptions);
      let lastError: string | undefined;
      const subscription = receiver.subscribe(
        {
          processMessage: (message) => this.#track(this.#process(sb, receiver, message)),
          processError: async (args) => {
            if (this.#stopping) return;
            // The SDK keeps retrying; say it once per distinct error rather than on every attempt.
            const text = `${args.errorSource}: ${args.error.message}`;
            if (lastError === text) return;
            lastError = text;
            this.logger.system(
              'warning',
              `Service Bus listener for '${sb.fn.metadata.name}' (${sb.entityName}): ${text}`,
            );
          },
        },
        // Settlement is ours: the SDK must not complete or abandon on its own.
        { autoCompleteMessages: false, maxConcurrentCalls: this.options.maxConcurrentCalls },
      );
      this.#listeners.push({
        sb,
        receiver,
        close: async () => {
          await subscription.close();
          await receiver.close();
        },
      });
    }
  }

  #track(work: Promise<void>): Promise<void> {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
    return work;
  }

  async #process(
    sb: ServiceBusFunction,
    receiver: ServiceBusReceiver,
    message: ServiceBusReceivedMessage,
  ): Promise<void> {
    if (this.#stopping) {
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
    this.#stopping = true;
    if (this.#inFlight.size > 0) {
      await Promise.race([
        Promise.allSettled([...this.#inFlight]),
        new Promise((r) => setTimeout(r, graceMs).unref()),
      ]);
    }
    // Closing waits for the links; against an unreachable namespace that can take the SDK's whole retry
    // schedule, so it is bounded too.
    const closing = (async () => {
      await Promise.allSettled(this.#listeners.map((l) => l.close()));
      await Promise.allSettled([...this.#clients.values()].map((c) => c.close()));
    })();
    await Promise.race([closing, new Promise((r) => setTimeout(r, CLOSE_TIMEOUT_MS).unref())]);
  }
}
