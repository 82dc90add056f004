/**
 * What the password-operation integration tests share: a pipeline with a typed in-memory directory,
 * users of their own (so that per-user rate limits at their defaults never interfere), a look at
 * every table and at the tenant's request queue through the official SDKs, and replies signed
 * through the Key Vault emulator and sent with the agent's own Send string (a scripted responder).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { TableServiceClient } from '@azure/data-tables';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { ServiceBusClient, type ServiceBusReceivedMessage, type ServiceBusSender } from '@azure/service-bus';
import { DEMO_USER_PASSWORD, DEMO_USERS } from '../../../agent/demo-config.js';
import { DEMO_POLICY, InMemoryDirectory } from '../../../agent/directory/index.js';
import {
  signHeartbeat,
  signResult,
  signatureKeyName,
  type AgentState,
  type ReplySigner,
  type ResultReply,
} from '../../../shared/wire/index.js';
import type { CloudUnderTest } from '../../support/cloud.js';
import {
  eventually,
  startPipeline,
  type HttpAnswer,
  type PipelineOptions,
  type PipelineUnderTest,
} from '../../support/pipeline.js';

export { DEMO_USER_PASSWORD };

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface OperationsPipeline {
  p: PipelineUnderTest;
  directory: InMemoryDirectory;
  tenantId: string;
  /** Adds a user with DEMO_USER_PASSWORD to the directory; returns its UPN. */
  addUser(name: string, options?: { adminCount?: number; disabled?: boolean }): string;
  /** POST a password route of the pipeline's tenant (path after `/tenants/{t}/`). */
  post(
    path: string,
    token: string,
    body?: unknown,
    options?: { headers?: Record<string, string>; rawBody?: string | Uint8Array; api?: string },
  ): Promise<HttpAnswer>;
  /** GET …/operations/{id}, with ?waitSeconds when given. */
  getOperation(operationId: string, token: string, waitSeconds?: number): Promise<HttpAnswer>;
  userToken(upn: string, options?: { sid?: string }): Promise<string>;
  adminToken(): Promise<string>;
  stop(): Promise<void>;
}

/** A pipeline whose directory holds the demo users (docs/local-development.md), its agent online. */
export async function startOperationsPipeline(options: PipelineOptions = {}): Promise<OperationsPipeline> {
  const tenantId = options.tenantId ?? 'contoso';
  const directory = new InMemoryDirectory({
    users: DEMO_USERS.map((user) => ({
      ...user,
      userPrincipalName: user.userPrincipalName.replace('contoso.test', `${tenantId}.test`),
      password: DEMO_USER_PASSWORD,
    })),
    policy: DEMO_POLICY,
  });
  const p = await startPipeline({ ...options, directory });
  try {
    if (options.agent !== false) await waitForState(p, 'online');
  } catch (error) {
    await p.stop();
    throw error;
  }
  const base = `/tenants/${tenantId}`;
  return {
    p,
    directory,
    tenantId,
    addUser(name, o = {}) {
      const upn = `${name}@${tenantId}.test`;
      directory.addUser({ userPrincipalName: upn, password: DEMO_USER_PASSWORD, ...o });
      return upn;
    },
    post: (path, token, body, o = {}) =>
      p.call('POST', `${base}/${path}`, {
        token,
        ...(body !== undefined ? { body } : {}),
        ...(o.rawBody !== undefined ? { rawBody: o.rawBody } : {}),
        ...(o.headers ? { headers: o.headers } : {}),
        ...(o.api ? { api: o.api } : {}),
      }),
    getOperation: (operationId, token, waitSeconds) =>
      p.call(
        'GET',
        `${base}/operations/${operationId}${waitSeconds !== undefined ? `?waitSeconds=${waitSeconds}` : ''}`,
        { token },
      ),
    userToken: (upn, o = {}) => p.token({ user: upn, ...(o.sid ? { sid: o.sid } : {}) }),
    adminToken: () => p.token({ user: `admin@${tenantId}.test`, admin: true }),
    stop: () => p.stop(),
  };
}

/** Polls the status route until the tenant is in `state`. */
export async function waitForState(
  p: PipelineUnderTest,
  state: 'online' | 'offline' | 'disabled',
  tenantId: string = p.tenantId,
): Promise<Record<string, unknown>> {
  if (state === 'online' && tenantId === p.tenantId) {
    await p.untilOnline();
    return { state };
  }
  const token = await p.token({ tenant: tenantId, user: `alice@${tenantId}.test` });
  return eventually(
    async () => {
      const s = await p.call('GET', `/tenants/${tenantId}/writeback/status`, { token });
      return s.body.state === state ? s.body : undefined;
    },
    20_000,
    `tenant ${tenantId} ${state}`,
  );
}

/** Asserts an RFC 9457 problem of docs/api.md. */
export function assertProblem(
  answer: HttpAnswer,
  status: number,
  code: string,
  extra: { operationId?: boolean; reason?: string; retryAfter?: boolean; what?: string } = {},
): void {
  const why = `${extra.what ? `${extra.what}: ` : ''}${answer.status} ${answer.text}`;
  assert.equal(answer.status, status, why);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json/, why);
  assert.equal(answer.body.code, code, why);
  assert.equal(answer.body.status, status, why);
  assert.equal(answer.body.type, `urn:writeback:problem:${code}`, why);
  assert.equal(typeof answer.body.title, 'string', why);
  assert.equal(typeof answer.body.detail, 'string', why);
  if (extra.operationId) assert.match(String(answer.body.operationId), UUID, why);
  else assert.equal(answer.body.operationId, undefined, why);
  assert.equal(answer.body.reason, extra.reason, why);
  if (extra.retryAfter) assert.ok(Number(answer.headers.get('retry-after')) >= 1, why);
  if (status === 401) assert.equal(answer.headers.get('www-authenticate'), 'Bearer', why);
}

/** Every entity of the tenant's partition of `table` (operations, audit, …). */
export async function partitionRows(
  cloud: CloudUnderTest,
  table: string,
  partition: string,
): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  try {
    for await (const entity of cloud.table(table).listEntities<Record<string, unknown>>({
      queryOptions: { filter: `PartitionKey eq '${partition}'` },
    })) {
      rows.push(entity);
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return rows;
    throw error;
  }
  return rows;
}

/**
 * `partition/row` of every operation, index and idempotency row of the `operations` table (every
 * tenant), sorted. The rate limits' counters (`limit-…`) share the table and move with every admitted
 * attempt, a barrier's included; they are left out.
 */
export async function operationRowKeys(cloud: CloudUnderTest): Promise<string[]> {
  const keys: string[] = [];
  try {
    for await (const row of cloud.table('operations').listEntities({
      queryOptions: { select: ['PartitionKey', 'RowKey'] },
    })) {
      if (String(row.rowKey).startsWith('limit-')) continue;
      keys.push(`${row.partitionKey}/${row.rowKey}`);
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return keys;
    throw error;
  }
  return keys.sort();
}

/**
 * Runs requests that must be refused, then one that must succeed (the barrier): the agent receives
 * requests in queue order, so if a refused request had sent anything it would be received too. The
 * only new row in `operations` must be the barrier's, and the tenant's queue is left empty (a
 * scheduled or deferred message would stay there).
 */
export async function refusedWithoutEffect(
  o: OperationsPipeline,
  refusals: () => Promise<void>,
): Promise<void> {
  const before = await operationRowKeys(o.p.cloud);
  const logFrom = o.p.agentLogs().length;
  await refusals();
  const upn = o.addUser(`barrier-${randomUUID().slice(0, 8)}`);
  const barrier = await o.post('me/unlock', await o.userToken(upn));
  assert.equal(barrier.status, 200, barrier.text);
  const operationId = String(barrier.body.operationId);
  await eventually(
    async () => (receivedOperations(o.p, logFrom).includes(operationId) ? true : undefined),
    10_000,
    'the barrier received',
  );
  assert.deepEqual(receivedOperations(o.p, logFrom), [operationId]);
  assert.deepEqual(await operationRowKeys(o.p.cloud), [...before, `${o.tenantId}/${operationId}`].sort());
  // The barrier's own message may still be locked until the agent settles it.
  await eventually(
    async () => ((await peekQueue(o.p.cloud, `writeback-${o.tenantId}`)).length === 0 ? true : undefined),
    10_000,
    "the tenant's request queue empty",
  );
}

/** An Authorization header that every route requiring a token refuses with 401, and what the detail says. */
export interface RejectedAuthorization {
  what: string;
  /** The header's value; undefined: no header. */
  authorization: string | undefined;
  detail: RegExp;
}

/** Rejected Authorization headers: missing, wrong scheme, malformed, expired, forged, tampered, … */
export async function rejectedAuthorizations(p: PipelineUnderTest): Promise<RejectedAuthorization[]> {
  const valid = await p.token();
  const { privateKey } = await generateKeyPair('RS256');
  const forged = await new SignJWT(decodeJwt(valid))
    .setProtectedHeader(decodeProtectedHeader(valid) as { alg: string; kid?: string })
    .sign(privateKey);
  const [header, payload, signature] = valid.split('.');
  const claims = { ...decodeJwt(valid), roles: ['Writeback.Admin'] };
  const tampered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
  const bearer = (token: string) => `Bearer ${token}`;
  return [
    { what: 'no token', authorization: undefined, detail: /No bearer token/ },
    {
      what: 'expired',
      authorization: bearer(
        await p.token({ notBefore: new Date(Date.now() - 7_200_000), lifetimeSeconds: 600 }),
      ),
      detail: /expired/,
    },
    {
      what: 'not valid yet',
      authorization: bearer(await p.token({ notBefore: new Date(Date.now() + 3_600_000) })),
      detail: /not valid yet/,
    },
    {
      what: 'wrong audience',
      authorization: bearer(await p.token({ audience: 'api://another-app' })),
      detail: /another audience/,
    },
    {
      what: 'another issuer',
      authorization: bearer(
        await p.cloud.identity.mintToken({
          tenant: p.tenantId,
          upn: `alice@${p.tenantId}.test`,
          issuer: 'https://login.example.test/contoso/v2.0',
        }),
      ),
      detail: /another issuer/,
    },
    { what: 'forged', authorization: bearer(forged), detail: /signature/ },
    { what: 'tampered', authorization: bearer(tampered), detail: /signature/ },
    { what: 'alg none', authorization: bearer(unsigned), detail: /algorithm|malformed/ },
    { what: 'not a JWT', authorization: 'Bearer not-a-token', detail: /not a JWT/ },
    {
      what: 'Basic scheme',
      authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}`,
      detail: /Bearer scheme/,
    },
    { what: 'two tokens', authorization: `Bearer ${valid} ${valid}`, detail: /"Bearer <token>"/ },
  ];
}

/** Every entity of every table of the app's storage, with its table's name. */
export async function everyEntity(
  cloud: CloudUnderTest,
): Promise<{ table: string; entity: Record<string, unknown> }[]> {
  const service = TableServiceClient.fromConnectionString(cloud.azurite.connectionString, {
    allowInsecureConnection: true,
  });
  const all: { table: string; entity: Record<string, unknown> }[] = [];
  for await (const table of service.listTables()) {
    const name = table.name!;
    for await (const entity of cloud.table(name).listEntities<Record<string, unknown>>()) {
      all.push({ table: name, entity });
    }
  }
  return all;
}

/** The messages waiting on a queue, peeked (not received) with the namespace's root rule. */
export async function peekQueue(cloud: CloudUnderTest, queue: string): Promise<ServiceBusReceivedMessage[]> {
  const client = new ServiceBusClient(cloud.serviceBus.connectionString, {
    retryOptions: { maxRetries: 1, timeoutInMs: 10_000 },
  });
  try {
    const receiver = client.createReceiver(queue);
    const messages = await receiver.peekMessages(100);
    await receiver.close();
    return messages;
  } finally {
    await client.close();
  }
}

/** Signs with a tenant's `-sig` key through the Key Vault emulator (developer identity): genuine signatures. */
export async function vaultSigner(cloud: CloudUnderTest, tenantId: string): Promise<ReplySigner> {
  const name = signatureKeyName(tenantId);
  const key = await cloud.keyClient().getKey(name);
  const crypto = cloud.keyClient().getCryptographyClient(name, { keyVersion: key.properties.version! });
  return {
    kid: key.id!,
    sign: async (algorithm, digest) => Buffer.from((await crypto.sign(algorithm, digest)).result),
  };
}

/** Sends replies on a tenant's replies queue with the agent's Send-only connection string. */
export class ReplySender {
  private readonly client: ServiceBusClient;
  private readonly sender: ServiceBusSender;

  constructor(
    sendConnectionString: string,
    private readonly tenantId: string,
  ) {
    this.client = new ServiceBusClient(sendConnectionString, {
      retryOptions: { maxRetries: 1, timeoutInMs: 10_000 },
    });
    this.sender = this.client.createSender(`writeback-${tenantId}-replies`);
  }

  /** Sends a JWS as the agent does; returns the message id. */
  async send(jws: string, replyType: 'result' | 'heartbeat'): Promise<string> {
    const messageId = `test-${randomUUID()}`;
    await this.sender.sendMessages({
      body: jws,
      messageId,
      contentType: 'application/jose',
      applicationProperties: { replyType, tenantId: this.tenantId },
    });
    return messageId;
  }

  /** A heartbeat signed at `now` by a scripted agent. */
  async heartbeat(signer: ReplySigner, agentId: string, now: Date, state: AgentState = 'online') {
    const jws = await signHeartbeat(
      {
        tenantId: this.tenantId,
        agentId,
        agentVersion: '0.0.0-scripted',
        startedAt: new Date(now.getTime() - 1_000),
        now,
        policy: DEMO_POLICY,
        state,
      },
      signer,
    );
    return this.send(jws, 'heartbeat');
  }

  async result(signer: ReplySigner, result: ResultReply): Promise<string> {
    return this.send(await signResult(result, signer), 'result');
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** The agent's JSON log lines as objects. */
export function agentEvents(p: PipelineUnderTest, from = 0): Record<string, unknown>[] {
  return p
    .agentLogs()
    .slice(from)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The operation ids of the requests the agent has received since log line `from`. */
export function receivedOperations(p: PipelineUnderTest, from = 0): string[] {
  return agentEvents(p, from)
    .filter((e) => e.event === 'received')
    .map((e) => String(e.operationId));
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
