/**
 * The writeback agent as a library: `startAgent(config)` connects (outbound only) to the tenant's
 * queues and Key Vault, receives requests with bounded concurrency, sends heartbeats, serves a
 * local health endpoint, and `stop()` shuts down gracefully. The CLI (cli.ts) adds signals and
 * exit codes.
 *
 * A key rollover's control message (README, "Key rollover") is taken without a restart: the new SAS
 * keys are verified, stored where the configuration got them, and a new connection replaces the
 * current one (BusConnection) while the old one settles what it delivered; the acknowledgement goes
 * out on the new sender, signed with the signature key's latest version.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { ClientSecretCredential, type TokenCredential } from '@azure/identity';
import type { ServiceBusClientOptions } from '@azure/service-bus';
import {
  KeyVaultReplySigner,
  KeyVaultRequestCrypto,
  type VaultClientOptions,
} from '../shared/azure/index.js';
import type { DirectoryPolicy } from '../shared/domain/index.js';
import {
  DEFAULT_HEARTBEAT_LIFETIME_SECONDS,
  readRequestHeader,
  signCredentialsAck,
  signHeartbeat,
  type AgentState,
  type CredentialsRequest,
  type RequestHeader,
} from '../shared/wire/index.js';
import { BusConnection, withSharedAccessKey, type ReceiveHandlers } from './bus-connection.js';
import type { AgentConfig, ConnectionStringField } from './config.js';
import { CredentialsStore, type Persisted } from './credentials-store.js';
import { InMemoryDirectory, LdapDirectory, type DirectoryDriver } from './directory/index.js';
import { describeError, jsonLogger, type AgentLogger } from './log.js';
import { KeyVersionWatch } from './key-version-watch.js';
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
  /** How long a key rollover waits for the new receive link to attach (see BusConnection). Default 10 s. */
  linkAttachTimeoutMs?: number;
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
  /** When this process last took new SAS keys from a key rollover (null: not since it started). */
  credentialsRolledAt: string | null;
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

const FIELD_OF = { requests: 'requestsConnectionString', replies: 'repliesConnectionString' } as const;

/** What a log line may say about where a new connection string went (paths, never values). */
function describePersisted(p: Persisted): Record<string, unknown> {
  return p.to === 'stateDirectory'
    ? {
        field: `serviceBus.${p.field}`,
        to: p.to,
        path: p.path,
        reason: p.reason,
        ...(p.env ? { env: p.env } : {}),
        ...(p.configuredPath ? { configuredPath: p.configuredPath } : {}),
        ...(p.code ? { code: p.code } : {}),
      }
    : { field: `serviceBus.${p.field}`, to: p.to, path: p.path };
}

/** The operator's instruction when a new connection string could not go where the configuration reads it. */
function notPersistedMessage(p: Persisted & { to: 'stateDirectory' }): string {
  const field = `serviceBus.${p.field}`;
  const where =
    p.reason === 'environment'
      ? `it comes from environment variable ${p.env}, which the agent cannot rewrite`
      : p.reason === 'notInAFile'
        ? 'the configuration was not read from a file'
        : `${p.configuredPath} could not be written`;
  return (
    `key rollover: the new ${field} could not be stored where the configuration reads it (${where}); ` +
    `it is in ${p.path}. Before the next restart, ` +
    (p.env ? `set ${p.env} to the content of that file, or ` : '') +
    `point ${field} at { "file": "${p.path}" }; the old key stops working once the cloud retires it`
  );
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
    const keyWatch = new KeyVersionWatch({
      refresh: () => signer.refresh(),
      onError: (error) =>
        log.warn('signing key lookup failed', { event: 'signingKeyError', error: describeError(error) }),
    });

    step = 'connecting to Service Bus';
    const busOptions = deps.serviceBusClientOptions ?? {};
    const queues = { requestQueue: config.requestQueue, repliesQueue: config.repliesQueue };
    /** Every connection not yet closed: the current one, and a previous one still settling its messages. */
    const connections = new Set<BusConnection>();
    closers.push(async () => {
      const open = [...connections];
      connections.clear();
      const results = await Promise.allSettled(open.map((c) => c.close()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    });
    let current = BusConnection.create(
      { requests: config.requestsConnectionString, replies: config.repliesConnectionString },
      queues,
      busOptions,
    );
    connections.add(current);
    const inFlightCount = () => [...connections].reduce((n, c) => n + c.inFlight.size, 0);
    const store = new CredentialsStore(config.connectionStringSources, config.stateDirectory);

    let stopRequested = false;
    let credentialsRolledAt: Date | undefined;
    // A control message is handed over while the worker is built; the closure reaches the worker later.
    let onCredentials: (credentials: CredentialsRequest, header: RequestHeader) => Promise<void> = () =>
      Promise.reject(new Error('not started'));

    const worker = new RequestWorker({
      tenantId: config.tenantId,
      keyVault,
      signer,
      directory,
      record,
      replies: current.sender,
      log,
      now,
      onCredentials: (credentials, header) => onCredentials(credentials, header),
      signerReady: () => keyWatch.settled(),
      ...(deps.retryBackoffMs !== undefined ? { retryBackoffMs: deps.retryBackoffMs } : {}),
      ...(deps.maxRetryBackoffMs !== undefined ? { maxRetryBackoffMs: deps.maxRetryBackoffMs } : {}),
    });

    // ---- heartbeat ----
    let lastHeartbeatAt: Date | undefined;
    let lastPolicy: DirectoryPolicy | undefined;
    let directoryReachable = false;
    let heartbeatSending: Promise<void> | undefined;
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
      await keyWatch.settled();
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
      // Whichever sender is current when it goes out (a key rollover may have swapped it meanwhile).
      await current.sender.sendMessages({
        body: jws,
        contentType: 'application/jose',
        timeToLive: lifetimeSeconds * 1000,
        applicationProperties: { replyType: 'heartbeat', tenantId: config.tenantId },
      });
      lastHeartbeatAt = at;
      log.info('heartbeat sent', { event: 'heartbeat', state, kid: signer.kid });
    };
    const heartbeatSafely = (state: AgentState): Promise<void> => {
      const sending = sendHeartbeat(state).catch((error: unknown) =>
        log.warn('heartbeat failed', { event: 'heartbeatError', state, error: describeError(error) }),
      );
      heartbeatSending = sending;
      void sending.finally(() => {
        if (heartbeatSending === sending) heartbeatSending = undefined;
      });
      return sending;
    };

    // ---- receiving ----
    const receiveHandlers: ReceiveHandlers = {
      processMessage: (message, receiver) => {
        // A request sealed under an -enc version not seen yet: a key rollover happened, and it rolled
        // -sig too. Look the signing key up while this request is opened and applied.
        try {
          const header = readRequestHeader(message);
          if (header.tenantId === config.tenantId) keyWatch.saw(header.keyVersion);
        } catch {
          // The worker refuses it, and says why.
        }
        return worker.handle(message, receiver);
      },
      processError: async (args) => {
        log.warn('receiver error', {
          event: 'receiverError',
          errorSource: args.errorSource,
          error: describeError(args.error),
        });
      },
    };
    const attachTimeoutMs = deps.linkAttachTimeoutMs ?? 10_000;
    // At start the link attaches in the background; the SDK retries (and reports) until it does.
    void current.start(receiveHandlers, config.concurrency, attachTimeoutMs).catch(() => undefined);

    // ---- key rollover: new SAS keys in a control message ----
    const sendAck = async (header: RequestHeader): Promise<void> => {
      const jws = await signReply(signer, () =>
        signCredentialsAck(
          {
            tenantId: config.tenantId,
            rolloverId: header.operationId,
            agentId: config.agentId,
            acknowledgedAt: now(),
          },
          signer,
        ),
      );
      await current.sender.sendMessages({
        body: jws,
        messageId: randomUUID(),
        correlationId: header.operationId,
        contentType: 'application/jose',
        applicationProperties: { replyType: 'credentialsAck', tenantId: config.tenantId },
      });
      log.info('credentials acknowledged', {
        event: 'credentialsAcknowledged',
        rolloverId: header.operationId,
        kid: signer.kid,
      });
    };

    /** Closes a previous connection once the messages it delivered, and the sends begun on it, have settled. */
    const retire = async (previous: BusConnection, pending: Promise<unknown>[]): Promise<void> => {
      await Promise.allSettled(pending);
      await previous.drained();
      try {
        await previous.close();
      } catch (error) {
        log.warn('error while closing the previous connection', {
          event: 'closeError',
          error: describeError(error),
        });
      }
      connections.delete(previous);
      log.info('previous Service Bus connection closed', { event: 'credentialsRetired' });
    };

    const rollCredentials = async (credentials: CredentialsRequest, header: RequestHeader): Promise<void> => {
      const rolloverId = header.operationId;
      let strings: { requests: string; replies: string };
      try {
        strings = {
          requests: withSharedAccessKey(current.strings.requests, credentials.listenKey),
          replies: withSharedAccessKey(current.strings.replies, credentials.sendKey),
        };
      } catch (error) {
        log.warn('new credentials not taken: the agent keeps its connection', {
          event: 'credentialsRefused',
          rolloverId,
          step: 'building the new connection strings',
          error: describeError(error),
        });
        throw error;
      }
      const changed = (['requests', 'replies'] as const).filter((k) => strings[k] !== current.strings[k]);
      if (changed.length === 0) {
        // A redelivered or re-sent control message: this connection already uses these keys.
        log.info('credentials already in use', { event: 'credentialsUnchanged', rolloverId });
        await sendAck(header);
        return;
      }
      if (stopRequested) throw new Error('the agent is stopping');

      let next: BusConnection | undefined;
      let persisted: Persisted[];
      let link: string;
      let rollStep = 'verifying the new keys';
      try {
        await BusConnection.verify(strings, queues, busOptions);
        rollStep = 'storing the new connection strings';
        const values: Partial<Record<ConnectionStringField, string>> = {};
        for (const k of changed) values[FIELD_OF[k]] = strings[k];
        persisted = await store.save(values);
        if (stopRequested) throw new Error('the agent is stopping');
        rollStep = 'attaching the new receive link';
        next = BusConnection.create(strings, queues, busOptions);
        connections.add(next);
        link = await next.start(receiveHandlers, config.concurrency, attachTimeoutMs);
        if (stopRequested) throw new Error('the agent is stopping');
      } catch (error) {
        log.warn('new credentials not taken: the agent keeps its connection', {
          event: 'credentialsRefused',
          rolloverId,
          step: rollStep,
          error: describeError(error),
        });
        if (next) {
          await next.stopReceiving().catch(() => undefined);
          await next.drained();
          await next.close().catch(() => undefined);
          connections.delete(next);
        }
        throw error;
      }

      // Switch: replies and heartbeats go out on the new sender, the old receiver takes no more.
      const previous = current;
      current = next;
      worker.replies = next.sender;
      credentialsRolledAt = now();
      await previous.stopReceiving().catch(() => undefined);
      // What may still use the previous connection: the messages it delivered (this control message
      // among them: the worker completes it on that receiver after this returns), and replies or a
      // heartbeat that started sending on the previous sender before the switch.
      const pending: Promise<unknown>[] = [...connections].flatMap((c) => [...c.inFlight]);
      if (heartbeatSending) pending.push(heartbeatSending);
      void retire(previous, pending);

      for (const p of persisted) {
        if (p.to === 'stateDirectory') {
          log.warn(notPersistedMessage(p), {
            event: 'credentialsNotPersisted',
            rolloverId,
            ...describePersisted(p),
          });
        }
      }
      log.info('credentials rolled', {
        event: 'credentialsRolled',
        rolloverId,
        changed: changed.map((k) => `serviceBus.${FIELD_OF[k]}`),
        persisted: persisted.map(describePersisted),
        receiveLink: link,
      });
      // A rollover rotates -sig as well: sign the acknowledgement with the new version.
      await keyWatch.refresh();
      await sendAck(header);
    };
    // One rollover at a time: a second control message waits and then compares with what the first set up.
    let rolling: Promise<unknown> = Promise.resolve();
    onCredentials = (credentials, header) => {
      const run = rolling.then(() => rollCredentials(credentials, header));
      rolling = run.catch(() => undefined);
      return run;
    };

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
        inFlight: inFlightCount(),
        handled: worker.handledCount,
        credentialsRolledAt: credentialsRolledAt?.toISOString() ?? null,
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

    // A rollover that could not rewrite an environment variable: say so again at every start until
    // the operator has applied the new value.
    for (const p of await store.pending({
      requestsConnectionString: config.requestsConnectionString,
      repliesConnectionString: config.repliesConnectionString,
    })) {
      log.warn(
        `serviceBus.${p.field} comes from environment variable ${p.env}, but a key rollover left a newer ` +
          `value in ${p.path}: set ${p.env} to the content of that file, or point the configuration at it`,
        { event: 'credentialsPending', ...describePersisted(p) },
      );
    }

    await heartbeatSafely('online');
    const timer = setInterval(() => void heartbeatSafely('online'), config.heartbeatIntervalMs);

    let resolveStopped!: () => void;
    const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        stopRequested = true;
        log.info('agent stopping', { event: 'stopping', inFlight: inFlightCount() });
        clearInterval(timer);
        await Promise.allSettled([...connections].map((c) => c.stopReceiving()));
        worker.stop();
        const drained = Promise.allSettled([...connections].map((c) => c.drained())).then(() => true);
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
            inFlight: inFlightCount(),
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
