/**
 * What the password-operation integration tests share: a pipeline with a typed in-memory directory,
 * users of their own (so that per-user rate limits at their defaults never interfere), a look at
 * every table and at the tenant's request queue through the official SDKs, and replies signed
 * through the Key Vault emulator and sent with the agent's own Send string (a scripted responder).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { TableServiceClient } from '@azure/data-tables';
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
    options?: { headers?: Record<string, string>; rawBody?: string; api?: string },
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
