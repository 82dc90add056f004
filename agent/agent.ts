/**
 * The writeback agent as a library: `startAgent(config)` connects (outbound only) to the tenant's
 * queues and Key Vault, competes with the tenant's other agents for the request session (the one
 * holding it applies requests; the others stand by and take over when it stops or dies), sends
 * heartbeats, serves a local health endpoint, and `stop()` shuts down gracefully. The CLI (cli.ts)
 * adds signals and exit codes.
 *
 * It heals itself: every call to a dependency has a deadline, the outcome of each goes to the
 * dependency health (`/health` and the log say which dependency is failing, since when, and its
 * last error), and a Service Bus connection that keeps failing is replaced by a new one, tried
 * with capped exponential backoff and jitter (service-bus-link.ts). A key rollover's control
 * message is taken without a restart (credentials-rollover.ts).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { ClientSecretCredential, type TokenCredential } from '@azure/identity';
import type { ServiceBusClientOptions } from '@azure/service-bus';
import {
  KeyVaultReplySigner,
  KeyVaultRequestCrypto,
  type VaultClientOptions,
} from '../shared/azure/index.js';
import { agentSessionId, readRequestHeader, REQUEST_SESSION_ID } from '../shared/wire/index.js';
import type { AgentConfig } from './config.js';
import { CredentialsRollover } from './credentials-rollover.js';
import { CredentialsStore } from './credentials-store.js';
import { perTryTimeout, withDeadline } from './deadline.js';
import { DependencyHealth, type Dependency, type DependencyReport } from './dependency-health.js';
import { InMemoryDirectory, LdapDirectory, type DirectoryDriver } from './directory/index.js';
import { Heartbeats } from './heartbeats.js';
import { describeError, jsonLogger, type AgentLogger } from './log.js';
import { KeyVersionWatch } from './key-version-watch.js';
import { RecordSigning } from './record-signing.js';
import { RequestSession, type RequestSessionOptions, type SessionRole } from './request-session.js';
import { ServiceBusLink } from './service-bus-link.js';
import { RequestWorker } from './worker.js';

export const AGENT_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/** What a test or an embedding program may provide instead of what the configuration builds. */
export interface AgentDependencies {
  logger?: AgentLogger;
  /** Instead of the configuration's directory (the caller keeps ownership: it is not closed). */
  directory?: DirectoryDriver;
  /** Instead of a ClientSecretCredential from `keyVault.credential`. */
  credential?: TokenCredential;
  keyVaultClientOptions?: VaultClientOptions;
  serviceBusClientOptions?: ServiceBusClientOptions;
  /** Backoff before abandoning after a transient fault (see RequestWorker). */
  retryBackoffMs?: number;
  maxRetryBackoffMs?: number;
  /** How often the signature key's latest version is looked up. Default 1 hour. */
  signerRefreshIntervalMs?: number;
  /** Deadline of each call to Service Bus, Key Vault, the directory. Defaults 30 s, 30 s, 45 s. */
  serviceBusDeadlineMs?: number;
  keyVaultDeadlineMs?: number;
  directoryDeadlineMs?: number;
  /** Backoff of reconnection attempts: first delay and cap. Defaults 0.5 s and 30 s. */
  reconnectBackoffMs?: number;
  maxReconnectBackoffMs?: number;
  /** Failures in a row after which the Service Bus connection is replaced. Default 3. */
  rebuildAfterFailures?: number;
  /** How often a standby asks for the request session. Default 5 s. */
  standbyRetryMs?: number;
  /** How long a directory write may take from its "applying" record (see RequestWorker). Default 30 s. */
  applyWindowMs?: number;
  now?: () => Date;
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  /** `active`: holds the request session and applies requests; `standby`: another agent does. */
  role: SessionRole;
  roleSince: string;
  /** This agent's own session (key rollover control messages): `active` while it holds it. */
  agentSession: SessionRole;
  tenantId: string;
  agentId: string;
  version: string;
  startedAt: string;
  lastHeartbeatAt: string | null;
  directoryReachable: boolean;
  /** Service Bus, Key Vault and the directory, each `ok` or `degraded` since when, with its last error. */
  dependencies: Record<Dependency, DependencyReport>;
  /** The Service Bus connection's generation: 1, and one more each time it was replaced. */
  connectionGeneration: number;
  inFlight: number;
  handled: number;
  /** When this process last took new SAS keys from a key rollover (null: not since it started). */
  credentialsRolledAt: string | null;
}

export interface RunningAgent {
  /** http://127.0.0.1:<port>/health */
  healthUrl: string;
  health(): HealthReport;
  /** Sends a heartbeat now (also what the schedule does); throws what failed. */
  heartbeat(): Promise<void>;
  /** The signature key version replies are signed with. */
  signingKeyId(): string;
  /** Looks up the signature key's latest version now. */
  refreshSigningKey(): Promise<string>;
  /** Stops receiving, finishes operations in flight (bounded), says going-offline, closes. Idempotent. */
  stop(): Promise<void>;
  /** Resolves when the agent has stopped. */
  readonly stopped: Promise<void>;
}

function credentialOf(config: AgentConfig): TokenCredential {
  const { tenantId, clientId, clientSecret, authorityHost } = config.keyVault.credential;
  return new ClientSecretCredential(tenantId, clientId, clientSecret, {
    ...(authorityHost ? { authorityHost, disableInstanceDiscovery: true } : {}),
    ...(config.keyVault.caCertificate ? { tlsOptions: { ca: config.keyVault.caCertificate } } : {}),
  });
}

function directoryOf(config: AgentConfig, log: AgentLogger): DirectoryDriver {
  const d = config.directory;
  if (d.kind === 'memory') return new InMemoryDirectory({ users: d.users, policy: d.policy, logger: log });
  return new LdapDirectory({
    url: d.url,
    startTls: d.startTls,
    caCertificate: d.caCertificate,
    ...(d.tlsServerName ? { tlsServerName: d.tlsServerName } : {}),
    baseDn: d.baseDn,
    bindDn: d.bindDn,
    bindPassword: d.bindPassword,
    ...(d.poolSize ? { poolSize: d.poolSize } : {}),
    logger: log,
  });
}

/** Starts the agent. Throws (after releasing what it opened) when it cannot start. */
export async function startAgent(config: AgentConfig, deps: AgentDependencies = {}): Promise<RunningAgent> {
  const log = deps.logger ?? jsonLogger({ tenant: config.tenantId, agentId: config.agentId });
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const deadlines = {
    serviceBusMs: deps.serviceBusDeadlineMs ?? 30_000,
    keyVaultMs: deps.keyVaultDeadlineMs ?? 30_000,
    directoryMs: deps.directoryDeadlineMs ?? 45_000,
  };
  const reconnect = {
    initialMs: deps.reconnectBackoffMs ?? 500,
    maxMs: deps.maxReconnectBackoffMs ?? 30_000,
  };
  const closers: (() => Promise<unknown> | void)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (error) {
        log.warn('error while closing', { event: 'closeError', error: describeError(error) });
      }
    }
    closers.length = 0;
  };

  let step = 'building the Key Vault credential';
  try {
    const credential = deps.credential ?? credentialOf(config);
    const vaultOptions: VaultClientOptions = {
      ...(config.keyVault.caCertificate ? { tlsOptions: { ca: config.keyVault.caCertificate } } : {}),
      retryOptions: { maxRetries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4000 },
      // Each HTTP attempt ends in time even when the vault hangs; withDeadline bounds the whole call.
      additionalPolicies: [
        { policy: perTryTimeout(Math.min(10_000, deadlines.keyVaultMs)), position: 'perRetry' },
      ],
      ...deps.keyVaultClientOptions,
    };
    const health = new DependencyHealth(log, now);
    step = 'setting up the directory';
    const directory = deps.directory ?? directoryOf(config, log);
    if (!deps.directory) closers.push(() => directory.close());
    const keyVault = new KeyVaultRequestCrypto(config.keyVault.url, credential, vaultOptions);
    step = 'reading the signature key from Key Vault';
    const signer = await withDeadline(step, deadlines.keyVaultMs, () =>
      KeyVaultReplySigner.start(config.keyVault.url, config.tenantId, credential, vaultOptions, {
        refreshIntervalMs: deps.signerRefreshIntervalMs,
        onVersionChange: (kid) => log.info('signing key version changed', { event: 'signingKey', kid }),
        onRefreshError: (error) =>
          log.warn('signing key lookup failed', { event: 'signingKeyError', error: describeError(error) }),
      }),
    );
    closers.push(() => signer.close());
    const keyWatch = new KeyVersionWatch({
      refresh: () => withDeadline('looking up the signing key', deadlines.keyVaultMs, () => signer.refresh()),
      onError: (error) =>
        log.warn('signing key lookup failed', { event: 'signingKeyError', error: describeError(error) }),
    });

    step = 'setting up the Service Bus connection';
    const busOptions = deps.serviceBusClientOptions ?? {};
    const queues = { requestQueue: config.requestQueue, repliesQueue: config.repliesQueue };
    let stopRequested = false;
    // The session and the heartbeats are built after the link, which tells them about new connections.
    const later: { sessions?: RequestSession[]; heartbeats?: Heartbeats } = {};
    const link = new ServiceBusLink({
      strings: { requests: config.requestsConnectionString, replies: config.repliesConnectionString },
      queues,
      clientOptions: busOptions,
      log,
      health,
      deadlineMs: deadlines.serviceBusMs,
      rebuildAfterFailures: deps.rebuildAfterFailures ?? 3,
      reconnect,
      onReplaced: async () => {
        await Promise.all((later.sessions ?? []).map((session) => session.handOver()));
        void later.heartbeats?.soon();
      },
    });
    closers.push(() => link.close());

    const rollover = new CredentialsRollover({
      tenantId: config.tenantId,
      agentId: config.agentId,
      queues,
      clientOptions: busOptions,
      link,
      store: new CredentialsStore(config.connectionStringSources, config.stateDirectory),
      signer,
      keyWatch,
      log,
      deadlines,
      stopping: () => stopRequested,
      now,
    });

    const worker = new RequestWorker({
      tenantId: config.tenantId,
      agentId: config.agentId,
      keyVault,
      signer,
      directory,
      send: (message) => link.send(message, 'sending a reply'),
      health,
      log,
      now,
      onCredentials: (credentials, header) => rollover.take(credentials, header),
      signerReady: () => keyWatch.settled(),
      deadlines,
      applyWindowMs: deps.applyWindowMs ?? 30_000,
      ...(deps.retryBackoffMs !== undefined ? { retryBackoffMs: deps.retryBackoffMs } : {}),
      ...(deps.maxRetryBackoffMs !== undefined ? { maxRetryBackoffMs: deps.maxRetryBackoffMs } : {}),
    });

    const handle: RequestSessionOptions['handle'] = (message, lease) => {
      // A request sealed under an -enc version not seen yet: a key rollover happened, and it rolled
      // -sig too. Look the signing key up while this request is opened and applied.
      try {
        const header = readRequestHeader(message);
        if (header.tenantId === config.tenantId) keyWatch.saw(header.keyVersion);
      } catch {
        // The worker refuses it, and says why.
      }
      return worker.handle(message, lease);
    };
    const sessionOptions = {
      link,
      handle,
      concurrency: config.concurrency,
      lease: {
        deadlineMs: deadlines.serviceBusMs,
        seal: new RecordSigning(config.tenantId, signer, health, log, deadlines.keyVaultMs),
      },
      log,
      standbyRetryMs: deps.standbyRetryMs ?? 5_000,
      reconnect,
      drainMs: config.shutdownTimeoutMs,
    };
    const requestSession = new RequestSession({
      ...sessionOptions,
      kind: 'requests',
      sessionId: REQUEST_SESSION_ID,
      onRoleChange: () => void later.heartbeats?.soon(),
    });
    // Its own session: the key rollover's control messages for this agent, active or on standby.
    const agentSession = new RequestSession({
      ...sessionOptions,
      kind: 'agent',
      sessionId: agentSessionId(config.agentId),
    });
    later.sessions = [requestSession, agentSession];
    closers.push(() => Promise.all([requestSession.stop(), agentSession.stop()]));

    const beats = new Heartbeats({
      tenantId: config.tenantId,
      agentId: config.agentId,
      agentVersion: AGENT_VERSION,
      startedAt,
      intervalMs: config.heartbeatIntervalMs,
      directory,
      signer,
      signerReady: () => keyWatch.settled(),
      link,
      health,
      log,
      state: () => (requestSession.role === 'active' ? 'online' : 'standby'),
      deadlines,
      retry: reconnect,
      now,
    });
    later.heartbeats = beats;

    // ---- health ----
    const health_ = (): HealthReport => {
      const last = beats.lastSentAt;
      const fresh =
        last !== undefined && now().getTime() - last.getTime() <= 2 * config.heartbeatIntervalMs + 60_000;
      const role = requestSession.role;
      const dependencies = health.report();
      return {
        status:
          fresh && health.degraded.length === 0 && (role === 'active' || role === 'standby')
            ? 'ok'
            : 'degraded',
        role,
        roleSince: requestSession.since.toISOString(),
        agentSession: agentSession.role,
        tenantId: config.tenantId,
        agentId: config.agentId,
        version: AGENT_VERSION,
        startedAt: startedAt.toISOString(),
        lastHeartbeatAt: last?.toISOString() ?? null,
        directoryReachable: dependencies.directory.state === 'ok',
        dependencies,
        connectionGeneration: link.current.generation,
        inFlight: requestSession.inFlight,
        handled: worker.handledCount,
        credentialsRolledAt: rollover.lastRolledAt?.toISOString() ?? null,
      };
    };
    const server: Server = createServer((req, res) => {
      if (req.method === 'GET' && (req.url === '/health' || req.url?.startsWith('/health?'))) {
        const report = health_();
        res.writeHead(report.status === 'ok' ? 200 : 503, {
          'content-type': 'application/json',
          'cache-control': 'no-store',
        });
        res.end(JSON.stringify(report));
        return;
      }
      res.writeHead(404).end();
    });
    step = `listening for health checks on 127.0.0.1:${config.healthPort}`;
    server.listen(config.healthPort, '127.0.0.1');
    await once(server, 'listening');
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const address = server.address();
    const healthUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/health`;

    // A rollover that could not rewrite an environment variable: say so again at every start until
    // the operator has applied the new value.
    await rollover.remindPending(link.current.strings);

    // The first heartbeat says whether this agent is active or on standby: ask for the session first
    // (for 10 s at most: an unreachable Service Bus does not hold the start).
    requestSession.start();
    agentSession.start();
    await requestSession.decided(Math.min(deadlines.serviceBusMs, 10_000));
    await beats.start();

    let resolveStopped!: () => void;
    const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        stopRequested = true;
        log.info('agent stopping', { event: 'stopping', inFlight: requestSession.inFlight });
        worker.stop();
        const [drained] = await Promise.all([requestSession.stop(), agentSession.stop()]);
        if (!drained) {
          log.warn('operations still in flight at shutdown; the broker will redeliver them', {
            event: 'shutdownTimeout',
            inFlight: requestSession.inFlight,
          });
        }
        await beats.stop();
        await closeAll();
        log.info('agent stopped', { event: 'stopped' });
        resolveStopped();
      })());

    log.info('agent started', {
      event: 'started',
      version: AGENT_VERSION,
      healthUrl,
      requestQueue: config.requestQueue,
      role: requestSession.role,
      concurrency: config.concurrency,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      directory: config.directory.kind,
      kid: signer.kid,
    });

    return {
      healthUrl,
      health: health_,
      heartbeat: () => beats.send(requestSession.role === 'active' ? 'online' : 'standby'),
      signingKeyId: () => signer.kid,
      refreshSigningKey: () => signer.refresh(),
      stop,
      stopped,
    };
  } catch (error) {
    log.error('the agent could not start', { event: 'startFailed', step, error: describeError(error) });
    await closeAll();
    throw error;
  }
}
