/**
 * Heartbeats end to end: the real app in the local host (replies function and status route) against
 * Azurite, both emulators and the identity provider, with the real agent (in-memory directory)
 * started from what `PUT …/writeback` returned. Forged replies are sent with the agent's own Send
 * string, as a compromised or buggy agent could.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TableClient } from '@azure/data-tables';
import { KeyClient } from '@azure/keyvault-keys';
import { ServiceBusClient, type ServiceBusSender } from '@azure/service-bus';
import { base64url, SignJWT } from 'jose';
import { AGENT_VERSION, startAgent, type RunningAgent } from '../../../agent/agent.js';
import { parseAgentConfig } from '../../../agent/config.js';
import { DEMO_POLICY, InMemoryDirectory } from '../../../agent/directory/index.js';
import { jsonLogger } from '../../../agent/log.js';
import { freePort } from '../../../local/process/ports.js';
import { DEV_IDENTITIES, SERVICE_TENANT } from '../../../local/stack/identities.js';
import { ProblemError } from '../../../shared/errors/index.js';
import { HeartbeatMonitor, HeartbeatStore, type WritebackStatus } from '../../../shared/heartbeats/index.js';
import { ReplyProcessor, SignatureKeys } from '../../../shared/replies/index.js';
import { TenantRegistry } from '../../../shared/tenants/index.js';
import {
  HEARTBEAT_TYPE,
  signHeartbeat,
  signResult,
  signatureKeyName,
  type HeartbeatReply,
  type ReplySigner,
} from '../../../shared/wire/index.js';
import { startCloud, type CloudUnderTest } from '../../support/cloud.js';

const ADMIN = 'Writeback.Admin';
const AGENT_ID = 'dc1-writeback';
const INTERVAL_MS = 2_000;

interface Enabled {
  signatureKeyId: string;
  agentConnectionStrings: { listen: string; send: string };
}

let cloud: CloudUnderTest;
let dir: string;
let contoso: Enabled;
let fabrikam: Enabled;
let agent: RunningAgent | undefined;
const agentLogs: string[] = [];
const clients: ServiceBusClient[] = [];
const senders = new Map<string, ServiceBusSender>();

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function enable(tenant: string): Promise<Enabled> {
  const response = await fetch(`${cloud.api}/tenants/${tenant}/writeback`, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${await cloud.identity.mintToken({ tenant, upn: `admin@${tenant}.test`, roles: [ADMIN] })}`,
    },
  });
  const text = await response.text();
  assert.equal(response.status, 201, text);
  return JSON.parse(text) as Enabled;
}

async function status(
  tenant: string,
  token?: string,
): Promise<{ status: number; body: WritebackStatus & { code?: string } }> {
  const bearer = token ?? (await cloud.identity.mintToken({ tenant, upn: `alice@${tenant}.test` }));
  const response = await fetch(`${cloud.api}/tenants/${tenant}/writeback/status`, {
    headers: { authorization: `Bearer ${bearer}` },
  });
  return { status: response.status, body: (await response.json()) as WritebackStatus & { code?: string } };
}

/** Polls the status route until `predicate` holds (the replies function runs asynchronously). */
async function statusUntil(
  tenant: string,
  predicate: (s: WritebackStatus) => boolean,
  timeoutMs = 20_000,
): Promise<WritebackStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await status(tenant);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    if (predicate(answer.body)) return answer.body;
    if (Date.now() > deadline) assert.fail(`status never matched: ${JSON.stringify(answer.body)}`);
    await delay(200);
  }
}

/** Sends a reply body as the agent does, with its Send-only string. */
async function sendReply(
  sendConnectionString: string,
  queue: string,
  body: string,
  tenantId: string,
): Promise<string> {
  let sender = senders.get(sendConnectionString);
  if (!sender) {
    const client = new ServiceBusClient(sendConnectionString, {
      retryOptions: { maxRetries: 1, timeoutInMs: 10_000 },
    });
    clients.push(client);
    sender = client.createSender(queue);
    senders.set(sendConnectionString, sender);
  }
  const messageId = `test-${randomUUID()}`;
  await sender.sendMessages({
    body,
    messageId,
    contentType: 'application/jose',
    applicationProperties: { replyType: 'heartbeat', tenantId },
  });
  return messageId;
}

/** Waits until the host's log has a line about `messageId` matching `pattern`. */
async function hostLogFor(messageId: string, pattern: RegExp): Promise<string> {
  const output = await cloud.host.waitForOutput(
    (text) => text.split('\n').some((line) => line.includes(messageId) && pattern.test(line)),
    20_000,
  );
  return output.split('\n').find((line) => line.includes(messageId) && pattern.test(line)) ?? '';
}

/** Signs through Key Vault with the developer identity (Crypto User on every key): a genuine signature. */
async function vaultSigner(tenant: string): Promise<ReplySigner> {
  const key = await cloud.keyClient().getKey(signatureKeyName(tenant));
  const crypto = cloud
    .keyClient()
    .getCryptographyClient(signatureKeyName(tenant), { keyVersion: key.properties.version! });
  return {
    kid: key.id!,
    sign: async (algorithm, digest) => Buffer.from((await crypto.sign(algorithm, digest)).result),
  };
}

function heartbeat(tenantId: string, agentId: string, now: Date, agentVersion = '9.9.9'): HeartbeatReply {
  return {
    tenantId,
    agentId,
    agentVersion,
    startedAt: new Date(now.getTime() - 60_000),
    now,
    policy: {
      minLength: 14,
      complexity: true,
      historyLength: 24,
      minimumAgeSeconds: 86_400,
      lockoutThreshold: 10,
    },
    state: 'online',
  };
}

function heartbeatClaims(tenantId: string, agentId: string, now = new Date()): Record<string, unknown> {
  const iat = Math.floor(now.getTime() / 1000);
  return {
    tenantId,
    agentId,
    agentVersion: '6.6.6',
    startedAt: now.toISOString(),
    now: now.toISOString(),
    policy: { minLength: 1, complexity: false, historyLength: 0, minimumAgeSeconds: 0, lockoutThreshold: 0 },
    state: 'online',
    iat,
    exp: iat + 600,
  };
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'heartbeat-test-'));
  cloud = await startCloud({
    env: { HEARTBEAT_INTERVAL: 'PT2S', WRITEBACK_KEY_PROTECTION: 'software' },
    sharedRepliesQueue: true,
  });
  contoso = await enable('contoso');
  fabrikam = await enable('fabrikam');
  // The operator's role assignment for the agent's own identity (enablement cannot grant it).
  for (const purpose of ['enc', 'sig']) {
    cloud.keyVault.assignRole({
      principalId: DEV_IDENTITIES.demoAgent.objectId,
      role: 'Key Vault Crypto User',
      scope: `/keys/writeback-contoso-${purpose}`,
    });
  }
  const config = parseAgentConfig(
    {
      tenantId: 'contoso',
      agentId: AGENT_ID,
      serviceBus: {
        requestsConnectionString: contoso.agentConnectionStrings.listen,
        repliesConnectionString: contoso.agentConnectionStrings.send,
      },
      keyVault: {
        url: cloud.keyVault.vaultUri,
        credential: {
          tenantId: SERVICE_TENANT,
          clientId: DEV_IDENTITIES.demoAgent.clientId,
          clientSecret: DEV_IDENTITIES.demoAgent.clientSecret,
          authorityHost: cloud.identity.url,
        },
        caCertificateFile: cloud.ca.caPath,
      },
      directory: { kind: 'memory', users: [] },
      heartbeatInterval: 'PT2S',
      stateDirectory: path.join(dir, 'state'),
      healthPort: 0,
      shutdownTimeout: 'PT5S',
    },
    dir,
    {},
  );
  agent = await startAgent(config, {
    directory: new InMemoryDirectory({
      users: [{ userPrincipalName: 'alice@contoso.test', password: 'Demo-Passw0rd-1' }],
      policy: DEMO_POLICY,
    }),
    logger: jsonLogger({ tenant: 'contoso' }, (line) => void agentLogs.push(line)),
    keyVaultClientOptions: { retryOptions: { maxRetries: 1 } },
  });
});

after(async () => {
  await agent?.stop();
  await Promise.allSettled(clients.map((c) => c.close()));
  await cloud?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('writeback status from the agent heartbeats', () => {
  test('the running agent makes the tenant online, with its id, version and directory policy', async () => {
    const online = await statusUntil('contoso', (s) => s.state === 'online');
    const [only, ...others] = online.agents;
    assert.equal(others.length, 0, JSON.stringify(online));
    assert.equal(only?.agentId, AGENT_ID);
    assert.equal(only?.version, AGENT_VERSION);
    assert.equal(only?.state, 'online');
    assert.equal(online.lastHeartbeatAt, only?.lastHeartbeatAt);
    assert.deepEqual(online.policy, DEMO_POLICY);
    // The row holds the signed time, the agent's key version and no secret.
    const row = await cloud.table('heartbeats').getEntity<Record<string, unknown>>('contoso', AGENT_ID);
    assert.equal(row.state, 'online');
    assert.equal(row.keyId, agent!.signingKeyId());
    assert.equal(row.minLength, DEMO_POLICY.minLength);
  });

  test('a tenant never enabled is disabled; a token of another tenant is 403, no token 401', async () => {
    const northwind = await status('northwind');
    assert.equal(northwind.status, 200);
    assert.deepEqual(northwind.body, { state: 'disabled', lastHeartbeatAt: null, agents: [] });
    const other = await status(
      'contoso',
      await cloud.identity.mintToken({ tenant: 'fabrikam', upn: 'eve@fabrikam.test' }),
    );
    assert.equal(other.status, 403);
    assert.equal(other.body.code, 'Forbidden');
    const none = await fetch(`${cloud.api}/tenants/contoso/writeback/status`);
    assert.equal(none.status, 401);
  });

  test("a heartbeat signed with another EC key under contoso's kid is dropped and logged", async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jws = await new SignJWT(heartbeatClaims('contoso', 'forger-1'))
      .setProtectedHeader({ alg: 'ES256', kid: contoso.signatureKeyId, typ: HEARTBEAT_TYPE })
      .sign(privateKey);
    const id = await sendReply(
      contoso.agentConnectionStrings.send,
      'writeback-contoso-replies',
      jws,
      'contoso',
    );
    assert.match(await hostLogFor(id, /Reply dropped \(badSignature\)/), /tenantId=contoso/);
  });

  test("a heartbeat for contoso signed with fabrikam's key (genuinely) is dropped as wrongTenant", async () => {
    const signer = await vaultSigner('fabrikam');
    // signHeartbeat refuses a foreign kid, so the JWS is assembled as the wire code does, around Key Vault.
    const header = base64url.encode(JSON.stringify({ alg: 'ES256', kid: signer.kid, typ: HEARTBEAT_TYPE }));
    const payload = base64url.encode(JSON.stringify(heartbeatClaims('contoso', 'forger-2')));
    const digest = createHash('sha256').update(`${header}.${payload}`).digest();
    const jws = `${header}.${payload}.${base64url.encode(await signer.sign('ES256', digest))}`;
    const id = await sendReply(
      contoso.agentConnectionStrings.send,
      'writeback-contoso-replies',
      jws,
      'contoso',
    );
    await hostLogFor(
      id,
      /Reply dropped \(wrongTenant\): .*a reply of tenant contoso signed with fabrikam's key/,
    );
  });

  test('an unsigned heartbeat, an expired one and a non-JWS body are dropped and logged', async () => {
    const unsigned = `${base64url.encode(JSON.stringify({ alg: 'none', kid: contoso.signatureKeyId, typ: HEARTBEAT_TYPE }))}.${base64url.encode(JSON.stringify(heartbeatClaims('contoso', 'forger-3')))}.`;
    const first = await sendReply(
      contoso.agentConnectionStrings.send,
      'writeback-contoso-replies',
      unsigned,
      'contoso',
    );
    await hostLogFor(first, /Reply dropped \(unsigned\)/);

    const old = new Date(Date.now() - 20 * 60_000);
    const expired = await signHeartbeat(
      heartbeat('contoso', 'forger-4', old),
      await vaultSigner('contoso'),
      60,
    );
    const second = await sendReply(
      contoso.agentConnectionStrings.send,
      'writeback-contoso-replies',
      expired,
      'contoso',
    );
    await hostLogFor(second, /Reply dropped \(expired\)/);

    const third = await sendReply(
      contoso.agentConnectionStrings.send,
      'writeback-contoso-replies',
      '{"hello":"world"}',
      'contoso',
    );
    await hostLogFor(third, /Reply dropped \(malformed\)/);

    // None of them reached the table, and the status still names only the real agent.
    const rows: unknown[] = [];
    for await (const row of cloud
      .table('heartbeats')
      .listEntities({ queryOptions: { filter: "PartitionKey eq 'contoso'" } }))
      rows.push(row);
    assert.deepEqual(
      rows.map((r) => (r as { rowKey: string }).rowKey),
      [AGENT_ID],
    );
    const now = await statusUntil('contoso', () => true);
    assert.equal(now.state, 'online');
    assert.deepEqual(
      now.agents.map((a) => a.agentId),
      [AGENT_ID],
    );
  });

  test('a genuine result for an operation the tenant does not have is dropped and logged', async () => {
    const operationId = randomUUID();
    const jws = await signResult(
      {
        tenantId: 'contoso',
        operationId,
        outcome: 'PasswordPolicy',
        reason: 'history',
        finishedAt: new Date(),
      },
      await vaultSigner('contoso'),
    );
    await sendReply(contoso.agentConnectionStrings.send, 'writeback-contoso-replies', jws, 'contoso');
    await cloud.host.waitForOutput(
      (text) =>
        text
          .split('\n')
          .some(
            (line) =>
              line.includes('Reply dropped (unknownOperation)') &&
              line.includes(`operation ${operationId}, outcome PasswordPolicy (history)`),
          ),
      20_000,
    );
  });

  test('an older heartbeat after a newer one is ignored', async () => {
    const signer = await vaultSigner('contoso');
    // Both already stale (older than 2 × 2 s + 1 min), so this second agent never makes contoso online.
    const newer = new Date(Date.now() - 2 * 60_000);
    const older = new Date(newer.getTime() - 30_000);
    const first = await sendReply(
      contoso.agentConnectionStrings.send,
      'writeback-contoso-replies',
      await signHeartbeat(heartbeat('contoso', 'dc2-writeback', newer, '2.0.0'), signer),
      'contoso',
    );
    await cloud.host.waitForOutput((text) => text.includes('agent dc2-writeback 2.0.0'), 20_000);
    const second = await sendReply(
      contoso.agentConnectionStrings.send,
      'writeback-contoso-replies',
      await signHeartbeat(heartbeat('contoso', 'dc2-writeback', older, '1.0.0'), signer),
      'contoso',
    );
    await cloud.host.waitForOutput(
      (text) => /Heartbeat ignored \(older than the stored one\): .*dc2-writeback 1\.0\.0/.test(text),
      20_000,
    );
    assert.ok(first && second);
    const row = await cloud
      .table('heartbeats')
      .getEntity<Record<string, unknown>>('contoso', 'dc2-writeback');
    assert.equal(row.agentVersion, '2.0.0');
    assert.equal(row.lastHeartbeatAt, newer.toISOString());
  });

  test('requireOnline: passes while an agent is fresh; WritebackOffline with Retry-After when none is', async () => {
    const monitor = new HeartbeatMonitor({
      store: new HeartbeatStore(cloud.table('heartbeats')),
      registry: new TenantRegistry(cloud.table('tenants')),
      heartbeatIntervalMs: INTERVAL_MS,
    });
    const online = await monitor.requireOnline('contoso');
    assert.equal(online.online, true);

    // fabrikam: no heartbeat at all, then only one signed 70 s ago (older than 2 × 2 s + 1 min).
    const offline = (error: unknown) => {
      assert.ok(error instanceof ProblemError);
      assert.equal(error.code, 'WritebackOffline');
      assert.equal(error.status, 503);
      assert.equal(error.extras.retryAfterSeconds, INTERVAL_MS / 1000);
      return true;
    };
    await assert.rejects(monitor.requireOnline('fabrikam'), offline);
    const stale = new Date(Date.now() - 70_000);
    await sendReply(
      fabrikam.agentConnectionStrings.send,
      'writeback-fabrikam-replies',
      await signHeartbeat(heartbeat('fabrikam', 'fab-dc1', stale), await vaultSigner('fabrikam')),
      'fabrikam',
    );
    const answer = await statusUntil('fabrikam', (s) => s.agents.length > 0);
    assert.equal(answer.state, 'offline');
    assert.deepEqual(
      answer.agents.map((a) => [a.agentId, a.state]),
      [['fab-dc1', 'stale']],
    );
    assert.equal(answer.policy, undefined);
    monitor.forget('fabrikam');
    await assert.rejects(monitor.requireOnline('fabrikam'), offline);
  });

  test('heartbeat rows are cached per instance for a few seconds', async () => {
    const table = cloud.table('heartbeats');
    const monitor = new HeartbeatMonitor({
      store: new HeartbeatStore(table),
      registry: new TenantRegistry(cloud.table('tenants')),
      heartbeatIntervalMs: INTERVAL_MS,
      cacheMs: 60_000,
    });
    await assert.rejects(monitor.requireOnline('tailspin'));
    // A fresh row written behind the monitor's back is not seen until the cache entry goes.
    await table.createEntity({
      partitionKey: 'tailspin',
      rowKey: 'ts-dc1',
      agentVersion: '1.0.0',
      startedAt: new Date().toISOString(),
      lastHeartbeatAt: new Date().toISOString(),
      state: 'online',
      minLength: 8,
      complexity: true,
      historyLength: 0,
      minimumAgeSeconds: 0,
      lockoutThreshold: 0,
      keyId: 'https://vault.example/keys/writeback-tailspin-sig/1',
      receivedAt: new Date().toISOString(),
    });
    await assert.rejects(monitor.requireOnline('tailspin'));
    monitor.forget('tailspin');
    assert.equal((await monitor.requireOnline('tailspin')).online, true);
  });

  test('transient faults throw (the host abandons and redelivers): Key Vault or Table storage unreachable', async () => {
    // Only heartbeats are handled here: a result reaching the operations would be a bug of this test.
    const heartbeatsOnly = {
      recordResult: () => Promise.reject(new Error('this test sends heartbeats only')),
    };
    const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
    const noAcknowledgements = {
      acknowledge: () => Promise.reject(new Error('this test sends heartbeats only')),
    };
    // Signed 2 minutes ago: valid, but stale, so this agent never makes contoso online.
    const signedAt = new Date(Date.now() - 2 * 60_000);
    const genuine = await signHeartbeat(
      heartbeat('contoso', 'dc3-writeback', signedAt),
      await vaultSigner('contoso'),
    );
    // Key Vault down: nothing listens on the vault's port.
    const deadVault = `https://127.0.0.1:${await freePort()}`;
    const noToken = {
      getToken: () => Promise.resolve({ token: 'unused', expiresOnTimestamp: Date.now() + 60_000 }),
    };
    const withoutVault = new ReplyProcessor({
      keys: new SignatureKeys(
        new KeyClient(deadVault, noToken, { retryOptions: { maxRetries: 0 } }),
        deadVault,
      ),
      registry: new TenantRegistry(cloud.table('tenants')),
      heartbeats: new HeartbeatStore(cloud.table('heartbeats')),
      operations: heartbeatsOnly,
      rollover: noAcknowledgements,
      graceMs: 60_000,
    });
    // The tenant's current signing version (only it, or one in grace, is ever looked up), in a dead vault.
    const current = (await new TenantRegistry(cloud.table('tenants')).get('contoso'))?.record.signatureKeyId;
    assert.ok(current);
    const kid = `${deadVault}/keys/writeback-contoso-sig/${current.split('/').pop()!}`;
    const forKid = await new SignJWT(heartbeatClaims('contoso', 'dc3-writeback'))
      .setProtectedHeader({ alg: 'ES256', kid, typ: HEARTBEAT_TYPE })
      .sign(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    await assert.rejects(withoutVault.handle(forKid, {}, quiet), /Key Vault could not provide/);
    // The vault of KEYVAULT_URI is up, but the kid names another vault: dropped, never fetched.
    assert.deepEqual(await withoutVault.handle(genuine, {}, quiet), {
      outcome: 'dropped',
      reason: 'unknownKey',
    });

    // Table storage down: a genuine heartbeat cannot be checked against its tenant or recorded.
    const deadTables = `http://127.0.0.1:${await freePort()}`;
    const connection = cloud.azurite.connectionString.replace(
      /TableEndpoint=[^;]+/,
      `TableEndpoint=${deadTables}/devstoreaccount1`,
    );
    const table = (name: string) =>
      TableClient.fromConnectionString(connection, name, {
        allowInsecureConnection: true,
        retryOptions: { maxRetries: 0 },
      });
    const withoutTables = new ReplyProcessor({
      keys: new SignatureKeys(cloud.keyClient(), cloud.keyVault.vaultUri),
      registry: new TenantRegistry(table('tenants')),
      heartbeats: new HeartbeatStore(table('heartbeats')),
      operations: heartbeatsOnly,
      rollover: noAcknowledgements,
      graceMs: 60_000,
    });
    await assert.rejects(withoutTables.handle(genuine, {}, quiet));
    // With both up, the same reply is recorded.
    const working = new ReplyProcessor({
      keys: new SignatureKeys(cloud.keyClient(), cloud.keyVault.vaultUri),
      registry: new TenantRegistry(cloud.table('tenants')),
      heartbeats: new HeartbeatStore(cloud.table('heartbeats')),
      operations: heartbeatsOnly,
      rollover: noAcknowledgements,
      graceMs: 60_000,
    });
    assert.deepEqual(await working.handle(genuine, {}, quiet), {
      outcome: 'recorded',
      kind: 'heartbeat',
      tenantId: 'contoso',
    });
  });

  test('stopping the agent gracefully makes the tenant offline at once (going-offline heartbeat)', async () => {
    await agent!.stop();
    agent = undefined;
    const offline = await statusUntil('contoso', (s) => s.state === 'offline', 15_000);
    const mine = offline.agents.find((a) => a.agentId === AGENT_ID);
    assert.equal(mine?.state, 'offline');
    assert.ok(
      offline.agents.every((a) => a.state !== 'online'),
      JSON.stringify(offline),
    );
    const row = await cloud.table('heartbeats').getEntity<Record<string, unknown>>('contoso', AGENT_ID);
    assert.equal(row.state, 'going-offline');
  });
});
