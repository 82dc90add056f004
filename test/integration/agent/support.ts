/**
 * The real parts an agent test needs, on free ports in a temporary folder: a local CA, the
 * development identity provider over HTTPS, the Key Vault emulator (keys on disk, so a restart
 * keeps them) and the Service Bus emulator. `provisionTenant` does what enabling a tenant does
 * (queues, Listen/Send rules, keys, the agent's identity and its role assignments), and the
 * tenant fixture plays the cloud: it seals requests with the public key, sends them, and reads
 * and verifies replies.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientSecretCredential } from '@azure/identity';
import { KeyClient } from '@azure/keyvault-keys';
import {
  ServiceBusAdministrationClient,
  ServiceBusClient,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
  type ServiceBusSender,
} from '@azure/service-bus';
import { ensureLocalCa, issueServerCertificate, type LocalCa } from '../../../local/certs/index.js';
import { startIdentityProvider, stableUuid, type IdentityProvider } from '../../../local/identity/index.js';
import { startKeyVaultEmulator, type KeyVaultEmulator } from '../../../local/keyvault/index.js';
import { startServiceBusEmulator, type ServiceBusEmulator } from '../../../local/servicebus/index.js';
import {
  encryptionKeyName,
  importEncryptionKey,
  importSignatureKey,
  repliesQueueName,
  REQUEST_SESSION_ID,
  requestQueueName,
  sealRequest,
  signatureKeyName,
  verifyReply,
  type CredentialsRequest,
  type SealedRequest,
  type VerifiedReply,
  type WritebackRequest,
} from '../../../shared/wire/index.js';
import type { SeedUser } from '../../../agent/directory/index.js';
import { AGENT_LISTEN_RULE, AGENT_SEND_RULE } from '../../../shared/tenants/queues.js';

/** The tenant of the service's own directory, whose tokens the vault accepts. */
export const SERVICE_TENANT = 'writeback';
const OFFICER = { clientId: 'test-officer', clientSecret: randomBytes(16).toString('hex') };

/** The demo users (docs/local-development.md), each with a password the tests know. */
export const DEMO_PASSWORD = 'Demo-Passw0rd-1';
export function demoUsers(domain = 'contoso.test'): SeedUser[] {
  return [
    { userPrincipalName: `alice@${domain}`, password: DEMO_PASSWORD },
    { userPrincipalName: `bob@${domain}`, password: DEMO_PASSWORD },
    { userPrincipalName: `admin@${domain}`, password: DEMO_PASSWORD },
    { userPrincipalName: `da@${domain}`, password: DEMO_PASSWORD, adminCount: 1 },
    { userPrincipalName: `gone@${domain}`, password: DEMO_PASSWORD, disabled: true },
  ];
}

export interface AgentStack {
  dir: string;
  ca: LocalCa;
  identity: IdentityProvider;
  keyVault: KeyVaultEmulator;
  bus: ServiceBusEmulator;
  admin: ServiceBusAdministrationClient;
  root: ServiceBusClient;
  officerKeys: KeyClient;
  /** A tenant's queues (the request queue a session queue, as enablement makes it), keys and agent identity. */
  provisionTenant(tenantId: string, options?: { lockDuration?: string }): Promise<TenantFixture>;
  stopKeyVault(): Promise<void>;
  startKeyVault(): Promise<void>;
  close(): Promise<void>;
}

/** The agent's two SAS keys, as a key rollover hands them over. */
export interface AgentKeys {
  listenKey: string;
  sendKey: string;
}

export interface TenantFixture {
  tenantId: string;
  requestQueue: string;
  repliesQueue: string;
  listenConnectionString: string;
  sendConnectionString: string;
  agentClientId: string;
  agentClientSecret: string;
  /** The configuration file's content for an agent of this tenant (in-memory directory). */
  configFile(stateDirectory: string, extra?: Record<string, unknown>): Record<string, unknown>;
  /** Seals a request (or a key rollover's control message) with the current (or given) version of the tenant's encryption key. */
  seal(
    payload: WritebackRequest | CredentialsRequest,
    options?: { operationId?: string; expiresAt?: Date; keyVersion?: string; tenantId?: string },
  ): Promise<SealedRequest>;
  /** Sends a sealed request into the tenant's request session (or `sessionId`), as the cloud does. */
  send(sealed: SealedRequest, timeToLiveMs?: number, sessionId?: string): Promise<void>;
  /** The next verified reply matching `match`, within `timeoutMs`. Others are kept for later calls. */
  reply(match: (reply: VerifiedReply) => boolean, timeoutMs?: number): Promise<VerifiedReply>;
  result(operationId: string, timeoutMs?: number): Promise<VerifiedReply & { kind: 'result' }>;
  /** Every reply received so far (verified), for "nothing else arrived" checks. */
  received(): VerifiedReply[];
  /** Waits `ms` collecting replies, then returns the results of `operationId`. */
  resultsAfter(operationId: string, ms: number): Promise<VerifiedReply[]>;
  /** The next dead-lettered request (at most one), waiting up to `maxWaitMs`. */
  deadLetters(maxWaitMs?: number): Promise<ServiceBusReceivedMessage[]>;
  /** Messages left on the request queue (peek). */
  pendingRequests(): Promise<number>;
  rotateEncryptionKey(): Promise<string>;
  rotateSignatureKey(): Promise<string>;
  /**
   * Regenerates one key of each of the agent's two SAS rules, as the cloud's rollover does, through
   * the administration client (getQueue, then updateQueue with the other key echoed unchanged).
   */
  regenerateAgentKeys(which: 'primaryKey' | 'secondaryKey'): Promise<AgentKeys>;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startAgentStack(): Promise<AgentStack> {
  const dir = await mkdtemp(join(tmpdir(), 'agent-test-'));
  const certsDir = join(dir, 'certs');
  const ca = await ensureLocalCa(certsDir);
  const { certPem, keyPem } = issueServerCertificate(ca, { hosts: ['127.0.0.1', 'localhost'] });
  const identity = await startIdentityProvider({ port: 0, tls: { cert: certPem, key: keyPem } });
  const officerId = stableUuid(`test/${OFFICER.clientId}`);
  identity.registerClient({ ...OFFICER, objectId: officerId });
  const keyVaultOptions = {
    port: 0,
    certsDir,
    dataDir: join(dir, 'keyvault'),
    issuer: identity.issuer(SERVICE_TENANT),
    roleAssignments: [{ principalId: officerId, role: 'Key Vault Crypto Officer', scope: '/' }],
    logError: () => undefined,
  };
  let keyVault = await startKeyVaultEmulator(keyVaultOptions);
  const bus = await startServiceBusEmulator({
    amqpPort: 0,
    managementPort: 0,
    certsDir,
    rootKey: randomBytes(32).toString('base64'),
  });
  const admin = new ServiceBusAdministrationClient(bus.connectionString, { tlsOptions: { ca: ca.caPem } });
  const root = new ServiceBusClient(bus.connectionString, {
    retryOptions: { maxRetries: 1, timeoutInMs: 10_000 },
  });
  const officerCredential = new ClientSecretCredential(
    SERVICE_TENANT,
    OFFICER.clientId,
    OFFICER.clientSecret,
    {
      authorityHost: identity.url,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: ca.caPem },
    },
  );
  const officerKeys = new KeyClient(keyVault.vaultUri, officerCredential, {
    tlsOptions: { ca: ca.caPem },
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 0 },
  });
  const receivers: ServiceBusReceiver[] = [];
  const subscriptions: { close(): Promise<void> }[] = [];
  let savedRoles: { principalId: string; role: string; scope: string }[] = [];
  const senders: ServiceBusSender[] = [];

  const provisionTenant = async (
    tenantId: string,
    options: { lockDuration?: string } = {},
  ): Promise<TenantFixture> => {
    const listenKey = randomBytes(32).toString('base64');
    const sendKey = randomBytes(32).toString('base64');
    const requests = requestQueueName(tenantId);
    const replies = repliesQueueName(tenantId);
    await admin.createQueue(replies, {
      authorizationRules: [
        {
          claimType: 'SharedAccessKey',
          keyName: AGENT_SEND_RULE,
          accessRights: ['Send'],
          primaryKey: sendKey,
        },
      ],
    });
    await admin.createQueue(requests, {
      lockDuration: options.lockDuration ?? 'PT30S',
      maxDeliveryCount: 10,
      requiresSession: true,
      authorizationRules: [
        {
          claimType: 'SharedAccessKey',
          keyName: AGENT_LISTEN_RULE,
          accessRights: ['Listen'],
          primaryKey: listenKey,
        },
      ],
    });
    const endpoint = `sb://${bus.host}:${bus.amqpPort}`;
    const listenConnectionString = `Endpoint=${endpoint};SharedAccessKeyName=${AGENT_LISTEN_RULE};SharedAccessKey=${listenKey};UseDevelopmentEmulator=true;EntityPath=${requests}`;
    const sendConnectionString = `Endpoint=${endpoint};SharedAccessKeyName=${AGENT_SEND_RULE};SharedAccessKey=${sendKey};UseDevelopmentEmulator=true;EntityPath=${replies}`;
    await officerKeys.createRsaKey(encryptionKeyName(tenantId), { keySize: 2048 });
    await officerKeys.createEcKey(signatureKeyName(tenantId), { curve: 'P-256' });

    const agentClientId = `agent-${tenantId}`;
    const agentClientSecret = randomBytes(16).toString('hex');
    const agentObjectId = stableUuid(`test/${agentClientId}`);
    identity.registerClient({
      clientId: agentClientId,
      clientSecret: agentClientSecret,
      objectId: agentObjectId,
    });
    for (const key of [encryptionKeyName(tenantId), signatureKeyName(tenantId)]) {
      keyVault.assignRole({
        principalId: agentObjectId,
        role: 'Key Vault Crypto User',
        scope: `/keys/${key}`,
      });
    }

    const sender = root.createSender(requests);
    senders.push(sender);
    const replyReceiver = root.createReceiver(replies, { receiveMode: 'receiveAndDelete' });
    receivers.push(replyReceiver);
    const signatureKeys = new Map<string, ReturnType<typeof importSignatureKey>>();
    const resolveKey = async (kid: string) => {
      let key = signatureKeys.get(kid);
      if (!key) {
        const version = kid.split('/').pop()!;
        key = importSignatureKey((await officerKeys.getKey(signatureKeyName(tenantId), { version })).key!);
        signatureKeys.set(kid, key);
      }
      return key;
    };
    const inbox: VerifiedReply[] = [];
    const all: VerifiedReply[] = [];
    const refused: unknown[] = [];
    const subscription = replyReceiver.subscribe(
      {
        processMessage: async (message) => {
          try {
            const verified = await verifyReply(message.body, resolveKey, { now: new Date() });
            inbox.push(verified);
            all.push(verified);
          } catch (error) {
            refused.push(error);
          }
        },
        processError: async () => undefined,
      },
      { maxConcurrentCalls: 1 },
    );
    subscriptions.push(subscription);
    const reply = async (match: (reply: VerifiedReply) => boolean, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (refused.length > 0) throw new Error(`a reply did not verify: ${String(refused[0])}`);
        const index = inbox.findIndex(match);
        if (index >= 0) return inbox.splice(index, 1)[0]!;
        if (Date.now() > deadline) throw new Error(`no matching reply within ${timeoutMs} ms`);
        await delay(10);
      }
    };

    const regenerate = async (queue: string, rule: string, which: 'primaryKey' | 'secondaryKey') => {
      const properties = await admin.getQueue(queue);
      const found = properties.authorizationRules?.find((r) => r.keyName === rule);
      if (!found) throw new Error(`queue ${queue} has no rule ${rule}`);
      const key = randomBytes(32).toString('base64');
      found[which] = key;
      await admin.updateQueue(properties);
      return key;
    };

    return {
      tenantId,
      requestQueue: requests,
      repliesQueue: replies,
      listenConnectionString,
      sendConnectionString,
      agentClientId,
      agentClientSecret,
      configFile: (stateDirectory, extra = {}) => ({
        tenantId,
        agentId: `test-agent-${tenantId}`,
        serviceBus: {
          requestsConnectionString: listenConnectionString,
          repliesConnectionString: sendConnectionString,
        },
        keyVault: {
          url: keyVault.vaultUri,
          credential: {
            tenantId: SERVICE_TENANT,
            clientId: agentClientId,
            clientSecret: agentClientSecret,
            authorityHost: identity.url,
          },
          caCertificateFile: ca.caPath,
        },
        directory: { kind: 'memory', users: demoUsers() },
        heartbeatInterval: 'PT1M',
        concurrency: 4,
        stateDirectory,
        healthPort: 0,
        shutdownTimeout: 'PT10S',
        ...extra,
      }),
      async seal(payload, options = {}) {
        const name = encryptionKeyName(options.tenantId ?? tenantId);
        const bundle = await officerKeys.getKey(
          name,
          options.keyVersion ? { version: options.keyVersion } : {},
        );
        return sealRequest(
          {
            header: {
              tenantId: options.tenantId ?? tenantId,
              operationId: options.operationId ?? randomUUID(),
              expiresAt: options.expiresAt ?? new Date(Date.now() + 5 * 60_000),
            },
            payload,
          },
          importEncryptionKey(bundle.key!),
        );
      },
      async send(sealed, timeToLiveMs = 5 * 60_000, sessionId = REQUEST_SESSION_ID) {
        await sender.sendMessages({
          sessionId,
          body: sealed.body,
          messageId: sealed.messageId,
          applicationProperties: sealed.applicationProperties,
          timeToLive: timeToLiveMs,
        });
      },
      reply,
      result: (operationId, timeoutMs) =>
        reply((r) => r.kind === 'result' && r.result.operationId === operationId, timeoutMs) as Promise<
          VerifiedReply & { kind: 'result' }
        >,
      received: () => [...all],
      async resultsAfter(operationId, ms) {
        await delay(ms);
        return all.filter((r) => r.kind === 'result' && r.result.operationId === operationId);
      },
      async deadLetters(maxWaitMs = 2000) {
        const dlq = root.createReceiver(requests, {
          subQueueType: 'deadLetter',
          receiveMode: 'receiveAndDelete',
        });
        try {
          return await dlq.receiveMessages(1, { maxWaitTimeInMs: maxWaitMs });
        } finally {
          await dlq.close();
        }
      },
      async pendingRequests() {
        const runtime = await admin.getQueueRuntimeProperties(requests);
        return runtime.activeMessageCount;
      },
      async rotateEncryptionKey() {
        const key = await officerKeys.rotateKey(encryptionKeyName(tenantId));
        return key.properties.version!;
      },
      async rotateSignatureKey() {
        const key = await officerKeys.rotateKey(signatureKeyName(tenantId));
        return key.properties.version!;
      },
      async regenerateAgentKeys(which) {
        return {
          listenKey: await regenerate(requests, AGENT_LISTEN_RULE, which),
          sendKey: await regenerate(replies, AGENT_SEND_RULE, which),
        };
      },
    };
  };

  return {
    dir,
    ca,
    identity,
    get keyVault() {
      return keyVault;
    },
    bus,
    admin,
    root,
    officerKeys,
    provisionTenant,
    async stopKeyVault() {
      savedRoles = keyVault.roleAssignments().map((r) => ({
        principalId: r.principalId,
        role: r.roleDefinitionName,
        scope: r.scope,
      }));
      await keyVault.close();
    },
    async startKeyVault() {
      keyVault = await startKeyVaultEmulator({
        ...keyVaultOptions,
        port: keyVault.port,
        roleAssignments: savedRoles,
      });
    },
    async close() {
      await Promise.allSettled(subscriptions.map((s) => s.close()));
      await Promise.allSettled([...receivers, ...senders].map((r) => r.close()));
      await root.close();
      await bus.close();
      await keyVault.close().catch(() => undefined);
      await identity.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Writes a configuration file into `dir` and returns its path. */
export async function writeConfig(
  dir: string,
  config: Record<string, unknown>,
  name = 'agent.json',
): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(config, null, 2), { mode: 0o600 });
  return path;
}

export { delay };
