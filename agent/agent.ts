/**
 * The writeback agent as a library: `startAgent(config)` connects (outbound only) to the tenant's
 * queues and Key Vault, receives requests with bounded concurrency, sends heartbeats, serves a
 * local health endpoint, and `stop()` shuts down gracefully. The CLI (cli.ts) adds signals and
 * exit codes.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { ClientSecretCredential, type TokenCredential } from '@azure/identity';
import {
  ServiceBusClient,
  type ServiceBusClientOptions,
  type ServiceBusReceiver,
  type ServiceBusSender,
} from '@azure/service-bus';
import {
  KeyVaultReplySigner,
  KeyVaultRequestCrypto,
  type VaultClientOptions,
} from '../shared/azure/key-vault-crypto.js';
import type { DirectoryPolicy } from '../shared/operations/types.js';
import { DEFAULT_HEARTBEAT_LIFETIME_SECONDS, signHeartbeat, type AgentState } from '../shared/wire/index.js';
import type { AgentConfig } from './config.js';
import { InMemoryDirectory, LdapDirectory, type DirectoryDriver } from './directory/index.js';
import { describeError, jsonLogger, type AgentLogger } from './log.js';
import { OperationRecord } from './operation-record.js';
import { RequestWorker, signReply } from './worker.js';

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
  now?: () => Date;
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  tenantId: string;
  agentId: string;
  version: string;
  startedAt: string;
  lastHeartbeatAt: string | null;
  directoryReachable: boolean;
  inFlight: number;
  handled: number;
}

export interface RunningAgent {
  /** http://127.0.0.1:<port>/health */
  healthUrl: string;
  health(): HealthReport;
  /** Sends a heartbeat now (also what the schedule does). */
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
      ...deps.keyVaultClientOptions,
    };
    step = 'opening the operation record in the state directory';
    const record = await OperationRecord.open(config.stateDirectory);
    closers.push(() => record.close());
    step = 'setting up the directory';
    const directory = deps.directory ?? directoryOf(config, log);
    if (!deps.directory) closers.push(() => directory.close());
    const keyVault = new KeyVaultRequestCrypto(config.keyVault.url, credential, vaultOptions);
    step = 'reading the signature key from Key Vault';
    const signer = await KeyVaultReplySigner.start(
      config.keyVault.url,
      config.tenantId,
      credential,
      vaultOptions,
      {
        refreshIntervalMs: deps.signerRefreshIntervalMs,
        onVersionChange: (kid) => log.info('signing key version changed', { event: 'signingKey', kid }),
        onRefreshError: (error) =>
          log.warn('signing key lookup failed', { event: 'signingKeyError', error: describeError(error) }),
      },
    );
    closers.push(() => signer.close());

    step = 'connecting to Service Bus';
    const busOptions = deps.serviceBusClientOptions ?? {};
    const requestsBus = new ServiceBusClient(config.requestsConnectionString, busOptions);
    closers.push(() => requestsBus.close());
    const repliesBus = new ServiceBusClient(config.repliesConnectionString, busOptions);
    closers.push(() => repliesBus.close());
    const replies: ServiceBusSender = repliesBus.createSender(config.repliesQueue);
    closers.push(() => replies.close());

    const worker = new RequestWorker({
      tenantId: config.tenantId,
      keyVault,
      signer,
      directory,
      record,
      replies,
      log,
      now,
      ...(deps.retryBackoffMs !== undefined ? { retryBackoffMs: deps.retryBackoffMs } : {}),
      ...(deps.maxRetryBackoffMs !== undefined ? { maxRetryBackoffMs: deps.maxRetryBackoffMs } : {}),
    });

    // ---- heartbeat ----
    let lastHeartbeatAt: Date | undefined;
    let lastPolicy: DirectoryPolicy | undefined;
    let directoryReachable = false;
    const sendHeartbeat = async (state: AgentState): Promise<void> => {
      let policy: DirectoryPolicy;
      try {
        policy = await directory.readPolicy();
        directoryReachable = true;
        lastPolicy = policy;
      } catch (error) {
        directoryReachable = false;
        if (state === 'online' || !lastPolicy) {
          log.warn('heartbeat skipped: the directory policy cannot be read', {
            event: 'heartbeatSkipped',
            error: describeError(error),
          });
          return;
        }
        policy = lastPolicy;
      }
      const lifetimeSeconds = Math.max(
        DEFAULT_HEARTBEAT_LIFETIME_SECONDS,
        Math.ceil((2 * config.heartbeatIntervalMs) / 1000) + 60,
      );
      const at = now();
      const jws = await signReply(signer, () =>
        signHeartbeat(
          {
            tenantId: config.tenantId,
            agentId: config.agentId,
            agentVersion: AGENT_VERSION,
            startedAt,
            now: at,
            policy,
            state,
          },
          signer,
          lifetimeSeconds,
        ),
      );
      await replies.sendMessages({
        body: jws,
        contentType: 'application/jose',
        timeToLive: lifetimeSeconds * 1000,
        applicationProperties: { replyType: 'heartbeat', tenantId: config.tenantId },
      });
      lastHeartbeatAt = at;
      log.info('heartbeat sent', { event: 'heartbeat', state, kid: signer.kid });
    };
    const heartbeatSafely = (state: AgentState) =>
      sendHeartbeat(state).catch((error: unknown) =>
        log.warn('heartbeat failed', { event: 'heartbeatError', state, error: describeError(error) }),
      );

    // ---- receiving ----
    const receiver: ServiceBusReceiver = requestsBus.createReceiver(config.requestQueue, {
      receiveMode: 'peekLock',
      maxAutoLockRenewalDurationInMs: 5 * 60_000,
      // The header's expiresAt is an AMQP timestamp; by default the SDK turns Dates in application
      // properties into numbers, and the envelope's check (which wants the Date back) would refuse it.
      skipConvertingDate: true,
    });
    closers.push(() => receiver.close());
    const inFlight = new Set<Promise<void>>();
    const subscription = receiver.subscribe(
      {
        processMessage: async (message) => {
          const work = worker.handle(message, receiver);
          inFlight.add(work);
          try {
            await work;
          } finally {
            inFlight.delete(work);
          }
        },
        processError: async (args) => {
          log.warn('receiver error', {
            event: 'receiverError',
            errorSource: args.errorSource,
            error: describeError(args.error),
          });
        },
      },
      { autoCompleteMessages: false, maxConcurrentCalls: config.concurrency },
    );
    closers.push(() => subscription.close());

    // ---- health ----
    const health = (): HealthReport => {
      const fresh =
        lastHeartbeatAt !== undefined &&
        now().getTime() - lastHeartbeatAt.getTime() <= 2 * config.heartbeatIntervalMs + 60_000;
      return {
        status: fresh && directoryReachable ? 'ok' : 'degraded',
        tenantId: config.tenantId,
        agentId: config.agentId,
        version: AGENT_VERSION,
        startedAt: startedAt.toISOString(),
        lastHeartbeatAt: lastHeartbeatAt?.toISOString() ?? null,
        directoryReachable,
        inFlight: inFlight.size,
        handled: worker.handledCount,
      };
    };
    const server: Server = createServer((req, res) => {
      if (req.method === 'GET' && (req.url === '/health' || req.url?.startsWith('/health?'))) {
        const report = health();
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

    await heartbeatSafely('online');
    const timer = setInterval(() => void heartbeatSafely('online'), config.heartbeatIntervalMs);

    let resolveStopped!: () => void;
    const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        log.info('agent stopping', { event: 'stopping', inFlight: inFlight.size });
        clearInterval(timer);
        await subscription.close().catch(() => undefined);
        worker.stop();
        const drained = Promise.allSettled([...inFlight]).then(() => true);
        let timeout: NodeJS.Timeout | undefined;
        const finished = await Promise.race([
          drained,
          new Promise<boolean>(
            (resolve) => (timeout = setTimeout(() => resolve(false), config.shutdownTimeoutMs)),
          ),
        ]);
        clearTimeout(timeout);
        if (!finished) {
          log.warn('operations still in flight at shutdown; the broker will redeliver them', {
            event: 'shutdownTimeout',
            inFlight: inFlight.size,
          });
        }
        await heartbeatSafely('going-offline');
        await closeAll();
        log.info('agent stopped', { event: 'stopped' });
        resolveStopped();
      })());

    log.info('agent started', {
      event: 'started',
      version: AGENT_VERSION,
      healthUrl,
      requestQueue: config.requestQueue,
      concurrency: config.concurrency,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      directory: config.directory.kind,
      kid: signer.kid,
    });

    return {
      healthUrl,
      health,
      heartbeat: () => sendHeartbeat('online'),
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
