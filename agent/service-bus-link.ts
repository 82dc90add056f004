/**
 * The agent's connection to its two queues, whichever generation (bus-connection.ts) is current, and
 * what keeps it working: every send has a deadline; the outcome of each call to Service Bus goes to
 * the dependency health; and when calls keep failing (`rebuildAfterFailures` in a row: sends,
 * session accepts and renewals), the connection is replaced by a new generation — a new client and
 * AMQP connection, what a restart did — once a probe through it succeeds, trying again with capped
 * exponential backoff and jitter until it does. The SDK recovers from short outages by itself, but
 * not always from long ones (issue #13: heartbeats failed for minutes after Service Bus was back,
 * while a new process connected at once), and a hung peer can hold its calls for as long as it hangs.
 *
 * A key rollover also replaces the generation (`replace`), with new connection strings. A replaced
 * generation is closed once `onReplaced` (which moves the request session) and the sends begun on it
 * have finished, with a deadline: a client whose peer hangs is left to its sockets.
 */
import type { ServiceBusClientOptions, ServiceBusMessage } from '@azure/service-bus';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { BusConnection, type ConnectionStrings, type Queues } from './bus-connection.js';
import { pause } from './deadline.js';
import type { DependencyHealth } from './dependency-health.js';
import { describeError, type AgentLogger } from './log.js';

export interface ServiceBusLinkOptions {
  strings: ConnectionStrings;
  queues: Queues;
  clientOptions: ServiceBusClientOptions;
  log: AgentLogger;
  health: DependencyHealth;
  /** Deadline of each call. */
  deadlineMs: number;
  /** Failures in a row after which the connection is replaced. */
  rebuildAfterFailures: number;
  reconnect: BackoffOptions;
  /**
   * Told when a new generation became current (the request session moves to it); the previous
   * generation closes once the returned promise and its sends have settled.
   */
  onReplaced?: (next: BusConnection, reason: 'outage' | 'credentials') => Promise<unknown>;
}

export class ServiceBusLink {
  private connection: BusConnection;
  private readonly open = new Set<BusConnection>();
  private failuresInARow = 0;
  private rebuilding: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  private recovery = new AbortController();

  constructor(private readonly options: ServiceBusLinkOptions) {
    this.connection = BusConnection.create(options.strings, options.queues, options.clientOptions, 1);
    this.open.add(this.connection);
  }

  get current(): BusConnection {
    return this.connection;
  }

  /** Whether a replacement is being tried. */
  get reconnecting(): boolean {
    return this.rebuilding !== undefined;
  }

  /** Sends on the replies queue through the current generation. */
  async send(message: ServiceBusMessage, step: string): Promise<void> {
    try {
      await this.connection.send(message, this.options.deadlineMs);
      this.reachable();
    } catch (error) {
      this.failed(step, error);
      throw error;
    }
  }

  /**
   * Aborts when a call to Service Bus is answered after failures: whoever waits out a backoff (the
   * sessions, a reconnection) tries again at once rather than up to the backoff's cap later.
   */
  get recovered(): AbortSignal {
    return this.recovery.signal;
  }

  /** A call to Service Bus was answered (even with a refusal such as SessionCannotBeLocked). */
  reachable(): void {
    const wasFailing = this.failuresInARow > 0 || !this.options.health.isOk('serviceBus');
    this.failuresInARow = 0;
    this.options.health.ok('serviceBus');
    if (wasFailing) {
      this.recovery.abort();
      this.recovery = new AbortController();
    }
  }

  /** A call to Service Bus failed; enough of them in a row replace the connection. */
  failed(step: string, error: unknown): void {
    this.failuresInARow++;
    this.options.health.failed('serviceBus', step, error);
    if (this.failuresInARow >= this.options.rebuildAfterFailures) void this.rebuild();
  }

  /** Makes `next` (already proven) the current generation, e.g. with a key rollover's new strings. */
  replace(next: BusConnection, reason: 'outage' | 'credentials'): void {
    const previous = this.connection;
    this.connection = next;
    this.open.add(next);
    this.failuresInARow = 0;
    void this.retire(previous, reason);
  }

  /** A new generation with `strings`, numbered after the current one; not yet current. */
  build(strings: ConnectionStrings = this.connection.strings): BusConnection {
    return BusConnection.create(
      strings,
      this.options.queues,
      this.options.clientOptions,
      this.connection.generation + 1,
    );
  }

  /** Replaces the connection once a new one answers; one attempt series at a time. */
  private rebuild(): Promise<void> {
    return (this.rebuilding ??= (async () => {
      const { log, health } = this.options;
      for (let attempt = 0; !this.stopping.signal.aborted; attempt++) {
        // Calls succeed again (the SDK recovered, or a rollover replaced the connection): done.
        if (attempt > 0 && this.failuresInARow === 0) return;
        const next = this.build();
        try {
          await next.probe(this.options.deadlineMs);
        } catch (error) {
          void next.close(this.options.deadlineMs);
          health.failed('serviceBus', 'connecting again', error);
          const retryInMs = backoffDelay(attempt, this.options.reconnect);
          log.warn('Service Bus: a new connection failed; trying again', {
            event: 'reconnecting',
            generation: next.generation,
            attempt: attempt + 1,
            retryInMs,
            since: health.report().serviceBus.since,
            error: describeError(error),
          });
          await pause(retryInMs, AbortSignal.any([this.stopping.signal, this.recovered]));
          continue;
        }
        if (this.stopping.signal.aborted) {
          void next.close(this.options.deadlineMs);
          return;
        }
        log.info('Service Bus: connected again on a new connection', {
          event: 'reconnected',
          generation: next.generation,
          attempts: attempt + 1,
          since: health.report().serviceBus.since,
        });
        this.replace(next, 'outage');
        this.reachable();
        return;
      }
    })().finally(() => {
      this.rebuilding = undefined;
    }));
  }

  private async retire(previous: BusConnection, reason: 'outage' | 'credentials'): Promise<void> {
    await Promise.allSettled([this.options.onReplaced?.(this.connection, reason)]);
    await Promise.race([previous.sendsSettled(), pause(this.options.deadlineMs)]);
    await previous.close(this.options.deadlineMs);
    this.open.delete(previous);
    this.options.log.info('previous Service Bus connection closed', {
      event: reason === 'credentials' ? 'credentialsRetired' : 'connectionRetired',
      generation: previous.generation,
      reason,
    });
  }

  /** Stops reconnecting and closes every generation (each within the deadline). */
  async close(): Promise<void> {
    this.stopping.abort();
    await this.rebuilding;
    await Promise.allSettled([...this.open].map((c) => c.close(this.options.deadlineMs)));
    this.open.clear();
  }
}
