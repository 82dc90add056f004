/**
 * Which of a tenant's agents applies requests: the one holding the request session's lock. This loop
 * asks for the session (acceptSession) and keeps it while it can:
 * - `active`: it holds the session, receives requests and renews the lock (session-lease.ts);
 * - `standby`: another agent holds it (SessionCannotBeLocked); it asks again every `standbyRetryMs`
 *   (with jitter), so it takes over within that of the other's process dying (the broker frees the
 *   session when the connection drops) and within the lock duration more when its machine went
 *   silent;
 * - `disconnected`: Service Bus did not answer; it asks again with capped exponential backoff, and
 *   tells the link (service-bus-link.ts), which replaces a connection that stays broken.
 * `handOver()` lets the session go and asks again on the link's current connection (a new
 * generation after a key rollover or an outage).
 *
 * The same loop keeps the agent's own session (`kind: 'agent'`, agentSessionId), where the cloud
 * sends each agent its key rollover control messages; nobody else asks for it, unless two agents
 * were given the same agent id, which is then said (`agentSessionContended`).
 */
import { isServiceBusError, type ServiceBusReceivedMessage } from '@azure/service-bus';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { pause } from './deadline.js';
import { describeError, type AgentLogger } from './log.js';
import { SessionLease, type LeaseOptions } from './session-lease.js';
import type { ServiceBusLink } from './service-bus-link.js';

export type SessionRole = 'starting' | 'active' | 'standby' | 'disconnected' | 'stopped';

/** How the log names a session and its events. */
const WORDING = {
  requests: {
    name: 'the request session',
    accepted: 'sessionAccepted',
    standby: 'standby',
    notAccepted: 'sessionNotAccepted',
    released: 'sessionReleased',
    lost: 'sessionLost',
  },
  agent: {
    name: "this agent's own session",
    accepted: 'agentSessionAccepted',
    standby: 'agentSessionContended',
    notAccepted: 'agentSessionNotAccepted',
    released: 'agentSessionReleased',
    lost: 'agentSessionLost',
  },
} as const;

export interface RequestSessionOptions {
  link: ServiceBusLink;
  /** `requests`: the tenant's request session; `agent`: this agent's own. */
  kind: 'requests' | 'agent';
  sessionId: string;
  handle: (message: ServiceBusReceivedMessage, lease: SessionLease) => Promise<void>;
  concurrency: number;
  lease: LeaseOptions;
  log: AgentLogger;
  /** How often a standby asks for the session (before jitter). */
  standbyRetryMs: number;
  reconnect: BackoffOptions;
  /** How long a hand-over or a stop waits for the messages in flight. */
  drainMs: number;
  onRoleChange?: (role: SessionRole) => void;
}

export class RequestSession {
  private currentRole: SessionRole = 'starting';
  private lease: SessionLease | undefined;
  private readonly stopping = new AbortController();
  private wake = new AbortController();
  private looping: Promise<void> | undefined;
  private stopped: Promise<boolean> | undefined;
  private drained = true;
  private roleSince = new Date();
  private resolveDecided!: () => void;
  private readonly firstDecision = new Promise<void>((resolve) => (this.resolveDecided = resolve));

  constructor(private readonly options: RequestSessionOptions) {}

  get role(): SessionRole {
    return this.currentRole;
  }

  /** When the current role began. */
  get since(): Date {
    return this.roleSince;
  }

  /** Messages in flight on the current lease. */
  get inFlight(): number {
    return this.lease?.inFlightCount ?? 0;
  }

  start(): void {
    this.looping ??= this.loop();
  }

  /**
   * Lets the session go (after the messages in flight, up to `drainMs`) and asks for it again on the
   * link's current connection. Resolves when the previous lease has ended.
   */
  async handOver(): Promise<void> {
    const lease = this.lease;
    this.wake.abort();
    await lease?.ended;
  }

  /** Resolves once the first request for the session was answered (or after `ms`). */
  async decided(ms: number): Promise<void> {
    await Promise.race([this.firstDecision, pause(ms)]);
  }

  /**
   * Stops asking, and lets the session go after the messages in flight (up to `drainMs`). Resolves
   * with whether they all finished. Idempotent.
   */
  stop(): Promise<boolean> {
    return (this.stopped ??= (async () => {
      this.stopping.abort();
      this.wake.abort();
      await this.looping;
      this.setRole('stopped');
      return this.drained;
    })());
  }

  private setRole(role: SessionRole): void {
    this.resolveDecided();
    if (role === this.currentRole) return;
    this.currentRole = role;
    this.roleSince = new Date();
    this.options.onRoleChange?.(role);
  }

  private async loop(): Promise<void> {
    const { link, log, sessionId } = this.options;
    const words = WORDING[this.options.kind];
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      if (this.wake.signal.aborted) this.wake = new AbortController();
      const connection = link.current;
      let lease: SessionLease;
      try {
        lease = await SessionLease.acquire(connection, sessionId, this.options.lease);
      } catch (error) {
        if (this.stopping.signal.aborted) break;
        if (isServiceBusError(error) && error.code === 'SessionCannotBeLocked') {
          failures = 0;
          link.reachable();
          if (this.currentRole !== 'standby') {
            const message =
              this.options.kind === 'requests'
                ? 'standby: another agent holds the request session'
                : "another process holds this agent's own session: do two agents have the same agent id?";
            log[this.options.kind === 'requests' ? 'info' : 'warn'](message, {
              event: words.standby,
              sessionId,
            });
          }
          this.setRole('standby');
          const retryInMs = backoffDelay(0, {
            initialMs: this.options.standbyRetryMs,
            maxMs: this.options.standbyRetryMs,
          });
          await pause(retryInMs, AbortSignal.any([this.stopping.signal, this.wake.signal]));
          continue;
        }
        link.failed('accepting the request session', error);
        const retryInMs = backoffDelay(failures++, this.options.reconnect);
        log.warn(`${words.name} could not be accepted`, {
          event: words.notAccepted,
          generation: connection.generation,
          attempt: failures,
          retryInMs,
          error: describeError(error),
        });
        this.setRole('disconnected');
        await pause(retryInMs, AbortSignal.any([this.stopping.signal, this.wake.signal, link.recovered]));
        continue;
      }
      failures = 0;
      link.reachable();
      if (this.stopping.signal.aborted) {
        await lease.release(0);
        break;
      }
      this.lease = lease;
      lease.start(this.options.handle, this.options.concurrency, (args) => {
        log.warn('receiver error', {
          event: 'receiverError',
          errorSource: args.errorSource,
          error: describeError(args.error),
        });
      });
      log.info(
        this.options.kind === 'requests'
          ? 'active: this agent holds the request session'
          : 'this agent holds its own session: key rollover control messages for it arrive there',
        {
          event: words.accepted,
          sessionId,
          generation: connection.generation,
          recordEntries: lease.record.size,
          recordBytes: lease.record.bytes,
          ...(lease.skippedEntries ? { skippedEntries: lease.skippedEntries } : {}),
        },
      );
      this.setRole('active');
      const stopOrWake = new Promise<'wake'>((resolve) => {
        const signal = AbortSignal.any([this.stopping.signal, this.wake.signal]);
        if (signal.aborted) resolve('wake');
        else signal.addEventListener('abort', () => resolve('wake'), { once: true });
      });
      const end = await Promise.race([lease.ended, stopOrWake]);
      if (end === 'wake') {
        this.drained = await lease.release(this.options.drainMs);
        log.info(`${words.name} was let go`, {
          event: words.released,
          reason: this.stopping.signal.aborted ? 'stopping' : 'new connection',
        });
      } else if (end.reason === 'lost') {
        log.warn(`${words.name} was lost`, {
          event: words.lost,
          step: end.step,
          ...(end.error ? { error: describeError(end.error) } : {}),
        });
        link.failed(end.step, end.error);
      }
      this.lease = undefined;
    }
  }
}
