/**
 * The agent's signed heartbeats: at start, every `intervalMs`, at once when its role changes or its
 * connection was replaced, and a last `going-offline` one on a graceful stop. Each says whether the
 * agent is `online` (it holds the request session and applies requests) or on `standby`, and carries
 * the directory's password policy. One heartbeat at a time: a tick that finds one still under way
 * (a dependency slow to answer) makes the next go out right after it instead of piling up.
 *
 * Every step has a deadline and reports to the dependency health: reading the policy (the directory;
 * when it cannot be read the heartbeat is skipped, since the agent cannot apply anything: the cloud
 * then sees it offline), signing (Key Vault), sending (Service Bus, through the link, which replaces
 * a connection that keeps failing). A heartbeat that failed is tried again after a backoff (capped
 * below the interval), so that the cloud sees the agent again soon after a dependency is back.
 */
import type { DirectoryPolicy } from '../shared/domain/index.js';
import {
  DEFAULT_HEARTBEAT_LIFETIME_SECONDS,
  signHeartbeat,
  type AgentState,
  type ReplySigner,
} from '../shared/wire/index.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { withDeadline } from './deadline.js';
import type { DependencyHealth } from './dependency-health.js';
import type { DirectoryDriver } from './directory/index.js';
import { describeError, type AgentLogger } from './log.js';
import type { ServiceBusLink } from './service-bus-link.js';
import { signReply } from './worker.js';

export interface HeartbeatOptions {
  tenantId: string;
  agentId: string;
  agentVersion: string;
  startedAt: Date;
  intervalMs: number;
  directory: DirectoryDriver;
  signer: ReplySigner;
  /** Resolves once a lookup of the signing key under way has finished (KeyVersionWatch.settled). */
  signerReady: () => Promise<void>;
  link: ServiceBusLink;
  health: DependencyHealth;
  log: AgentLogger;
  /** The state a heartbeat sent now reports (from the request session's role). */
  state: () => Exclude<AgentState, 'going-offline'>;
  deadlines: { directoryMs: number; keyVaultMs: number };
  /** Spacing of the attempts after a failed heartbeat (never more than the interval). */
  retry: BackoffOptions;
  now?: () => Date;
}

export class Heartbeats {
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failuresInARow = 0;
  private sending: Promise<void> | undefined;
  private again = false;
  private lastAt: Date | undefined;
  private lastPolicy: DirectoryPolicy | undefined;
  private readonly now: () => Date;

  constructor(private readonly options: HeartbeatOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** When the last heartbeat went out. */
  get lastSentAt(): Date | undefined {
    return this.lastAt;
  }

  /** A heartbeat is being sent. */
  get busy(): Promise<void> | undefined {
    return this.sending;
  }

  /** Sends one now and then every interval. */
  async start(): Promise<void> {
    this.timer = setInterval(() => void this.soon(), this.options.intervalMs);
    await this.soon();
  }

  /**
   * Sends a heartbeat as soon as the one under way (if any) is done; nothing before start() or
   * after stop(). Never rejects.
   */
  soon(): Promise<void> {
    if (this.timer === undefined) return Promise.resolve();
    if (this.sending) {
      this.again = true;
      return this.sending;
    }
    const sending = (async () => {
      do {
        this.again = false;
        await this.sendSafely(this.options.state());
      } while (this.again && this.timer !== undefined);
    })().finally(() => {
      this.sending = undefined;
    });
    this.sending = sending;
    return sending;
  }

  /** Sends one heartbeat with `state` now and throws what failed (for tests and the health check). */
  async send(state: AgentState): Promise<void> {
    await this.sendOnce(state);
  }

  /** Stops the schedule and sends the last `going-offline` heartbeat (after the one under way). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    this.timer = undefined;
    await this.sending;
    await this.sendSafely('going-offline');
  }

  private async sendSafely(state: AgentState): Promise<void> {
    let sent: boolean;
    try {
      sent = await this.sendOnce(state);
    } catch (error) {
      this.options.log.warn('heartbeat failed', {
        event: 'heartbeatError',
        state,
        error: describeError(error),
      });
      sent = false;
    }
    clearTimeout(this.retryTimer);
    if (sent) {
      this.failuresInARow = 0;
    } else if (this.timer !== undefined && state !== 'going-offline') {
      const retryInMs = Math.min(
        backoffDelay(this.failuresInARow++, this.options.retry),
        this.options.intervalMs,
      );
      this.retryTimer = setTimeout(() => void this.soon(), retryInMs);
      this.retryTimer.unref();
    }
  }

  /** Sends one; false when it was skipped (the directory cannot be read). Throws what failed. */
  private async sendOnce(state: AgentState): Promise<boolean> {
    const { options } = this;
    const { directory, signer, health, log, deadlines } = options;
    let policy: DirectoryPolicy;
    try {
      policy = await withDeadline('reading the password policy', deadlines.directoryMs, () =>
        directory.readPolicy(),
      );
      health.ok('directory');
      this.lastPolicy = policy;
    } catch (error) {
      health.failed('directory', 'reading the password policy', error);
      if (state !== 'going-offline' || !this.lastPolicy) {
        log.warn('heartbeat skipped: the directory policy cannot be read', {
          event: 'heartbeatSkipped',
          since: health.report().directory.since,
          error: describeError(error),
        });
        return false;
      }
      policy = this.lastPolicy;
    }
    const lifetimeSeconds = Math.max(
      DEFAULT_HEARTBEAT_LIFETIME_SECONDS,
      Math.ceil((2 * options.intervalMs) / 1000) + 60,
    );
    const at = this.now();
    await options.signerReady();
    let jws: string;
    try {
      jws = await withDeadline('signing a heartbeat', deadlines.keyVaultMs, () =>
        signReply(signer, () =>
          signHeartbeat(
            {
              tenantId: options.tenantId,
              agentId: options.agentId,
              agentVersion: options.agentVersion,
              startedAt: options.startedAt,
              now: at,
              policy,
              state,
            },
            signer,
            lifetimeSeconds,
          ),
        ),
      );
      health.ok('keyVault');
    } catch (error) {
      health.failed('keyVault', 'signing a heartbeat', error);
      throw error;
    }
    await options.link.send(
      {
        body: jws,
        contentType: 'application/jose',
        timeToLive: lifetimeSeconds * 1000,
        applicationProperties: { replyType: 'heartbeat', tenantId: options.tenantId },
      },
      'sending a heartbeat',
    );
    this.lastAt = at;
    log.info('heartbeat sent', { event: 'heartbeat', state, kid: signer.kid });
    return true;
  }
}
