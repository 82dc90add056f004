/**
 * Is a tenant's writeback agent alive? (docs/api.md, "Writeback status".) An agent is online while its last
 * heartbeat is fresher than 2 × HEARTBEAT_INTERVAL + 1 minute and said `online` (it holds the tenant's
 * request session, so it applies requests); a fresh `standby` heartbeat is a second agent ready to take
 * over, which alone does not make the tenant online; a tenant is online when one of its agents is.
 *
 * Heartbeat rows are cached per instance for a few seconds, so that a burst of password operations
 * reads the table once rather than once per request; the replies function of the same instance
 * forgets a tenant's entry when it records a heartbeat of that tenant.
 */
import { settings as loadedSettings, loadSettings, type Environment } from '../config/index.js';
import { ProblemError } from '../errors/index.js';
import type { DirectoryPolicy, Logger } from '../domain/index.js';
import { callDependency } from '../azure/index.js';
import { TenantRegistry } from '../tenants/index.js';
import { HeartbeatStore, type HeartbeatRecord } from './store.js';
import { rolloverPolicy, type RolloverPolicy } from '../tenants/index.js';
import { credentialsState, keysState, type RolloverState } from '../tenants/index.js';

/** How long heartbeat rows are reused in one instance. */
export const HEARTBEAT_CACHE_MS = 5_000;
/** Clock skew allowed between the agent (which signs `now`) and the cloud (which records `enabledAt`). */
const CLOCK_SKEW_MS = 2 * 60_000;
/** Longest Retry-After of WritebackOffline: an agent that comes back sends a heartbeat at once. */
const MAX_RETRY_AFTER_SECONDS = 60;

/**
 * `online`: fresh and active; `standby`: fresh and waiting to take over; `offline`: its last heartbeat
 * said going-offline; `stale`: silent too long.
 */
export type AgentStatusState = 'online' | 'standby' | 'offline' | 'stale';

export interface AgentStatus {
  agentId: string;
  version: string;
  lastHeartbeatAt: string;
  state: AgentStatusState;
}

export interface HeartbeatStatus {
  online: boolean;
  /** The newest heartbeat of any agent, or null when none was ever recorded. */
  lastHeartbeatAt: string | null;
  /** Newest first. */
  agents: AgentStatus[];
  /** The directory policy of the freshest online agent. */
  policy?: DirectoryPolicy;
}

/** What `GET …/writeback/status` answers. */
export interface WritebackStatus {
  state: 'online' | 'offline' | 'disabled';
  lastHeartbeatAt: string | null;
  agents: AgentStatus[];
  policy?: DirectoryPolicy;
  keys?: RolloverState;
  agentCredentials?: RolloverState;
}

export interface HeartbeatQuery {
  /**
   * When the tenant's current enablement completed (its `tenants` row's `enabledAt`): heartbeats
   * signed before it (less clock skew) come from an agent of an earlier enablement, whose
   * credentials were revoked, and are not counted.
   */
  enabledAt?: string;
}

export interface HeartbeatMonitorOptions {
  store: HeartbeatStore;
  registry: TenantRegistry;
  heartbeatIntervalMs: number;
  /** For the status's `keys` and `agentCredentials`; without it they are left out. */
  rollover?: RolloverPolicy;
  cacheMs?: number;
  now?: () => Date;
}

/** The pure rule: what a set of heartbeat rows says at `now`. */
export function summarize(
  rows: readonly HeartbeatRecord[],
  now: Date,
  heartbeatIntervalMs: number,
  query: HeartbeatQuery = {},
): HeartbeatStatus {
  const freshnessMs = 2 * heartbeatIntervalMs + 60_000;
  const enabledAt = query.enabledAt ? new Date(query.enabledAt).getTime() : -Infinity;
  // Of the current enablement only: signed after it (less the agent's possible clock skew), and
  // recorded after it by the cloud's own clock. The second rule matters just after a disable and
  // enable: a heartbeat of the revoked agent from a minute before is within the skew, but was
  // received before the new enablement, whose agent cannot have run before the enable answered.
  const relevant = rows
    .filter(
      (row) =>
        row.lastHeartbeatAt.getTime() >= enabledAt - CLOCK_SKEW_MS &&
        (row.receivedAt === undefined || row.receivedAt.getTime() >= enabledAt),
    )
    .sort((a, b) => b.lastHeartbeatAt.getTime() - a.lastHeartbeatAt.getTime());
  const stateOf = (row: HeartbeatRecord): AgentStatusState =>
    row.state === 'going-offline'
      ? 'offline'
      : now.getTime() - row.lastHeartbeatAt.getTime() > freshnessMs
        ? 'stale'
        : row.state;
  const agents = relevant.map((row) => ({
    agentId: row.agentId,
    version: row.agentVersion,
    lastHeartbeatAt: row.lastHeartbeatAt.toISOString(),
    state: stateOf(row),
  }));
  const freshest = relevant.find((row) => stateOf(row) === 'online');
  return {
    online: freshest !== undefined,
    lastHeartbeatAt: relevant[0]?.lastHeartbeatAt.toISOString() ?? null,
    agents,
    ...(freshest ? { policy: { ...freshest.policy } } : {}),
  };
}

export class HeartbeatMonitor {
  private readonly cache = new Map<string, { at: number; rows: Promise<HeartbeatRecord[]> }>();
  private readonly now: () => Date;
  private readonly cacheMs: number;

  constructor(private readonly options: HeartbeatMonitorOptions) {
    this.now = options.now ?? (() => new Date());
    this.cacheMs = options.cacheMs ?? HEARTBEAT_CACHE_MS;
  }

  static fromSettings(env: Environment = process.env): HeartbeatMonitor {
    const appSettings = env === process.env ? loadedSettings() : loadSettings(env);
    return new HeartbeatMonitor({
      store: HeartbeatStore.fromSettings(env),
      registry: TenantRegistry.fromSettings(env),
      heartbeatIntervalMs: appSettings.heartbeatIntervalMs,
      rollover: rolloverPolicy(appSettings),
    });
  }

  /** The tenant's agents as their heartbeats say (rows cached for a few seconds). Table faults: 503. */
  async heartbeatStatus(
    tenantId: string,
    query: HeartbeatQuery = {},
    log?: Logger,
  ): Promise<HeartbeatStatus> {
    const rows = await callDependency('Table storage', () => this.rows(tenantId), log);
    return summarize(rows, this.now(), this.options.heartbeatIntervalMs, query);
  }

  /**
   * For the password routes, after `requireEnabled`: the status if an agent is online, else 503
   * WritebackOffline with Retry-After.
   */
  async requireOnline(tenantId: string, query: HeartbeatQuery = {}, log?: Logger): Promise<HeartbeatStatus> {
    const status = await this.heartbeatStatus(tenantId, query, log);
    if (status.online) return status;
    const retryAfterSeconds = Math.min(
      MAX_RETRY_AFTER_SECONDS,
      Math.ceil(this.options.heartbeatIntervalMs / 1000),
    );
    const last = status.lastHeartbeatAt
      ? `its last heartbeat was at ${status.lastHeartbeatAt}`
      : 'it has never sent a heartbeat';
    throw new ProblemError(
      'WritebackOffline',
      `The writeback agent of tenant ${tenantId} is offline (${last}); the password cannot be changed now.`,
      { retryAfterSeconds },
    );
  }

  /** `GET …/writeback/status`: disabled unless the tenant is enabled; else online or offline. */
  async status(tenantId: string, log?: Logger): Promise<WritebackStatus> {
    const stored = await callDependency('Table storage', () => this.options.registry.get(tenantId), log);
    if (stored?.record.state !== 'enabled') return { state: 'disabled', lastHeartbeatAt: null, agents: [] };
    const query = stored.record.enabledAt ? { enabledAt: stored.record.enabledAt } : {};
    const { online, ...rest } = await this.heartbeatStatus(tenantId, query, log);
    const { rollover } = this.options;
    const now = this.now();
    return {
      state: online ? 'online' : 'offline',
      ...rest,
      ...(rollover
        ? {
            keys: keysState(stored.record, rollover, now),
            agentCredentials: credentialsState(stored.record, rollover, now),
          }
        : {}),
    };
  }

  /** Drops the cached rows of a tenant (the replies function of this instance just recorded one). */
  forget(tenantId: string): void {
    this.cache.delete(tenantId);
  }

  private rows(tenantId: string): Promise<HeartbeatRecord[]> {
    const at = Date.now();
    const cached = this.cache.get(tenantId);
    if (cached && at - cached.at < this.cacheMs) return cached.rows;
    // The promise is cached, so concurrent requests share one read; a failed read is not kept.
    const rows = this.options.store.list(tenantId);
    const entry = { at, rows };
    this.cache.set(tenantId, entry);
    rows.catch(() => {
      if (this.cache.get(tenantId) === entry) this.cache.delete(tenantId);
    });
    return rows;
  }
}

let instance: HeartbeatMonitor | undefined;

/** The process-wide monitor: one cache per instance. */
export function heartbeatMonitor(): HeartbeatMonitor {
  instance ??= HeartbeatMonitor.fromSettings();
  return instance;
}

/** The shared entry points for the password routes. */
export function heartbeatStatus(
  tenantId: string,
  query?: HeartbeatQuery,
  log?: Logger,
): Promise<HeartbeatStatus> {
  return heartbeatMonitor().heartbeatStatus(tenantId, query, log);
}

export function requireOnline(
  tenantId: string,
  query?: HeartbeatQuery,
  log?: Logger,
): Promise<HeartbeatStatus> {
  return heartbeatMonitor().requireOnline(tenantId, query, log);
}
